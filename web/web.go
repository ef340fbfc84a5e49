// Package web embeds the server-rendered pages (html/template) that
// browsers see: the hosted login, error pages, form_post responses and the
// account page. Pages work without JavaScript and load nothing from other
// origins.
package web

import (
	"embed"
	"html/template"
)

//go:embed templates/*.html
var files embed.FS

// Templates parses every page template with the shared layout.
func Templates() *template.Template {
	return template.Must(template.New("").ParseFS(files, "templates/*.html"))
}
