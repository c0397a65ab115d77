// Package web holds the dashboard: its sources (src/, built with Vite) and
// the built files in dist/, which are committed and embedded here so the
// control plane serves the dashboard without Node.js installed. The HTTP
// side (cache headers, client-route fallback, CSP) is internal/web.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built dashboard, rooted at dist/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil { // only for an invalid path, and "dist" is valid
		panic(err)
	}
	return sub
}
