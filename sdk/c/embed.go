// Package csdk carries the sources of the C SDK (include/passerelle.h and
// src/passerelle.c, see README.md) so that `passerelle app build` can build
// a C mini-app in any directory, with no checkout of this repository.
package csdk

import "embed"

// Files holds include/passerelle.h and src/passerelle.c.
//
//go:embed include/passerelle.h src/passerelle.c
var Files embed.FS
