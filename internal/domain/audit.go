package domain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxAuditText bounds each text field of a stored audit event (in bytes,
// before the ellipsis a cut value ends with).
const MaxAuditText = 256

// AuditText makes v fit to store and to show in an audit log: invalid
// UTF-8 becomes U+FFFD, control characters (NUL, newlines, escapes) become
// U+FFFD too, and anything longer than MaxAuditText bytes is cut on a
// character boundary and marked with "…". Audit targets often come from
// the request (a path segment, a userName that failed validation), so they
// must be made safe before they reach the database or a terminal.
func AuditText(v string) string {
	if len(v) <= MaxAuditText && utf8.ValidString(v) && strings.IndexFunc(v, unicode.IsControl) < 0 {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRuneInString(v[i:])
		if unicode.IsControl(r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > MaxAuditText {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
		i += size
	}
	return b.String()
}

// Sanitized returns a copy of e whose text fields are safe to store (see
// AuditText).
func (e *AuditEvent) Sanitized() *AuditEvent {
	c := *e
	c.Actor, c.Action, c.Target, c.Result, c.ClientIP = AuditText(e.Actor), AuditText(e.Action), AuditText(e.Target), AuditText(e.Result), AuditText(e.ClientIP)
	if e.Detail != nil {
		c.Detail = make(map[string]string, len(e.Detail))
		for k, v := range e.Detail {
			c.Detail[AuditText(k)] = AuditText(v)
		}
	}
	return &c
}
