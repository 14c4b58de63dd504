package gateway

import "embed"

// webFiles is the web client, served at /.
//
//go:embed web
var webFiles embed.FS
