package directory

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	// Action ("user.update") and Actor ("cli", "admin-token:…") match exactly.
	Action string
	Actor  string
	// Since ≤ event time < Until.
	Since time.Time
	Until time.Time
	// Cursor continues a listing: the NextCursor of the previous page.
	Cursor string
	// Limit is the page size, 1 to MaxAuditPage; 0 means DefaultAuditPage.
	Limit int
}

// Audit page sizes.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 1000
)

// AuditPage is one page of audit events, newest first. NextCursor is ""
// on the last page.
type AuditPage struct {
	Events     []*domain.AuditEvent
	NextCursor string
}

// ListAudit returns the organization's audit events f selects, newest
// first, one page at a time.
func (d *Directory) ListAudit(ctx context.Context, orgID string, f AuditFilter) (*AuditPage, error) {
	for _, v := range []struct{ field, value string }{{"action", f.Action}, {"actor", f.Actor}, {"cursor", f.Cursor}} {
		if !utf8.ValidString(v.value) || len(v.value) > 200 {
			return nil, domain.Invalid(v.field, "must be valid UTF-8 of at most 200 bytes")
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, domain.Invalid("since", "must be before until")
	}
	if f.Limit == 0 {
		f.Limit = DefaultAuditPage
	}
	if f.Limit < 1 || f.Limit > MaxAuditPage {
		return nil, domain.Invalid("limit", "must be between 1 and %d (got %d)", MaxAuditPage, f.Limit)
	}
	if _, err := d.GetOrg(ctx, orgID); err != nil {
		return nil, err
	}
	// One more than asked tells whether another page follows.
	events, err := d.Store.ListAudit(ctx, orgID, store.AuditFilter{
		Action: f.Action, Actor: f.Actor, Since: f.Since, Until: f.Until, Before: f.Cursor, Limit: f.Limit + 1,
	})
	if err != nil {
		return nil, fmt.Errorf("audit log of %q: %w", orgID, err)
	}
	page := &AuditPage{Events: events}
	if len(events) > f.Limit {
		page.Events = events[:f.Limit]
		page.NextCursor = page.Events[f.Limit-1].ID
	}
	if page.Events == nil {
		page.Events = []*domain.AuditEvent{}
	}
	return page, nil
}

// Record appends an audit event that goes with no change: a read, a
// refused request, a failed sign-in. Changes are audited by the method
// that makes them, in the same transaction.
func (d *Directory) Record(ctx context.Context, orgID string, a Actor, action, target, result string, detail map[string]string) error {
	ev := d.event(orgID, a, action, target, detail)
	ev.Result = result
	if err := d.Store.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}
