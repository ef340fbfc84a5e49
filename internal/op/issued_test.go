package op

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/directory"
	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/oauth"
	"github.com/latchkey/latchkey/internal/secret"
)

// readCounting counts the reads of a code and its session that the token
// endpoint makes (reads), and the reads of login tickets the ticket
// landing makes (ticketReads).
type readCounting struct {
	Store
	reads, ticketReads atomic.Int32
}

func (s *readCounting) GetCodeAndSession(ctx context.Context, orgID string, hash []byte) (*domain.AuthCode, *domain.Session, error) {
	s.reads.Add(1)
	return s.Store.GetCodeAndSession(ctx, orgID, hash)
}

func (s *readCounting) GetTicket(ctx context.Context, orgID string, hash []byte) (*domain.LoginTicket, error) {
	s.ticketReads.Add(1)
	return s.Store.GetTicket(ctx, orgID, hash)
}

// TestIssuedCodes_AreRedeemedWithoutAReadUnlessTheyOrTheirSessionChanged
// drives the code's issue (issueCode) and its redemption
// (grantAuthorizationCode) on one Provider over a real SQLite store.
func TestIssuedCodes_AreRedeemedWithoutAReadUnlessTheyOrTheirSessionChanged(t *testing.T) {
	fp := newFuzzProvider(t)
	p := fp.p
	counting := &readCounting{Store: p.Store}
	p.Store = counting
	ctx := context.Background()
	user, err := fp.env.Directory.CreateUser(ctx, directory.Actor{Name: "test"}, "acme", "ada", directory.UserChanges{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	p.Now = func() time.Time { return now }
	sid := 0
	newSession := func(t *testing.T) *domain.Session {
		t.Helper()
		sid++
		s := &domain.Session{OrgID: "acme", SID: "sid-" + string(rune('a'+sid)), CookieHash: secret.Hash(secret.MustToken()), UserSub: user.Sub,
			AuthTime: now, AMR: []string{domain.AMRPassword}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Hour)}
		if err := fp.env.Store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	issue := func(t *testing.T, sess *domain.Session) string {
		t.Helper()
		req := &domain.AuthRequest{OrgID: "acme", ClientID: fp.conf.ClientID, RedirectURI: "https://app.example/cb", Scope: "openid profile", State: "s", Nonce: "n", MaxAge: -1}
		w := httptest.NewRecorder()
		p.issueCode(w, httptest.NewRequest(http.MethodGet, "/o/acme/authorize", nil), fp.org, req, sess)
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("issueCode answered %d, Location %q", w.Code, w.Header().Get("Location"))
		}
		return loc.Query().Get("code")
	}
	exchange := func(app *domain.Application, code string) (*tokenResponse, *oauth.Error) {
		params := oauth.Params{"grant_type": "authorization_code", "code": code, "redirect_uri": "https://app.example/cb"}
		return p.grantAuthorizationCode(ctx, &tokenRequest{org: fp.org, app: app, params: params})
	}
	wantReads := func(t *testing.T, want int32) {
		t.Helper()
		if got := counting.reads.Swap(0); got != want {
			t.Errorf("the token endpoint read the code %d times, want %d", got, want)
		}
	}
	wantGrantError := func(t *testing.T, perr *oauth.Error, description string) {
		t.Helper()
		if perr == nil || perr.Code != "invalid_grant" || !strings.Contains(perr.Description, description) {
			t.Fatalf("exchange: %+v, want invalid_grant %q", perr, description)
		}
	}
	codeUsed := func(t *testing.T, code string) bool {
		t.Helper()
		c, err := fp.env.Store.GetCode(ctx, "acme", secret.Hash(code))
		if err != nil {
			t.Fatal(err)
		}
		return !c.UsedAt.IsZero()
	}

	t.Run("a code redeemed by the node that issued it is not read back", func(t *testing.T) {
		code := issue(t, newSession(t))
		resp, perr := exchange(fp.conf, code)
		if perr != nil || resp.AccessToken == "" || resp.IDToken == "" {
			t.Fatalf("exchange: %+v %+v", resp, perr)
		}
		wantReads(t, 0)
		if !codeUsed(t, code) {
			t.Error("the redeemed code is not used up")
		}
		tok, err := fp.env.Store.GetToken(ctx, "acme", secret.Hash(resp.AccessToken))
		if err != nil || tok.UserSub != user.Sub {
			t.Fatalf("the access token was not stored: %+v %v", tok, err)
		}
		if n := p.issued.Len(); n != 0 {
			t.Errorf("%d codes still held after their redemption", n)
		}
	})

	t.Run("a replay is read, refused, and revokes what the code yielded", func(t *testing.T) {
		code := issue(t, newSession(t))
		resp, perr := exchange(fp.conf, code)
		if perr != nil {
			t.Fatal(perr)
		}
		wantReads(t, 0)
		_, perr = exchange(fp.conf, code)
		wantGrantError(t, perr, "already used")
		wantReads(t, 1)
		tok, err := fp.env.Store.GetToken(ctx, "acme", secret.Hash(resp.AccessToken))
		if err != nil || tok.RevokedAt.IsZero() {
			t.Errorf("the first exchange's access token was not revoked: %+v %v", tok, err)
		}
	})

	t.Run("a code of a session ended since is read, refused and used up", func(t *testing.T) {
		sess := newSession(t)
		code := issue(t, sess)
		if err := fp.env.Store.EndSession(ctx, "acme", sess.SID, now); err != nil {
			t.Fatal(err)
		}
		_, perr := exchange(fp.conf, code)
		wantGrantError(t, perr, "session has ended")
		wantReads(t, 1)
		if !codeUsed(t, code) {
			t.Error("the refused code was not used up")
		}
	})

	t.Run("a code of a session renewed since yields tokens bound to the renewed session", func(t *testing.T) {
		sess := newSession(t)
		code := issue(t, sess)
		renewed := *sess
		renewed.ExpiresAt = now.Add(2 * time.Hour)
		if err := fp.env.Store.RenewSession(ctx, &renewed); err != nil {
			t.Fatal(err)
		}
		resp, perr := exchange(fp.conf, code)
		if perr != nil {
			t.Fatal(perr)
		}
		wantReads(t, 1)
		if resp.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		rt, err := fp.env.Store.GetToken(ctx, "acme", secret.Hash(resp.RefreshToken))
		if err != nil {
			t.Fatal(err)
		}
		if !rt.ExpiresAt.Equal(renewed.ExpiresAt.Truncate(time.Microsecond)) {
			t.Errorf("refresh token expires at %v, want the renewed session's %v", rt.ExpiresAt, renewed.ExpiresAt)
		}
	})

	t.Run("a code presented by another client is refused, then redeemed by its own", func(t *testing.T) {
		code := issue(t, newSession(t))
		_, perr := exchange(fp.public, code)
		wantGrantError(t, perr, "another client")
		if codeUsed(t, code) {
			t.Fatal("another client's attempt used the code up")
		}
		if _, perr := exchange(fp.conf, code); perr != nil {
			t.Fatal(perr)
		}
		// The other client's attempt was read, and it took the code out of
		// memory: its own client's redemption reads it too.
		wantReads(t, 2)
	})

	t.Run("a code purged from the store is not redeemed from memory", func(t *testing.T) {
		code := issue(t, newSession(t))
		db, err := sql.Open("sqlite", fp.dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`DELETE FROM auth_codes WHERE hash = ?`, secret.Hash(code)); err != nil {
			t.Fatal(err)
		}
		_, perr := exchange(fp.conf, code)
		wantGrantError(t, perr, "invalid")
		wantReads(t, 1)
	})
}
