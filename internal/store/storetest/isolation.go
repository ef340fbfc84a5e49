package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/store"
)

// orgRows is everything seed stored for one organization.
type orgRows struct {
	org      *domain.Organization
	key      *domain.APIKey
	keys     []*domain.SigningKey
	users    []*domain.User
	apps     []*domain.Application
	sessions []*domain.Session
	clients  map[string][]string // sid → client ids
	requests []*domain.AuthRequest
	codes    []*domain.AuthCode
	tokens   []*domain.Token
	tickets  []*domain.LoginTicket
	audit    []*domain.AuditEvent // oldest first
	outbox   []*domain.BackchannelDelivery
	attempts map[string][]*domain.BackchannelAttempt // delivery id → attempts
	admin    []*domain.AdminToken
}

// Identifiers seed gives every organization, so that two seeded
// organizations hold rows with the same keys.
const (
	sharedSub      = "sub-shared"
	sharedUserName = "Alice"
	sharedClient   = "client-shared"
	sharedSID      = "sid-shared"
	sharedRequest  = "req-shared"
	sharedCode     = "code-shared"
	sharedTicket   = "ticket-shared"
	sharedFamily   = "fam-shared"
	sharedAccess   = "at-shared"
	sharedRefresh  = "rt-shared"
	sharedKID      = "rs-1"
	sharedDelivery = "bc-shared"
	sharedAdmin    = "adm-shared"
)

// only names the identifier that only organization id has.
func only(what, id string) string { return what + "-only-" + id }

// seed stores an organization with one of everything under the shared
// identifiers and one of everything under identifiers of its own.
func seed(t testing.TB, s store.Store, id string) *orgRows {
	t.Helper()
	ctx := t.Context()
	r := &orgRows{clients: map[string][]string{}, attempts: map[string][]*domain.BackchannelAttempt{}}
	r.org, r.key, r.keys = createOrg(t, s, id)

	ownSub, ownSID, ownCode := only("sub", id), only("sid", id), only("code", id)
	r.users = []*domain.User{
		createUser(t, s, id, sharedSub, sharedUserName),
		createUser(t, s, id, ownSub, only("user", id)),
	}
	r.apps = []*domain.Application{
		createApp(t, s, id, sharedClient),
		createApp(t, s, id, only("client", id)),
	}
	r.sessions = []*domain.Session{
		createSession(t, s, id, sharedSID, sharedSub),
		createSession(t, s, id, ownSID, ownSub),
	}
	for _, x := range r.sessions {
		client := sharedClient
		if x.SID != sharedSID {
			client = only("client", id)
		}
		ok(t, "AddSessionClient", s.AddSessionClient(ctx, id, x.SID, client, t0))
		r.clients[x.SID] = []string{client}
		x.Clients = []string{client} // every read of the session lists it
	}
	for _, rid := range []string{sharedRequest, only("req", id)} {
		q := newAuthRequest(id, rid)
		ok(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, q))
		r.requests = append(r.requests, q)
	}
	r.codes = []*domain.AuthCode{
		createCode(t, s, id, sharedCode, sharedSub, sharedSID),
		createCode(t, s, id, ownCode, ownSub, ownSID),
	}
	shared := []*domain.Token{
		newToken(id, sharedAccess, domain.TokenAccess, sharedSID, sharedFamily, sharedCode),
		newToken(id, sharedRefresh, domain.TokenRefresh, sharedSID, sharedFamily, sharedCode),
		newToken(id, "rt-offline", domain.TokenRefresh, sharedSID, "fam-offline", sharedCode),
	}
	shared[2].Offline = true
	own := []*domain.Token{
		newToken(id, only("at", id), domain.TokenAccess, ownSID, only("fam", id), ownCode),
		newToken(id, only("rt", id), domain.TokenRefresh, ownSID, only("fam", id), ownCode),
	}
	for _, tk := range shared {
		tk.UserSub = sharedSub
	}
	for _, tk := range own {
		tk.UserSub = ownSub
	}
	r.tokens = append(shared, own...)
	ok(t, "CreateTokens", s.CreateTokens(ctx, r.tokens...))
	r.tickets = []*domain.LoginTicket{
		createTicket(t, s, id, sharedTicket, sharedSub),
		createTicket(t, s, id, only("ticket", id), ownSub),
	}
	for i, action := range []string{"login", "logout"} {
		e := &domain.AuditEvent{
			OrgID: id, At: at(time.Duration(i) * time.Second), Actor: sharedSub, Action: action,
			Target: sharedClient, Result: "ok", ClientIP: "192.0.2.1", Detail: map[string]string{"org": id},
		}
		ok(t, "AppendAudit", s.AppendAudit(ctx, e))
		r.audit = append(r.audit, e)
	}
	r.outbox = []*domain.BackchannelDelivery{
		newDelivery(id, sharedDelivery, sharedSID, at(time.Hour)),
		newDelivery(id, only("bc", id), ownSID, at(time.Hour)),
	}
	ok(t, "EnqueueBackchannel", s.EnqueueBackchannel(ctx, r.outbox...))
	// Only this organization's deliveries are due at the first hour: those
	// seeded before wait for their retry at the second.
	claimed, err := s.ClaimBackchannel(ctx, store.BackchannelClaim{Owner: "seed", Now: at(time.Hour), Lease: time.Minute, Limit: 10})
	ok(t, "ClaimBackchannel", err)
	if len(claimed) != len(r.outbox) {
		t.Fatalf("seed claimed %s, want its own %d deliveries", show(ids(claimed)), len(r.outbox))
	}
	for _, d := range r.outbox {
		d.Attempts, d.LastError, d.NextAttemptAt = 1, "HTTP 503", at(2*time.Hour)
		a := &domain.BackchannelAttempt{OrgID: id, DeliveryID: d.ID, Attempt: 1, At: at(time.Hour), Status: 503, Error: "HTTP 503"}
		ok(t, "FinishBackchannelAttempt", s.FinishBackchannelAttempt(ctx, "seed", d, a))
		r.attempts[d.ID] = []*domain.BackchannelAttempt{a}
	}
	sharedToken := newAdminToken(id, sharedAdmin)
	sharedToken.Hash = h("admin token shared")
	ok(t, "CreateAdminToken", s.CreateAdminToken(ctx, sharedToken))
	ownToken := newAdminToken(id, only("adm", id))
	ownToken.CreatedAt = at(time.Second) // ListAdminTokens orders by creation
	ok(t, "CreateAdminToken", s.CreateAdminToken(ctx, ownToken))
	r.admin = []*domain.AdminToken{sharedToken, ownToken}
	return r
}

// checkIntact verifies that every row seed stored for r is still there,
// unchanged. It consumes r's codes and tickets to see them, so it comes last.
func checkIntact(t testing.TB, s store.Store, r *orgRows) {
	t.Helper()
	ctx := t.Context()
	id := r.org.ID
	what := func(f string, args ...any) string { return "org " + id + ": " + fmt.Sprintf(f, args...) }

	o, err := s.GetOrg(ctx, id)
	ok(t, what("GetOrg"), err)
	equal(t, what("GetOrg"), o, r.org)
	k, err := s.CurrentAPIKey(ctx, id)
	ok(t, what("CurrentAPIKey"), err)
	equal(t, what("CurrentAPIKey"), k, r.key)
	k, err = s.FindAPIKey(ctx, id, r.key.Hash, t0)
	ok(t, what("FindAPIKey"), err)
	equal(t, what("FindAPIKey"), k, r.key)
	keys, err := s.ListSigningKeys(ctx, id)
	ok(t, what("ListSigningKeys"), err)
	equal(t, what("ListSigningKeys"), keys, r.keys)

	for _, u := range r.users {
		got, err := s.GetUser(ctx, id, u.Sub)
		ok(t, what("GetUser %s", u.Sub), err)
		equal(t, what("GetUser %s", u.Sub), got, u)
		got, err = s.GetUserByName(ctx, id, u.UserName)
		ok(t, what("GetUserByName %s", u.UserName), err)
		equal(t, what("GetUserByName %s", u.UserName), got, u)
	}
	users, err := s.ListUsers(ctx, id, store.UserFilter{})
	ok(t, what("ListUsers"), err)
	equal(t, what("ListUsers"), users, sortedUsers(r.users))

	for _, a := range r.apps {
		got, err := s.GetApp(ctx, id, a.ClientID)
		ok(t, what("GetApp %s", a.ClientID), err)
		equal(t, what("GetApp %s", a.ClientID), got, a)
	}
	apps, err := s.ListApps(ctx, id)
	ok(t, what("ListApps"), err)
	equal(t, what("ListApps"), apps, sortedApps(r.apps))

	for _, x := range r.sessions {
		got, err := s.GetSession(ctx, id, x.SID)
		ok(t, what("GetSession %s", x.SID), err)
		equal(t, what("GetSession %s", x.SID), got, x)
		got, err = s.GetSessionByCookie(ctx, id, x.CookieHash)
		ok(t, what("GetSessionByCookie %s", x.SID), err)
		equal(t, what("GetSessionByCookie %s", x.SID), got, x)
		list, err := s.ListUserSessions(ctx, id, x.UserSub)
		ok(t, what("ListUserSessions %s", x.UserSub), err)
		equal(t, what("ListUserSessions %s", x.UserSub), list, []*domain.Session{x})
		clients, err := s.ListSessionClients(ctx, id, x.SID)
		ok(t, what("ListSessionClients %s", x.SID), err)
		equal(t, what("ListSessionClients %s", x.SID), clients, r.clients[x.SID])
	}
	for _, q := range r.requests {
		got, err := s.GetAuthRequest(ctx, id, q.ID, t0)
		ok(t, what("GetAuthRequest %s", q.ID), err)
		equal(t, what("GetAuthRequest %s", q.ID), got, q)
	}
	for i, tk := range r.tokens {
		got, err := s.GetToken(ctx, id, tk.Hash)
		ok(t, what("GetToken #%d", i), err)
		equal(t, what("GetToken #%d", i), got, tk)
	}
	events, err := s.ListAudit(ctx, id, store.AuditFilter{Limit: 100})
	ok(t, what("ListAudit"), err)
	equal(t, what("ListAudit"), events, reversed(r.audit))
	for _, d := range r.outbox {
		list, err := s.ListBackchannel(ctx, id, d.SID)
		ok(t, what("ListBackchannel %s", d.SID), err)
		equal(t, what("ListBackchannel %s", d.SID), list, []*domain.BackchannelDelivery{d})
		attempts, err := s.ListBackchannelAttempts(ctx, id, d.ID)
		ok(t, what("ListBackchannelAttempts %s", d.ID), err)
		equal(t, what("ListBackchannelAttempts %s", d.ID), attempts, r.attempts[d.ID])
	}
	for _, x := range r.admin {
		got, err := s.FindAdminToken(ctx, id, x.Hash)
		ok(t, what("FindAdminToken %s", x.ID), err)
		equal(t, what("FindAdminToken %s", x.ID), got, x)
	}
	equal(t, what("ListAdminTokens"), adminTokensOf(t, s, id), r.admin)

	used := at(30 * time.Second)
	for i, c := range r.codes {
		got, err := s.ConsumeCode(ctx, id, c.Hash, used)
		ok(t, what("ConsumeCode #%d (must still be unused)", i), err)
		want := clone(c)
		want.UsedAt = used
		equal(t, what("ConsumeCode #%d", i), got, want)
	}
	for i, x := range r.tickets {
		got, err := s.ConsumeTicket(ctx, id, x.Hash, used)
		ok(t, what("ConsumeTicket #%d (must still be unused)", i), err)
		want := clone(x)
		want.UsedAt = used
		equal(t, what("ConsumeTicket #%d", i), got, want)
	}
}

// checkGone verifies that no row seed stored for r can be found.
func checkGone(t testing.TB, s store.Store, r *orgRows) {
	t.Helper()
	ctx := t.Context()
	id := r.org.ID
	what := func(f string, args ...any) string { return "deleted org " + id + ": " + fmt.Sprintf(f, args...) }
	empty := func(name string, n int, err error) {
		t.Helper()
		ok(t, what("%s", name), err)
		if n != 0 {
			t.Errorf("%s", what("%s returned %d rows, want none", name, n))
		}
	}

	_, err := s.GetOrg(ctx, id)
	wantErr(t, what("GetOrg"), err, store.ErrNotFound)
	_, err = s.CurrentAPIKey(ctx, id)
	wantErr(t, what("CurrentAPIKey"), err, store.ErrNotFound)
	_, err = s.FindAPIKey(ctx, id, r.key.Hash, t0)
	wantErr(t, what("FindAPIKey"), err, store.ErrNotFound)
	keys, err := s.ListSigningKeys(ctx, id)
	empty("ListSigningKeys", len(keys), err)
	for _, u := range r.users {
		_, err := s.GetUser(ctx, id, u.Sub)
		wantErr(t, what("GetUser"), err, store.ErrNotFound)
		_, err = s.GetUserByName(ctx, id, u.UserName)
		wantErr(t, what("GetUserByName"), err, store.ErrNotFound)
	}
	users, err := s.ListUsers(ctx, id, store.UserFilter{})
	empty("ListUsers", len(users), err)
	for _, a := range r.apps {
		_, err := s.GetApp(ctx, id, a.ClientID)
		wantErr(t, what("GetApp"), err, store.ErrNotFound)
	}
	apps, err := s.ListApps(ctx, id)
	empty("ListApps", len(apps), err)
	for _, x := range r.sessions {
		_, err := s.GetSession(ctx, id, x.SID)
		wantErr(t, what("GetSession"), err, store.ErrNotFound)
		_, err = s.GetSessionByCookie(ctx, id, x.CookieHash)
		wantErr(t, what("GetSessionByCookie"), err, store.ErrNotFound)
		list, err := s.ListUserSessions(ctx, id, x.UserSub)
		empty("ListUserSessions", len(list), err)
		clients, err := s.ListSessionClients(ctx, id, x.SID)
		empty("ListSessionClients", len(clients), err)
	}
	for _, q := range r.requests {
		_, err := s.GetAuthRequest(ctx, id, q.ID, t0)
		wantErr(t, what("GetAuthRequest"), err, store.ErrNotFound)
	}
	for _, tk := range r.tokens {
		_, err := s.GetToken(ctx, id, tk.Hash)
		wantErr(t, what("GetToken"), err, store.ErrNotFound)
	}
	events, err := s.ListAudit(ctx, id, store.AuditFilter{Limit: 100})
	empty("ListAudit", len(events), err)
	for _, d := range r.outbox {
		list, err := s.ListBackchannel(ctx, id, d.SID)
		empty("ListBackchannel", len(list), err)
		attempts, err := s.ListBackchannelAttempts(ctx, id, d.ID)
		empty("ListBackchannelAttempts", len(attempts), err)
	}
	for _, x := range r.admin {
		_, err := s.FindAdminToken(ctx, id, x.Hash)
		wantErr(t, what("FindAdminToken"), err, store.ErrNotFound)
	}
	if left := adminTokensOf(t, s, id); len(left) != 0 {
		t.Errorf("%s", what("ListAdminTokens still lists %s", show(left)))
	}
	for _, c := range r.codes {
		_, err := s.ConsumeCode(ctx, id, c.Hash, t0)
		wantErr(t, what("ConsumeCode"), err, store.ErrNotFound)
	}
	for _, x := range r.tickets {
		_, err := s.ConsumeTicket(ctx, id, x.Hash, t0)
		wantErr(t, what("ConsumeTicket"), err, store.ErrNotFound)
	}
}

func sortedUsers(us []*domain.User) []*domain.User {
	out := slices.Clone(us)
	slices.SortFunc(out, func(a, b *domain.User) int {
		return strings.Compare(domain.FoldUserName(a.UserName), domain.FoldUserName(b.UserName))
	})
	return out
}

func sortedApps(as []*domain.Application) []*domain.Application {
	out := slices.Clone(as)
	slices.SortFunc(out, func(a, b *domain.Application) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ClientID, b.ClientID))
	})
	return out
}

func reversed[T any](v []T) []T {
	out := slices.Clone(v)
	slices.Reverse(out)
	return out
}

// isolationCase does something in organization a, checks what it did
// there, and leaves the harness to check that b was not touched.
type isolationCase struct {
	name string
	run  func(t *testing.T, s store.Store, a, b *orgRows)
}

// isolationTests gives every case its own pair of organizations; both hold
// rows under the same identifiers, and each holds rows of its own.
func isolationTests() []test {
	out := make([]test, 0, len(isolationCases))
	for i, c := range isolationCases {
		out = append(out, test{c.name, func(t *testing.T, s store.Store) {
			a := seed(t, s, fmt.Sprintf("iso-a-%02d", i))
			b := seed(t, s, fmt.Sprintf("iso-b-%02d", i))
			c.run(t, s, a, b)
			checkIntact(t, s, b)
		}})
	}
	return out
}

var isolationCases = []isolationCase{
	{"NothingDoneInOneOrgChangesAnother", func(t *testing.T, s store.Store, a, b *orgRows) {
		checkIntact(t, s, a)
	}},
	{"FindAPIKeyDoesNotFindAnotherOrgsKey", func(t *testing.T, s store.Store, a, b *orgRows) {
		_, err := s.FindAPIKey(t.Context(), a.org.ID, b.key.Hash, t0)
		wantErr(t, "FindAPIKey(a, key of b)", err, store.ErrNotFound)
	}},
	{"RotateAPIKeyLeavesAnotherOrgsKeysWorking", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		// b has a current key and one in its overlap; a rotates every way.
		bOld := clone(b.key)
		bOld.ExpiresAt = at(3 * time.Hour)
		b.key = newAPIKey(b.org.ID, "b-next", at(time.Hour))
		ok(t, "RotateAPIKey(b) with overlap", s.RotateAPIKey(ctx, b.org.ID, b.key, bOld.ExpiresAt))
		for i, overlap := range []time.Duration{time.Hour, time.Hour, 0} {
			next := newAPIKey(a.org.ID, fmt.Sprint("rotated-", i), at(time.Hour))
			ok(t, "RotateAPIKey(a)", s.RotateAPIKey(ctx, a.org.ID, next, next.CreatedAt.Add(overlap)))
		}
		_, err := s.FindAPIKey(ctx, a.org.ID, a.key.Hash, at(time.Hour))
		wantErr(t, "a's first key", err, store.ErrNotFound)
		got, err := s.FindAPIKey(ctx, b.org.ID, bOld.Hash, at(2*time.Hour))
		ok(t, "FindAPIKey(b's key in its overlap)", err)
		equal(t, "b's key in its overlap", got, bOld)
	}},
	{"SaveSigningKeysTouchesOnlyItsOrg", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		retired := clone(a.keys[0])
		retired.State, retired.ExpiresAt = domain.KeyRetired, at(time.Hour)
		ok(t, "SaveSigningKeys(a)", s.SaveSigningKeys(ctx, a.org.ID, []*domain.SigningKey{retired}, []string{a.keys[1].KID}))
		keys, err := s.ListSigningKeys(ctx, a.org.ID)
		ok(t, "ListSigningKeys(a)", err)
		equal(t, "a's keys", keys, []*domain.SigningKey{retired})
	}},
	{"GetUserDoesNotFindAnotherOrgsUser", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		_, err := s.GetUser(ctx, a.org.ID, b.users[1].Sub)
		wantErr(t, "GetUser(a, sub of b)", err, store.ErrNotFound)
		_, err = s.GetUserByName(ctx, a.org.ID, b.users[1].UserName)
		wantErr(t, "GetUserByName(a, name of b)", err, store.ErrNotFound)
		u, err := s.GetUserByName(ctx, a.org.ID, "ALICE")
		ok(t, "GetUserByName(a, shared name)", err)
		equal(t, "GetUserByName(a, shared name)", u, a.users[0])
	}},
	{"UpdateUserOfAnotherOrgIsNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		u := clone(b.users[1])
		u.OrgID, u.Name, u.Disabled = a.org.ID, "Hijacked", false
		wantErr(t, "UpdateUser(a, sub of b)", saveUser(t.Context(), s, u), store.ErrNotFound)
	}},
	{"UpdateUserChangesOnlyItsOrgsUser", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		u := clone(a.users[0])
		u.UserName, u.Name = "alice2", "Changed"
		ok(t, "UpdateUser(a, shared sub)", saveUser(ctx, s, u))
		got, err := s.GetUser(ctx, a.org.ID, sharedSub)
		ok(t, "GetUser(a)", err)
		equal(t, "a's user", got, u)
	}},
	{"DeleteUserOfAnotherOrgIsNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		wantErr(t, "DeleteUser(a, sub of b)", s.DeleteUser(t.Context(), a.org.ID, b.users[1].Sub, nil), store.ErrNotFound)
	}},
	{"DeleteUserRemovesOnlyItsOrgsUser", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		ok(t, "DeleteUser(a, shared sub)", s.DeleteUser(ctx, a.org.ID, sharedSub, nil))
		_, err := s.GetUser(ctx, a.org.ID, sharedSub)
		wantErr(t, "GetUser(a) after delete", err, store.ErrNotFound)
	}},
	{"DeleteUserKeepsTheClientsOfAnotherUsersSessionWithTheSameSID", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		// In b the sid belongs to the user a deletes; in a, to someone else.
		createSession(t, s, b.org.ID, "sid-reused", sharedSub)
		createSession(t, s, a.org.ID, "sid-reused", a.users[1].Sub)
		ok(t, "AddSessionClient(a)", s.AddSessionClient(ctx, a.org.ID, "sid-reused", sharedClient, t0))
		ok(t, "DeleteUser(a, shared sub)", s.DeleteUser(ctx, a.org.ID, sharedSub, nil))
		clients, err := s.ListSessionClients(ctx, a.org.ID, "sid-reused")
		ok(t, "ListSessionClients(a)", err)
		equal(t, "clients of a's other user's session", clients, []string{sharedClient})
		ok(t, "DeleteUser(b, shared sub)", s.DeleteUser(ctx, b.org.ID, sharedSub, nil)) // back to as seeded
		b.users, b.sessions = b.users[1:], b.sessions[1:]
		b.codes, b.tickets = b.codes[1:], b.tickets[1:]
		b.tokens = b.tokens[3:]
	}},
	{"ListUsersListsOnlyItsOrg", func(t *testing.T, s store.Store, a, b *orgRows) {
		users, err := s.ListUsers(t.Context(), a.org.ID, store.UserFilter{Query: "only"})
		ok(t, "ListUsers(a)", err)
		equal(t, "ListUsers(a, only)", users, []*domain.User{a.users[1]})
	}},
	{"GetAppDoesNotFindAnotherOrgsApp", func(t *testing.T, s store.Store, a, b *orgRows) {
		_, err := s.GetApp(t.Context(), a.org.ID, b.apps[1].ClientID)
		wantErr(t, "GetApp(a, client of b)", err, store.ErrNotFound)
	}},
	{"UpdateAndDeleteAppOfAnotherOrgAreNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		x := clone(b.apps[1])
		x.OrgID, x.RedirectURIs = a.org.ID, []string{"https://evil.example/cb"}
		wantErr(t, "UpdateApp(a, client of b)", saveApp(ctx, s, x), store.ErrNotFound)
		wantErr(t, "DeleteApp(a, client of b)", s.DeleteApp(ctx, a.org.ID, b.apps[1].ClientID), store.ErrNotFound)
	}},
	{"UpdateAndDeleteAppChangeOnlyItsOrgsApp", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		x := clone(a.apps[0])
		x.Name = "Renamed"
		ok(t, "UpdateApp(a, shared client)", saveApp(ctx, s, x))
		got, err := s.GetApp(ctx, a.org.ID, sharedClient)
		ok(t, "GetApp(a)", err)
		equal(t, "a's app", got, x)
		ok(t, "DeleteApp(a, shared client)", s.DeleteApp(ctx, a.org.ID, sharedClient))
		_, err = s.GetApp(ctx, a.org.ID, sharedClient)
		wantErr(t, "GetApp(a) after delete", err, store.ErrNotFound)
	}},
	{"SessionsOfAnotherOrgAreNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		own := b.sessions[1]
		_, err := s.GetSession(ctx, a.org.ID, own.SID)
		wantErr(t, "GetSession(a, sid of b)", err, store.ErrNotFound)
		_, err = s.GetSessionByCookie(ctx, a.org.ID, own.CookieHash)
		wantErr(t, "GetSessionByCookie(a, cookie of b)", err, store.ErrNotFound)
		wantErr(t, "EndSession(a, sid of b)", s.EndSession(ctx, a.org.ID, own.SID, at(time.Hour)), store.ErrNotFound)
		renewed := clone(own)
		renewed.OrgID, renewed.CookieHash = a.org.ID, h("planted cookie")
		wantErr(t, "RenewSession(a, sid of b)", s.RenewSession(ctx, renewed), store.ErrNotFound)
		renewed = clone(a.sessions[0])
		renewed.CookieHash, renewed.AuthTime = h("renewed cookie"), at(time.Hour)
		ok(t, "RenewSession(a, shared sid)", s.RenewSession(ctx, renewed))
		list, err := s.ListUserSessions(ctx, a.org.ID, own.UserSub)
		ok(t, "ListUserSessions(a, user of b)", err)
		if len(list) != 0 {
			t.Errorf("ListUserSessions(a, user of b) = %s, want none", show(list))
		}
		got, err := s.GetSessionByCookie(ctx, a.org.ID, renewed.CookieHash)
		ok(t, "GetSessionByCookie(a, renewed cookie)", err)
		equal(t, "a's renewed session", got, renewed)
	}},
	{"EndSessionAndAddSessionClientTouchOnlyItsOrg", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		ok(t, "AddSessionClient(a, shared sid)", s.AddSessionClient(ctx, a.org.ID, sharedSID, "client-late", at(time.Second)))
		ok(t, "EndSession(a, shared sid)", s.EndSession(ctx, a.org.ID, sharedSID, at(time.Hour)))
		got, err := s.GetSession(ctx, a.org.ID, sharedSID)
		ok(t, "GetSession(a)", err)
		equal(t, "a's session EndedAt", got.EndedAt, at(time.Hour))
		clients, err := s.ListSessionClients(ctx, a.org.ID, sharedSID)
		ok(t, "ListSessionClients(a)", err)
		equal(t, "a's session clients", clients, []string{sharedClient, "client-late"})
	}},
	{"AuthRequestsOfAnotherOrgAreNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		own := b.requests[1].ID
		_, err := s.GetAuthRequest(ctx, a.org.ID, own, t0)
		wantErr(t, "GetAuthRequest(a, id of b)", err, store.ErrNotFound)
		wantErr(t, "DeleteAuthRequest(a, id of b)", s.DeleteAuthRequest(ctx, a.org.ID, own), store.ErrNotFound)
		ok(t, "DeleteAuthRequest(a, shared id)", s.DeleteAuthRequest(ctx, a.org.ID, sharedRequest))
		_, err = s.GetAuthRequest(ctx, a.org.ID, sharedRequest, t0)
		wantErr(t, "GetAuthRequest(a) after delete", err, store.ErrNotFound)
	}},
	{"ConsumeCodeAtTheWrongOrgIsNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		_, err := s.ConsumeCode(t.Context(), a.org.ID, b.codes[1].Hash, t0)
		wantErr(t, "ConsumeCode(a, code of b)", err, store.ErrNotFound)
	}},
	{"ConsumeCodeUsesOnlyItsOrgsCode", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		got, err := s.ConsumeCode(ctx, a.org.ID, h(sharedCode), at(time.Second))
		ok(t, "ConsumeCode(a, shared code)", err)
		if got.OrgID != a.org.ID {
			t.Errorf("ConsumeCode(a) returned a code of org %q", got.OrgID)
		}
		_, err = s.ConsumeCode(ctx, a.org.ID, h(sharedCode), at(2*time.Second))
		wantErr(t, "ConsumeCode(a, shared code) again", err, store.ErrAlreadyUsed)
	}},
	{"ConsumeTicketAtTheWrongOrgIsNotFound", func(t *testing.T, s store.Store, a, b *orgRows) {
		_, err := s.ConsumeTicket(t.Context(), a.org.ID, b.tickets[1].Hash, t0)
		wantErr(t, "ConsumeTicket(a, ticket of b)", err, store.ErrNotFound)
	}},
	{"ConsumeTicketUsesOnlyItsOrgsTicket", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		got, err := s.ConsumeTicket(ctx, a.org.ID, h(sharedTicket), at(time.Second))
		ok(t, "ConsumeTicket(a, shared ticket)", err)
		if got.OrgID != a.org.ID {
			t.Errorf("ConsumeTicket(a) returned a ticket of org %q", got.OrgID)
		}
		_, err = s.ConsumeTicket(ctx, a.org.ID, h(sharedTicket), at(2*time.Second))
		wantErr(t, "ConsumeTicket(a, shared ticket) again", err, store.ErrAlreadyUsed)
	}},
	{"TokensOfAnotherOrgAreNotFoundNorRotated", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		_, err := s.GetToken(ctx, a.org.ID, b.tokens[3].Hash)
		wantErr(t, "GetToken(a, token of b)", err, store.ErrNotFound)
		next := newToken(a.org.ID, "rt-next", domain.TokenRefresh, sharedSID, sharedFamily, "")
		if err := s.RotateRefreshToken(ctx, a.org.ID, b.tokens[4].Hash, at(time.Second), next); err == nil {
			t.Fatal("RotateRefreshToken(a, refresh token of b) succeeded")
		}
		_, err = s.GetToken(ctx, a.org.ID, next.Hash)
		wantErr(t, "GetToken of the refused rotation's token", err, store.ErrNotFound)
	}},
	{"RotateRefreshTokenRotatesOnlyItsOrgsToken", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		next := newToken(a.org.ID, "rt-next", domain.TokenRefresh, sharedSID, sharedFamily, "")
		ok(t, "RotateRefreshToken(a, shared)", s.RotateRefreshToken(ctx, a.org.ID, h(sharedRefresh), at(time.Second), next))
		got, err := s.GetToken(ctx, a.org.ID, h(sharedRefresh))
		ok(t, "GetToken(a)", err)
		equal(t, "a's token RotatedAt", got.RotatedAt, at(time.Second))
	}},
	{"RevocationsTouchOnlyTheirOrgsTokens", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		ok(t, "RevokeToken(a, b's hash)", s.RevokeToken(ctx, a.org.ID, b.tokens[3].Hash, at(time.Second)))
		ok(t, "RevokeToken(a, shared)", s.RevokeToken(ctx, a.org.ID, h(sharedAccess), at(time.Second)))
		ok(t, "RevokeTokenFamily(a, shared)", s.RevokeTokenFamily(ctx, a.org.ID, sharedFamily, at(time.Second)))
		ok(t, "RevokeTokensFromCode(a, shared)", s.RevokeTokensFromCode(ctx, a.org.ID, h(sharedCode), at(time.Second)))
		ok(t, "RevokeSessionTokens(a, shared)", s.RevokeSessionTokens(ctx, a.org.ID, sharedSID, at(time.Second)))
		for _, tk := range a.tokens[:3] {
			got, err := s.GetToken(ctx, a.org.ID, tk.Hash)
			ok(t, "GetToken(a)", err)
			equal(t, "a's token RevokedAt", got.RevokedAt, at(time.Second))
		}
	}},
	{"BackchannelOfAnotherOrgIsNotListedNorFinished", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		own := b.outbox[1]
		list, err := s.ListBackchannel(ctx, a.org.ID, own.SID)
		ok(t, "ListBackchannel(a, sid of b)", err)
		attempts, err := s.ListBackchannelAttempts(ctx, a.org.ID, own.ID)
		ok(t, "ListBackchannelAttempts(a, delivery of b)", err)
		if len(list)+len(attempts) != 0 {
			t.Errorf("a sees b's deliveries %s and attempts %s", show(list), show(attempts))
		}
		d := clone(own)
		d.OrgID, d.DeliveredAt = a.org.ID, at(time.Hour)
		wantErr(t, "FinishBackchannelAttempt(a, delivery of b)", s.FinishBackchannelAttempt(ctx, "seed", d,
			&domain.BackchannelAttempt{OrgID: a.org.ID, DeliveryID: own.ID, Attempt: 2, At: at(time.Hour), Status: 200}), store.ErrNotFound)
	}},
	{"FinishBackchannelAttemptUpdatesOnlyItsOrgsDelivery", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		// Claim every due delivery but b's (organizations of earlier cases
		// in this shared store included; they are not looked at again).
		_, err := s.ClaimBackchannel(ctx, store.BackchannelClaim{Owner: "w", Now: at(2 * time.Hour), Lease: time.Minute, Limit: 1000,
			PerOrg: 1000, Held: map[string]int{b.org.ID: 1000}})
		ok(t, "ClaimBackchannel", err)
		d := clone(a.outbox[0])
		d.Attempts, d.LastError, d.DeliveredAt = 2, "", at(2*time.Hour)
		att := &domain.BackchannelAttempt{OrgID: a.org.ID, DeliveryID: d.ID, Attempt: 2, At: at(2 * time.Hour), Status: 200}
		ok(t, "FinishBackchannelAttempt(a, shared)", s.FinishBackchannelAttempt(ctx, "w", d, att))
		list, err := s.ListBackchannel(ctx, a.org.ID, sharedSID)
		ok(t, "ListBackchannel(a)", err)
		equal(t, "a's delivery", list, []*domain.BackchannelDelivery{d})
		attempts, err := s.ListBackchannelAttempts(ctx, a.org.ID, d.ID)
		ok(t, "ListBackchannelAttempts(a)", err)
		equal(t, "a's attempts", attempts, append(slices.Clone(a.attempts[d.ID]), att))
	}},
	{"AdminTokensOfAnotherOrgAreNotFoundNorChanged", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		own := b.admin[1]
		_, err := s.FindAdminToken(ctx, a.org.ID, own.Hash)
		wantErr(t, "FindAdminToken(a, token of b)", err, store.ErrNotFound)
		wantErr(t, "RevokeAdminToken(a, token of b)", s.RevokeAdminToken(ctx, a.org.ID, own.ID, at(time.Hour)), store.ErrNotFound)
		ok(t, "TouchAdminToken(a, token of b)", s.TouchAdminToken(ctx, a.org.ID, own.ID, at(time.Hour)))
		ok(t, "RevokeAdminToken(a, shared)", s.RevokeAdminToken(ctx, a.org.ID, sharedAdmin, at(time.Hour)))
		ok(t, "TouchAdminToken(a, shared)", s.TouchAdminToken(ctx, a.org.ID, sharedAdmin, at(time.Hour)))
		got, err := s.FindAdminToken(ctx, a.org.ID, h("admin token shared"))
		ok(t, "FindAdminToken(a, shared)", err)
		want := clone(a.admin[0])
		want.RevokedAt, want.LastUsedAt = at(time.Hour), at(time.Hour)
		equal(t, "a's admin token", got, want)
	}},
	{"AppendAndListAuditStayInTheirOrg", func(t *testing.T, s store.Store, a, b *orgRows) {
		ctx := t.Context()
		e := &domain.AuditEvent{OrgID: a.org.ID, At: at(time.Hour), Actor: "admin", Action: "user.delete", Result: "ok", Detail: map[string]string{}}
		ok(t, "AppendAudit(a)", s.AppendAudit(ctx, e))
		events, err := s.ListAudit(ctx, a.org.ID, store.AuditFilter{Limit: 100})
		ok(t, "ListAudit(a)", err)
		equal(t, "ListAudit(a)", events, reversed(append(slices.Clone(a.audit), e)))
	}},
	{"DeleteOrgRemovesOnlyThatOrg", func(t *testing.T, s store.Store, a, b *orgRows) {
		ok(t, "DeleteOrg(a)", s.DeleteOrg(t.Context(), a.org.ID))
		checkGone(t, s, a)
	}},
}
