package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
)

const auditPageSize = 50

type auditData struct {
	Events   []*domain.AuditEvent
	Action   string
	Actor    string
	From, To string
	// Newest links to the first page when this is a later one; Next to
	// the older events after this page.
	Newest string
	Next   string
}

func itoa(n int) string { return strconv.Itoa(n) }

// auditLog lists the organization's audit events newest first, filtered
// by action, actor and dates, one page at a time (directory.ListAudit).
func (p *Portal) auditLog(q *orgRequest) {
	qs := q.r.URL.Query()
	d := &auditData{Action: strings.TrimSpace(qs.Get("action")), Actor: strings.TrimSpace(qs.Get("actor")),
		From: strings.TrimSpace(qs.Get("from")), To: strings.TrimSpace(qs.Get("to"))}
	v := p.newView(q.r, q.admin, q.org, "Audit log", "audit")
	v.Form = qs
	v.Data = d
	date := func(name, s string, end bool) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			v.Errors[name] = "use a date like 2026-12-01"
			return time.Time{}
		}
		if end {
			t = t.Add(24 * time.Hour)
		}
		return t
	}
	f := directory.AuditFilter{Action: d.Action, Actor: d.Actor, Since: date("from", d.From, false), Until: date("to", d.To, true),
		Cursor: qs.Get("cursor"), Limit: auditPageSize}
	if len(v.Errors) > 0 {
		p.render(q.w, q.r, http.StatusBadRequest, "audit", v)
		return
	}
	page, err := p.Directory.ListAudit(q.r.Context(), q.org.ID, f)
	if err != nil {
		if v.fail(err, map[string]string{"since": "from", "until": "to", "cursor": "action"}) {
			p.render(q.w, q.r, http.StatusBadRequest, "audit", v)
			return
		}
		p.internalError(q.w, q.r, "audit log", err)
		return
	}
	d.Events = page.Events
	link := func(cursor string) string {
		u := url.Values{}
		for k, val := range map[string]string{"action": d.Action, "actor": d.Actor, "from": d.From, "to": d.To, "cursor": cursor} {
			if val != "" {
				u.Set(k, val)
			}
		}
		return "?" + u.Encode()
	}
	if f.Cursor != "" {
		d.Newest = link("")
	}
	if page.NextCursor != "" {
		d.Next = link(page.NextCursor)
	}
	p.render(q.w, q.r, http.StatusOK, "audit", v)
}
