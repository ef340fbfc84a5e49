package session_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/session"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// recordingLogout ends sessions in the store and remembers which.
type recordingLogout struct {
	st    store.Store
	ended []string
}

func (l *recordingLogout) EndSession(ctx context.Context, orgID, sid string) error {
	l.ended = append(l.ended, sid)
	return l.st.EndSession(ctx, orgID, sid, time.Now())
}

func setup(t *testing.T) (*session.Sessions, *recordingLogout, *domain.Organization, *domain.User, *domain.User) {
	t.Helper()
	st := testdb.SQLite(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	org := &domain.Organization{ID: "acme", Name: "Acme", Settings: domain.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateOrg(ctx, org, nil, nil); err != nil {
		t.Fatal(err)
	}
	var users []*domain.User
	for _, name := range []string{"alice", "bob"} {
		u := &domain.User{OrgID: "acme", Sub: "sub-" + name, UserName: name, Role: domain.RoleUser, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u)
	}
	lo := &recordingLogout{st: st}
	s := &session.Sessions{Store: st, Tokens: st, CSRFKey: []byte("0123456789abcdef0123456789abcdef"), Logout: lo}
	return s, lo, org, users[0], users[1]
}

// login signs user in with the cookies of prev, and returns the response's cookies.
func login(t *testing.T, s *session.Sessions, org *domain.Organization, user *domain.User, prev []*http.Cookie) (*domain.Session, []*http.Cookie) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/o/acme/login", nil)
	for _, c := range prev {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	sess, err := s.Login(context.Background(), w, r, org, user, []string{domain.AMRPassword}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sess, w.Result().Cookies()
}

func TestLogin_SameUserRenewsWithANewCookieAnotherUserEndsTheOldSessionThroughLogout(t *testing.T) {
	s, lo, org, alice, bob := setup(t)
	first, cookies := login(t, s, org, alice, nil)
	if len(cookies) != 1 || cookies[0].Path != "/o/acme/" || !cookies[0].HttpOnly {
		t.Fatalf("session cookie = %+v, want one HttpOnly cookie scoped to /o/acme/", cookies)
	}
	again, renewed := login(t, s, org, alice, cookies)
	if again.SID != first.SID {
		t.Errorf("the same user's login started session %s, want %s renewed", again.SID, first.SID)
	}
	if renewed[0].Value == cookies[0].Value {
		t.Error("the cookie kept its value across a login (session fixation)")
	}
	if len(lo.ended) != 0 {
		t.Errorf("renewing ended sessions %v", lo.ended)
	}
	other, _ := login(t, s, org, bob, renewed)
	if other.SID == first.SID || other.UserSub != bob.Sub {
		t.Fatalf("bob's login = %+v", other)
	}
	if len(lo.ended) != 1 || lo.ended[0] != first.SID {
		t.Errorf("sessions ended through logout = %v, want alice's %s", lo.ended, first.SID)
	}
	// alice's old cookie no longer finds a session.
	r := httptest.NewRequest(http.MethodGet, "/o/acme/account", nil)
	r.AddCookie(renewed[0])
	if cur, err := s.Current(context.Background(), r, "acme"); err != nil || cur != nil {
		t.Errorf("Current with the replaced cookie = %+v, %v; want none", cur, err)
	}
}

func TestCSRF_TokenMatchesOnlyItsCookieAndOrganization(t *testing.T) {
	s, _, _, _, _ := setup(t)
	w := httptest.NewRecorder()
	tok := s.CSRFToken(w, httptest.NewRequest(http.MethodGet, "/o/acme/login", nil), "acme")
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("CSRF cookies = %+v", cookies)
	}
	post := func(c *http.Cookie) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/o/acme/login", nil)
		if c != nil {
			r.AddCookie(c)
		}
		return r
	}
	if !s.CheckCSRF(post(cookies[0]), "acme", tok) {
		t.Error("the token was refused with its own cookie")
	}
	if s.CheckCSRF(post(cookies[0]), "globex", tok) {
		t.Error("the token was accepted for another organization")
	}
	if s.CheckCSRF(post(nil), "acme", tok) {
		t.Error("the token was accepted without its cookie")
	}
	other := *cookies[0]
	other.Value = "another-cookie-value-that-is-long-enough-000"
	if s.CheckCSRF(post(&other), "acme", tok) {
		t.Error("the token was accepted with another cookie")
	}
	if s.CheckCSRF(post(cookies[0]), "acme", "") {
		t.Error("an empty token was accepted")
	}
}
