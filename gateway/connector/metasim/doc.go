// Package metasim plays Meta's business messaging APIs for tests, demos
// and merchants who have no Meta account yet.
package metasim
