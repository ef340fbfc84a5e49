package platform_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/server/servertest"
)

// landing opens a login URL in a fresh browser and follows Latchkey's
// redirects; it returns the browser and the last page.
func landing(t *testing.T, loginURL string) (*servertest.Browser, *servertest.Page) {
	t.Helper()
	b := servertest.NewBrowser(t)
	return b, b.Follow(b.Get(loginURL), "")
}

// wantTicketRefused asserts the clear error page for a ticket that did not work.
func wantTicketRefused(t *testing.T, p *servertest.Page, title, link string) {
	t.Helper()
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, title) {
		t.Fatalf("want a %q page, got status %d at %s\n%s", title, p.Status, p.URL, p.Body)
	}
	if link != "" && !strings.Contains(p.Body, `href="`+link+`"`) {
		t.Fatalf("the page does not link back to %s:\n%s", link, p.Body)
	}
	if p.Header.Get("Referrer-Policy") != "no-referrer" || p.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers = %v", p.Header)
	}
}

func TestTicket_SignsInOnceWithoutLeavingTheTicketInTheURL(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			sub := s.update(t, "johndoe", `{"name":"John"}`).want(t, http.StatusCreated).Str(t, "sub")
			loginURL := s.loginURL(t, "johndoe")

			b := servertest.NewBrowser(t)
			p := b.Get(loginURL)
			// PUBLIC_URL/ passes the ticket to its issuer, where the browser
			// sends the organization's cookies.
			tok := strings.TrimPrefix(loginURL, s.inst.URL+"/?refresh-token=")
			if p.Status != http.StatusSeeOther || p.Location != s.inst.Issuer("acme")+"/?refresh-token="+tok {
				t.Fatalf("PUBLIC_URL landing: %d → %s", p.Status, p.Location)
			}
			p = b.Get(p.Location)
			if p.Status != http.StatusSeeOther || p.Location != s.inst.Issuer("acme")+"/authorize/continue" {
				t.Fatalf("issuer landing: %d → %s\n%s", p.Status, p.Location, p.Body)
			}
			if p.Header.Get("Referrer-Policy") != "no-referrer" || p.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("landing headers = %v", p.Header)
			}
			p = b.Follow(p, "")
			if !strings.HasSuffix(p.URL.Path, "/account") || !strings.Contains(p.Body, "johndoe") {
				t.Fatalf("after landing: %s\n%s", p.URL, p.Body)
			}
			if n := len(s.sessions(t, "acme", sub)); n != 1 {
				t.Fatalf("%d sessions, want 1", n)
			}

			// The same ticket again, in another browser: refused.
			_, p = landing(t, loginURL)
			wantTicketRefused(t, p, "already used", s.inst.Issuer("acme")+"/login")
			if n := len(s.sessions(t, "acme", sub)); n != 1 {
				t.Fatalf("%d sessions after reuse, want 1", n)
			}

			// Landing straight at the issuer works the same.
			_, p = landing(t, s.inst.Issuer("acme")+"/?refresh-token="+url.QueryEscape(tokenOf(t, s.loginURL(t, "johndoe"))))
			if !strings.HasSuffix(p.URL.Path, "/account") || !strings.Contains(p.Body, "johndoe") {
				t.Fatalf("issuer landing: %s\n%s", p.URL, p.Body)
			}

			ok := 0
			for _, e := range s.audit(t, "acme") {
				if e.Action == "login.ticket" && e.Result == "ok" && e.Actor == "johndoe" {
					ok++
				}
				if strings.Contains(strings.Join([]string{e.Actor, e.Target, e.Result, e.Detail["reason"]}, " "), tok) {
					t.Fatalf("audit event carries the ticket: %+v", e)
				}
			}
			if ok != 2 {
				t.Fatalf("%d successful ticket logins audited, want 2", ok)
			}
		})
	}
}

func tokenOf(t *testing.T, loginURL string) string {
	t.Helper()
	u, err := url.Parse(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("refresh-token")
}

func TestTicket_ExpiresAfterTheOrgsTicketLifetime(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			s.setOrg(t, "acme", func(o *domain.OrgSettings) {
				o.TicketLifetimeSeconds = 60
				o.AuthRedirectURL = "https://community.example/sign-in"
			})
			s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)
			r := s.generate(t, "johndoe").want(t, http.StatusOK)
			if r.JSON(t)["expiresIn"] != float64(60) {
				t.Fatalf("expiresIn = %v, want the org's 60", r.JSON(t)["expiresIn"])
			}
			fresh := s.loginURL(t, "johndoe")
			s.inst.Clock.Advance(61 * time.Second)
			_, p := landing(t, r.Str(t, "loginUrl"))
			wantTicketRefused(t, p, "expired", "https://community.example/sign-in")
			if n := len(s.sessions(t, "acme", s.user(t, "acme", "johndoe").Sub)); n != 0 {
				t.Fatalf("%d sessions from an expired ticket", n)
			}
			_, p = landing(t, fresh)
			wantTicketRefused(t, p, "expired", "")
		})
	}
}

func TestTicket_FiftyConcurrentRedemptionsMakeExactlyOneSession(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			sub := s.update(t, "johndoe", `{}`).want(t, http.StatusCreated).Str(t, "sub")
			target := s.inst.Issuer("acme") + "/?refresh-token=" + tokenOf(t, s.loginURL(t, "johndoe"))

			const n = 50
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([]*servertest.Page, n)
			// Connections the transport dials but never uses would hold up
			// the server's shutdown: close them when the race is over.
			transport := &http.Transport{MaxIdleConnsPerHost: n}
			defer transport.CloseIdleConnections()
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := servertest.NewBrowser(t)
					b.Client.Transport = transport
					<-start
					results[i] = b.Get(target)
				}()
			}
			close(start)
			wg.Wait()
			won, refused := 0, 0
			for _, p := range results {
				switch {
				case p.Status == http.StatusSeeOther && strings.HasSuffix(p.Location, "/authorize/continue"):
					won++
				case p.Status == http.StatusBadRequest && strings.Contains(p.Body, "already used"):
					refused++
				default:
					t.Errorf("unexpected answer %d %s\n%s", p.Status, p.Location, p.Body)
				}
			}
			if won != 1 || refused != n-1 {
				t.Fatalf("%d won, %d refused; want 1 and %d", won, refused, n-1)
			}
			if got := len(s.sessions(t, "acme", sub)); got != 1 {
				t.Fatalf("%d sessions, want exactly 1", got)
			}
		})
	}
}

func TestTicket_OfOneOrgIsUnknownAtAnothersIssuer(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "org-a")
			s.newOrg(t, "org-b")
			s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)
			tok := tokenOf(t, s.loginURL(t, "johndoe"))

			_, p := landing(t, s.inst.Issuer("org-b")+"/?refresh-token="+tok)
			wantTicketRefused(t, p, "not valid", s.inst.Issuer("org-b")+"/login")
			// A ticket whose org part was changed: its hash matches nothing.
			forged := "org-b" + strings.TrimPrefix(tok, "org-a")
			_, p = landing(t, s.inst.URL+"/?refresh-token="+forged)
			wantTicketRefused(t, p, "not valid", "")

			// Refusing it elsewhere did not use it up.
			_, p = landing(t, s.inst.URL+"/?refresh-token="+tok)
			if !strings.HasSuffix(p.URL.Path, "/o/org-a/account") || !strings.Contains(p.Body, "johndoe") {
				t.Fatalf("at its own issuer: %s\n%s", p.URL, p.Body)
			}
		})
	}
}

func TestTicket_MalformedOrUnknownTicketsGetAClearPage(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	for _, tok := range []string{"", "garbage", "acme.short", "nosuchorg.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("x", 5000)} {
		_, p := landing(t, s.inst.URL+"/?refresh-token="+url.QueryEscape(tok))
		wantTicketRefused(t, p, "not valid", "")
	}
	// Two tickets in one URL are refused, not guessed between.
	s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)
	tok := tokenOf(t, s.loginURL(t, "johndoe"))
	_, p := landing(t, s.inst.Issuer("acme")+"/?refresh-token="+tok+"&refresh-token="+tok)
	wantTicketRefused(t, p, "not valid", "")

	// Without a ticket: nothing at PUBLIC_URL/, the account page at ISS/.
	b := servertest.NewBrowser(t)
	if p := b.Get(s.inst.URL + "/"); p.Status != http.StatusNotFound {
		t.Fatalf("GET / = %d", p.Status)
	}
	if p := b.Get(s.inst.Issuer("acme") + "/"); p.Status != http.StatusFound || !strings.HasSuffix(p.Location, "/o/acme/account") {
		t.Fatalf("GET ISS/ = %d %s", p.Status, p.Location)
	}
	// The issuer without its slash moves the ticket under the cookie path.
	if p := b.Get(s.inst.Issuer("acme") + "?refresh-token=" + tok); p.Status != http.StatusSeeOther ||
		p.Location != s.inst.Issuer("acme")+"/?refresh-token="+tok {
		t.Fatalf("GET ISS?refresh-token = %d %s", p.Status, p.Location)
	}
	// A HEAD (link checkers) does not use the ticket up.
	req, _ := http.NewRequest(http.MethodHead, s.inst.Issuer("acme")+"/?refresh-token="+tok, nil)
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, p := landing(t, s.inst.URL+"/?refresh-token="+tok); !strings.HasSuffix(p.URL.Path, "/account") {
		t.Fatalf("ticket unusable after a HEAD: %s\n%s", p.URL, p.Body)
	}
}

func TestTicket_DisabledOrDeletedUserCannotRedeem(t *testing.T) {
	s := startPlatform(t, "sqlite", "acme")
	ctx := context.Background()
	d := s.inst.Env.Directory
	s.update(t, "johndoe", `{}`).want(t, http.StatusCreated)
	s.update(t, "jane", `{}`).want(t, http.StatusCreated)
	john, jane := s.loginURL(t, "johndoe"), s.loginURL(t, "jane")
	yes := true
	if _, err := d.UpdateUser(ctx, s.inst.Actor, "acme", "johndoe", directory.UserChanges{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteUser(ctx, s.inst.Actor, "acme", "jane"); err != nil {
		t.Fatal(err)
	}
	_, p := landing(t, john)
	wantTicketRefused(t, p, "cannot sign in", "")
	_, p = landing(t, jane)
	if p.Status != http.StatusBadRequest {
		t.Fatalf("deleted user's ticket: %d\n%s", p.Status, p.Body)
	}
}

// TestTicket_AsksBeforeReplacingAnotherUsersSession: a sign-in link is a
// GET anyone can send a browser to (login CSRF). With another user's live
// session in the browser, it asks "Continue as NAME?" and switches only on
// a POST carrying the page's CSRF token.
func TestTicket_AsksBeforeReplacingAnotherUsersSession(t *testing.T) {
	for _, backend := range servertest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startPlatform(t, backend, "acme")
			john := s.update(t, "johndoe", `{}`).want(t, http.StatusCreated).Str(t, "sub")
			jane := s.update(t, "jane", `{}`).want(t, http.StatusCreated).Str(t, "sub")
			b := servertest.NewBrowser(t)
			b.Follow(b.Get(s.loginURL(t, "johndoe")), "")
			// The same user again renews the session rather than adding one.
			b.Follow(b.Get(s.loginURL(t, "johndoe")), "")
			ss := s.sessions(t, "acme", john)
			if len(ss) != 1 || !ss[0].Active(s.inst.Clock.Now()) {
				t.Fatalf("johndoe's sessions = %+v, want one active", ss)
			}

			// The attacker's (jane's) link: a question, not a switch.
			p := b.Follow(b.Get(s.loginURL(t, "jane")), "")
			if p.Status != http.StatusOK || !strings.Contains(p.Body, "Continue as jane?") || !strings.Contains(p.Body, "johndoe") {
				t.Fatalf("want the Continue as jane? page, got %d\n%s", p.Status, p.Body)
			}
			if ss := s.sessions(t, "acme", john); !ss[0].Active(s.inst.Clock.Now()) {
				t.Fatal("johndoe's session ended by a GET of jane's link")
			}
			if len(s.sessions(t, "acme", jane)) != 0 {
				t.Fatal("jane signed in without confirmation")
			}
			f := p.Form(t)
			// A cross-site POST without the page's token switches nothing.
			forged := b.PostForm(f.Action, url.Values{"refresh-token": {f.Values.Get("refresh-token")}, "csrf_token": {"forged"}})
			if forged.Status != http.StatusForbidden || len(s.sessions(t, "acme", jane)) != 0 {
				t.Fatalf("forged confirmation: %d, jane's sessions %d", forged.Status, len(s.sessions(t, "acme", jane)))
			}
			// The user's own confirmation switches (the ticket was not used up by the GET).
			p = b.Follow(b.Submit(f, nil), "")
			if !strings.Contains(p.Body, "jane") || p.Status != http.StatusOK {
				t.Fatalf("not signed in as jane after confirming: %d\n%s", p.Status, p.Body)
			}
			if ss := s.sessions(t, "acme", john); ss[0].Active(s.inst.Clock.Now()) {
				t.Fatal("johndoe's session survived the confirmed switch")
			}
			if strings.Contains(p.URL.String(), "refresh-token") {
				t.Fatalf("ticket left in the URL: %s", p.URL)
			}
			// The confirmation is single use like the link.
			if again := b.Submit(f, nil); again.Status != http.StatusBadRequest && again.Status != http.StatusForbidden {
				t.Fatalf("second confirmation: %d", again.Status)
			}
		})
	}
}
