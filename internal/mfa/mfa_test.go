package mfa_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/mfa"
	"github.com/latchkey/latchkey/internal/mfa/mfatest"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

const publicURL = "https://id.example.com"

type fixture struct {
	svc   *mfa.Service
	st    store.Store
	clock *clock
	orgs  map[string]*domain.Organization
	users map[string]*domain.User
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFixture(t testing.TB, open func(testing.TB) store.Store) *fixture {
	st := open(t)
	master, err := secret.NewMasterKey(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	// Mid-step, so ±1 step stays inside one test's arithmetic.
	c := &clock{t: time.Unix(1_800_000_015, 0).UTC()}
	f := &fixture{svc: &mfa.Service{Store: st, Master: master, PublicURL: publicURL, Now: c.now}, st: st, clock: c,
		orgs: map[string]*domain.Organization{}, users: map[string]*domain.User{}}
	for _, id := range []string{"acme", "globex"} {
		o := &domain.Organization{ID: id, Name: id, Settings: domain.DefaultOrgSettings(), CreatedAt: c.now(), UpdatedAt: c.now()}
		if err := st.CreateOrg(t.Context(), o, nil, nil); err != nil {
			t.Fatal(err)
		}
		f.orgs[id] = o
		// The same sub in both organizations: isolation must not rest on subs being unique.
		u := &domain.User{OrgID: id, Sub: "sub-alice", UserName: "alice", Role: domain.RoleUser, CreatedAt: c.now(), UpdatedAt: c.now()}
		if err := st.CreateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		f.users[id] = u
	}
	return f
}

func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func code(t testing.TB, secretKey string, at time.Time) string {
	t.Helper()
	return must(totp.GenerateCodeCustom(secretKey, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}))(t)
}

func TestTOTP_AcceptsOneStepEitherSideAndRefusesReplays(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFixture(t, open)
		ctx, org, u := t.Context(), f.orgs["acme"], f.users["acme"]
		e := must(f.svc.BeginTOTP(ctx, org, u))(t)
		if !strings.HasPrefix(e.QR, "data:image/png;base64,") || !strings.Contains(e.URL, "secret="+e.Secret) {
			t.Fatalf("enrolment = %+v, want a PNG QR code and an otpauth URL with the secret", e)
		}
		if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, code(t, e.Secret, f.clock.now())); !errors.Is(err, mfa.ErrInvalid) {
			t.Fatalf("code before confirmation: err = %v, want ErrInvalid", err)
		}
		if err := f.svc.ConfirmTOTP(ctx, org.ID, u.Sub, "000000"); !errors.Is(err, mfa.ErrInvalid) {
			t.Fatalf("wrong first code: err = %v, want ErrInvalid", err)
		}
		first := code(t, e.Secret, f.clock.now())
		if err := f.svc.ConfirmTOTP(ctx, org.ID, u.Sub, first); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, first); !errors.Is(err, mfa.ErrReplay) {
			t.Fatalf("the confirming code again: err = %v, want ErrReplay", err)
		}
		// The next step's code (a fast phone clock) is accepted once.
		next := code(t, e.Secret, f.clock.now().Add(30*time.Second))
		if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, next); err != nil {
			t.Fatalf("code one step ahead: %v", err)
		}
		if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, next); !errors.Is(err, mfa.ErrReplay) {
			t.Fatalf("code one step ahead again: err = %v, want ErrReplay", err)
		}
		// Two steps ahead is outside the window; so is two steps behind.
		f.clock.add(90 * time.Second)
		for _, d := range []time.Duration{60 * time.Second, -60 * time.Second} {
			if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, code(t, e.Secret, f.clock.now().Add(d))); !errors.Is(err, mfa.ErrInvalid) {
				t.Errorf("code %v away: err = %v, want ErrInvalid", d, err)
			}
		}
		// One step behind (a slow phone clock) works.
		if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, code(t, e.Secret, f.clock.now().Add(-30*time.Second))); err != nil {
			t.Errorf("code one step behind: %v", err)
		}
		// The secret is sealed at rest, and another organization's user with
		// the same sub has no generator.
		row := must(f.st.GetTOTP(ctx, org.ID, u.Sub))(t)
		if strings.Contains(string(row.Sealed), e.Secret) {
			t.Error("TOTP secret stored in clear")
		}
		if err := f.svc.CheckTOTP(ctx, "globex", u.Sub, code(t, e.Secret, f.clock.now())); !errors.Is(err, mfa.ErrInvalid) {
			t.Errorf("acme's code at globex: err = %v, want ErrInvalid", err)
		}
		if _, err := f.svc.BeginTOTP(ctx, org, u); err == nil {
			t.Error("a second enrolment over a confirmed generator was accepted")
		}
	})
}

func TestRecoveryCodes_AreSingleUseAndCountDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFixture(t, open)
		ctx, u := t.Context(), f.users["acme"]
		codes := must(f.svc.NewRecoveryCodes(ctx, "acme", u.Sub))(t)
		if len(codes) != 10 {
			t.Fatalf("got %d codes, want 10", len(codes))
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if len(c) != 19 || seen[c] {
				t.Fatalf("code %q: want 16 characters in groups of four, all different", c)
			}
			seen[c] = true
		}
		// Typed in capitals without dashes still works; once.
		left, err := f.svc.UseRecoveryCode(ctx, "acme", u.Sub, strings.ToUpper(strings.ReplaceAll(codes[0], "-", " ")))
		if err != nil || left != 9 {
			t.Fatalf("first use: left=%d err=%v, want 9 left", left, err)
		}
		if _, err := f.svc.UseRecoveryCode(ctx, "acme", u.Sub, codes[0]); !errors.Is(err, mfa.ErrReplay) {
			t.Fatalf("second use: err = %v, want ErrReplay", err)
		}
		if _, err := f.svc.UseRecoveryCode(ctx, "globex", u.Sub, codes[1]); !errors.Is(err, mfa.ErrInvalid) {
			t.Fatalf("acme's code at globex: err = %v, want ErrInvalid", err)
		}
		// New codes replace the old ones.
		must(f.svc.NewRecoveryCodes(ctx, "acme", u.Sub))(t)
		if _, err := f.svc.UseRecoveryCode(ctx, "acme", u.Sub, codes[1]); !errors.Is(err, mfa.ErrInvalid) {
			t.Fatalf("old code after renewal: err = %v, want ErrInvalid", err)
		}
	})
}

func register(t testing.TB, f *fixture, a *mfatest.Authenticator, orgID string) *domain.Passkey {
	t.Helper()
	ctx := t.Context()
	c := must(f.svc.BeginRegistration(ctx, f.orgs[orgID], f.users[orgID]))(t)
	resp := must(a.Create(c.Options))(t)
	return must(f.svc.FinishRegistration(ctx, f.orgs[orgID], f.users[orgID], c.Token, "Laptop", resp))(t)
}

func TestPasskey_RegistersAndSignsInWithAndWithoutUsername(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFixture(t, open)
		ctx, org, u := t.Context(), f.orgs["acme"], f.users["acme"]
		a := mfatest.New(publicURL)
		k := register(t, f, a, "acme")
		if k.Name != "Laptop" || len(k.PublicKey) == 0 || len(k.AAGUID) != 16 || len(k.Transports) != 1 {
			t.Fatalf("stored passkey = %+v", k)
		}
		c := must(f.svc.BeginSecondFactor(ctx, org, u))(t)
		resp := must(a.Get(c.Options))(t)
		got := must(f.svc.FinishSecondFactor(ctx, org, u, c.Token, resp))(t)
		if got.AMR[0] != domain.AMRHardwareKey || !got.UserVerified || got.Passkey.SignCount != 1 {
			t.Fatalf("second factor = %+v, want hwk, user verified, count 1", got)
		}
		// The same answer again: its challenge is spent.
		if _, err := f.svc.FinishSecondFactor(ctx, org, u, c.Token, resp); !errors.Is(err, mfa.ErrExpired) {
			t.Fatalf("replayed assertion: err = %v, want ErrExpired", err)
		}
		p := must(f.svc.BeginPasswordless(ctx, org, false))(t)
		got = must(f.svc.FinishPasswordless(ctx, org, p.Token, must(a.Get(p.Options))(t)))(t)
		if got.User.UserName != "alice" || got.Passkey.SignCount != 2 {
			t.Fatalf("passwordless = user %q count %d, want alice and 2", got.User.UserName, got.Passkey.SignCount)
		}
		stored := must(f.st.GetPasskey(ctx, "acme", k.ID))(t)
		if stored.LastUsedAt.IsZero() || stored.SignCount != 2 {
			t.Errorf("stored after use = %+v", stored)
		}
		// A synced passkey reports swk.
		s := mfatest.New(publicURL)
		s.Synced, s.NoCounter = true, true
		register(t, f, s, "acme")
		p = must(f.svc.BeginPasswordless(ctx, org, true))(t)
		got = must(f.svc.FinishPasswordless(ctx, org, p.Token, must(s.Get(p.Options))(t)))(t)
		if got.AMR[0] != domain.AMRSoftwareKey {
			t.Errorf("synced passkey amr = %v, want swk", got.AMR)
		}
	})
}

func TestPasskey_CloneWithABackwardsSignCountIsRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFixture(t, open)
		ctx, org, u := t.Context(), f.orgs["acme"], f.users["acme"]
		a := mfatest.New(publicURL)
		register(t, f, a, "acme")
		for range 3 {
			c := must(f.svc.BeginSecondFactor(ctx, org, u))(t)
			must(f.svc.FinishSecondFactor(ctx, org, u, c.Token, must(a.Get(c.Options))(t)))(t)
		}
		// A copy of the key made earlier still counts from 1.
		cred := a.Credentials()[0]
		cred.Count = 1
		c := must(f.svc.BeginSecondFactor(ctx, org, u))(t)
		var opts struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		_ = jsonUnmarshal(c.Options, &opts)
		resp := must(a.Assert(cred, opts.PublicKey.Challenge))(t)
		got, err := f.svc.FinishSecondFactor(ctx, org, u, c.Token, resp)
		if !errors.Is(err, mfa.ErrClone) || got == nil || got.Passkey == nil {
			t.Fatalf("backwards sign count: err = %v, want ErrClone with the passkey named", err)
		}
		if k := must(f.st.GetPasskey(ctx, "acme", cred.ID))(t); k.SignCount != 3 {
			t.Errorf("stored count after the clone = %d, want 3 (unchanged)", k.SignCount)
		}
	})
}

func TestPasskey_IsNeverAcceptedByAnotherOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFixture(t, open)
		ctx := t.Context()
		a := mfatest.New(publicURL)
		register(t, f, a, "acme")
		// globex's user has the same sub: the user handle alone would match.
		p := must(f.svc.BeginPasswordless(ctx, f.orgs["globex"], false))(t)
		if _, err := f.svc.FinishPasswordless(ctx, f.orgs["globex"], p.Token, must(a.Get(p.Options))(t)); !errors.Is(err, mfa.ErrUnknownCredential) {
			t.Fatalf("acme passkey at globex passwordless: err = %v, want ErrUnknownCredential", err)
		}
		// As a second factor at globex, whose alice has a passkey of her own
		// (the options list only that one; the authenticator is made to
		// answer with acme's key anyway).
		register(t, f, mfatest.New(publicURL), "globex")
		c := must(f.svc.BeginSecondFactor(ctx, f.orgs["globex"], f.users["globex"]))(t)
		var opts struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		_ = jsonUnmarshal(c.Options, &opts)
		resp := must(a.Assert(a.Credentials()[0], opts.PublicKey.Challenge))(t)
		if _, err := f.svc.FinishSecondFactor(ctx, f.orgs["globex"], f.users["globex"], c.Token, resp); !errors.Is(err, mfa.ErrUnknownCredential) {
			t.Fatalf("acme passkey as globex second factor: err = %v, want ErrUnknownCredential", err)
		}
		// A challenge of one organization cannot finish at another.
		p = must(f.svc.BeginPasswordless(ctx, f.orgs["acme"], false))(t)
		if _, err := f.svc.FinishPasswordless(ctx, f.orgs["globex"], p.Token, must(a.Get(p.Options))(t)); !errors.Is(err, mfa.ErrExpired) {
			t.Fatalf("acme challenge finished at globex: err = %v, want ErrExpired", err)
		}
		// A foreign origin is refused.
		p = must(f.svc.BeginPasswordless(ctx, f.orgs["acme"], false))(t)
		a.Origin = "https://evil.example"
		if _, err := f.svc.FinishPasswordless(ctx, f.orgs["acme"], p.Token, must(a.Get(p.Options))(t)); !errors.Is(err, mfa.ErrInvalid) {
			t.Fatalf("assertion from another origin: err = %v, want ErrInvalid", err)
		}
	})
}

func TestPasskey_PasswordlessNeedsUserVerification(t *testing.T) {
	f := newFixture(t, testdb.SQLite)
	ctx := t.Context()
	a := mfatest.New(publicURL)
	register(t, f, a, "acme")
	a.UserVerified = false
	p := must(f.svc.BeginPasswordless(ctx, f.orgs["acme"], false))(t)
	if _, err := f.svc.FinishPasswordless(ctx, f.orgs["acme"], p.Token, must(a.Get(p.Options))(t)); !errors.Is(err, mfa.ErrInvalid) {
		t.Fatalf("passwordless without user verification: err = %v, want ErrInvalid", err)
	}
}
