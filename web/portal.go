package web

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

//go:embed portal/*.html portal/static/*
var portalFiles embed.FS

var portalFuncs = template.FuncMap{
	"lines": func(v []string) string { return strings.Join(v, "\n") },
	"join":  strings.Join,
	"cp": func(id, label, value string) map[string]string {
		return map[string]string{"ID": id, "Label": label, "Value": value}
	},
	"words": domain.DescribeSeconds,
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}

// PortalPages parses the admin portal's pages, each with the shared
// layout, keyed by page name (the file name without .html).
func PortalPages() map[string]*template.Template {
	names, err := fs.Glob(portalFiles, "portal/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "portal/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.New(name).Funcs(portalFuncs).ParseFS(portalFiles, "portal/layout.html", n))
	}
	return out
}

// PortalStatic serves the portal's stylesheet and its small script (copy
// buttons; every page works without it).
func PortalStatic() http.Handler {
	sub, err := fs.Sub(portalFiles, "portal/static")
	if err != nil {
		panic(err)
	}
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
