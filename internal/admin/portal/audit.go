package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
)

const auditPageSize = 50

// auditScan bounds how many recent events a filtered view looks through.
const auditScan = 5000

type auditData struct {
	Events   []*domain.AuditEvent
	Action   string
	Actor    string
	From, To string
	Page     int
	Prev     string
	Next     string
}

func itoa(n int) string { return strconv.Itoa(n) }

func (p *Portal) auditLog(q *orgRequest) {
	qs := q.r.URL.Query()
	d := &auditData{Action: strings.TrimSpace(qs.Get("action")), Actor: strings.TrimSpace(qs.Get("actor")),
		From: strings.TrimSpace(qs.Get("from")), To: strings.TrimSpace(qs.Get("to"))}
	v := p.newView(q.r, q.admin, q.org, "Audit log", "audit")
	v.Form = qs
	v.Data = d
	parse := func(name, s string, end bool) time.Time {
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
	from, to := parse("from", d.From, false), parse("to", d.To, true)
	page, _ := strconv.Atoi(qs.Get("page"))
	if page < 1 {
		page = 1
	}
	d.Page = page
	if len(v.Errors) > 0 {
		p.render(q.w, q.r, http.StatusBadRequest, "audit", v)
		return
	}
	events, err := p.store().ListAudit(q.r.Context(), q.org.ID, auditScan)
	if err != nil {
		p.internalError(q.w, q.r, "audit log", err)
		return
	}
	var match []*domain.AuditEvent
	for _, e := range events {
		if d.Action != "" && !strings.HasPrefix(e.Action, d.Action) {
			continue
		}
		if d.Actor != "" && !strings.Contains(strings.ToLower(e.Actor), strings.ToLower(d.Actor)) {
			continue
		}
		if !from.IsZero() && e.At.Before(from) || !to.IsZero() && !e.At.Before(to) {
			continue
		}
		match = append(match, e)
	}
	start := (page - 1) * auditPageSize
	if start < len(match) {
		end := min(start+auditPageSize, len(match))
		d.Events = match[start:end]
	}
	link := func(n int) string {
		u := url.Values{}
		for k, vs := range map[string]string{"action": d.Action, "actor": d.Actor, "from": d.From, "to": d.To} {
			if vs != "" {
				u.Set(k, vs)
			}
		}
		u.Set("page", strconv.Itoa(n))
		return "?" + u.Encode()
	}
	if page > 1 {
		d.Prev = link(page - 1)
	}
	if start+auditPageSize < len(match) {
		d.Next = link(page + 1)
	}
	p.render(q.w, q.r, http.StatusOK, "audit", v)
}
