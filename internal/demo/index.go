package demo

import "html/template"

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Latchkey demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1d2433}a{color:#2f5bea}code{background:#f1f3f8;padding:.1rem .3rem;border-radius:4px}</style></head>
<body><h1>Latchkey demo</h1>
<p>Organization <code>demo</code> · issuer <a href="{{.Issuer}}/.well-known/openid-configuration">{{.Issuer}}</a></p>
<ul>{{range .Apps}}<li><a href="{{.BaseURL}}/">{{.Name}}</a></li>{{end}}</ul>
<p>Sign in to one application as <code>alice</code> / <code>wonderland</code>, then open the other: no password is asked (single sign-on). Sign out of either and both are signed out (single logout).</p>
</body></html>`))
