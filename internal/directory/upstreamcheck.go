package directory

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/outbound"
	"github.com/latchkey/latchkey/internal/upstream/discovery"
)

// UpstreamCheckTimeout bounds the whole discovery request of a check.
const UpstreamCheckTimeout = 10 * time.Second

// UpstreamProbe checks settings before they are saved: a set field stands
// in for the saved connection's.
type UpstreamProbe struct {
	ConfigURL          *string
	EndUpstreamSession *bool
}

// UpstreamCheck is how a check went: OK with what the discovery document
// offers (Found) and Warnings, or not OK with why (Error). Either way the
// check itself ran.
type UpstreamCheck struct {
	OrgID     string
	ConfigURL string
	OK        bool
	Found     *discovery.Metadata
	Warnings  []string
	Error     *discovery.CheckError
}

// CheckUpstream fetches the organization's discovery document through the
// guarded outbound client, the way a real login would, and reports what it
// offers or why it cannot be used. A probe checks a configuration URL
// before it is saved; without one the saved connection is checked. The
// check is audited with its outcome.
func (d *Directory) CheckUpstream(ctx context.Context, a Actor, orgID string, probe ...UpstreamProbe) (*UpstreamCheck, error) {
	var p UpstreamProbe
	if len(probe) > 0 {
		p = probe[0]
	}
	if p.ConfigURL != nil {
		if err := domain.CheckHTTPURL("config_url", *p.ConfigURL, true); err != nil {
			return nil, err
		}
	}
	configURL, endSession := p.ConfigURL, p.EndUpstreamSession
	if configURL == nil || endSession == nil {
		c, err := d.GetUpstream(ctx, orgID)
		var nf *NotFoundError
		switch {
		case errors.As(err, &nf) && configURL != nil:
			if _, err := d.GetOrg(ctx, orgID); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		default:
			if configURL == nil {
				configURL = &c.ConfigURL
			}
			if endSession == nil {
				endSession = &c.EndUpstreamSession
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, UpstreamCheckTimeout)
	defer cancel()
	m, err := discovery.Discover(ctx, d.outbound(), *configURL)
	out := &UpstreamCheck{OrgID: orgID, ConfigURL: *configURL, OK: err == nil, Warnings: []string{}}
	result := "ok"
	if err != nil {
		ce, ok := discovery.AsCheckError(err)
		if !ok {
			return nil, fmt.Errorf("upstream check of %q: %w", orgID, err)
		}
		out.Error = ce
		result = "check_failed: " + string(ce.Kind)
	} else {
		out.Found = m
		out.Warnings = append(out.Warnings, m.Warnings(endSession != nil && *endSession)...)
	}
	ev := d.event(orgID, a, "upstream.check", orgID, map[string]string{"config_url": out.ConfigURL})
	ev.Result = result
	if err := d.Store.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		return nil, fmt.Errorf("audit upstream check: %w", err)
	}
	return out, nil
}

func (d *Directory) outbound() *http.Client {
	if d.Outbound != nil {
		return d.Outbound
	}
	return outbound.NewClient(false, UpstreamCheckTimeout)
}
