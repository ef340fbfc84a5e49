// Package web embeds the server-rendered pages (html/template) that
// browsers see: the hosted login, error pages, form_post responses and the
// account page. Pages work without JavaScript and load nothing from other
// origins.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var files embed.FS

// Templates parses every page template with the shared layout.
func Templates() *template.Template {
	return template.Must(template.New("").ParseFS(files, "templates/*.html"))
}

// SetPageHeaders marks a response as one of these pages: HTML, never
// cached, no referrer, no framing, and a policy that loads nothing from
// elsewhere.
func SetPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'")
}

// ErrorPage is what the "error" page shows: a title, the organization,
// what went wrong, an optional way on, and the reference id the log has
// the detail under.
type ErrorPage struct {
	Title, OrgName, Message, Link, LinkText, Reference string
}

// RenderError answers status with the error page. Every surface that
// shows a browser an error goes through here, so the page and its headers
// are the same everywhere.
func RenderError(w http.ResponseWriter, t *template.Template, status int, p ErrorPage) error {
	SetPageHeaders(w)
	w.WriteHeader(status)
	return t.ExecuteTemplate(w, "error", p)
}

// AllowOwnScript loosens a page's policy to run Latchkey's own script
// (served from the same origin, for passkeys) and let it call back home.
func AllowOwnScript(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' https: data:; frame-ancestors 'none'; base-uri 'none'")
}

//go:embed static/mfa.js
var mfaScript []byte

// MFAScript is the passkey script (WebAuthn ceremonies in the browser).
func MFAScript() []byte { return mfaScript }

// mfaScriptVersion names this build's script, so a page never runs a
// cached copy of another version's.
var mfaScriptVersion = func() string {
	sum := sha256.Sum256(mfaScript)
	return hex.EncodeToString(sum[:6])
}()

// MFAScriptPath is the script's path under an issuer, versioned by its content.
func MFAScriptPath() string { return "/mfa.js?v=" + mfaScriptVersion }
