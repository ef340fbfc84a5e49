package mfa_test

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/mfa/mfatest"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// BenchmarkPasskeySignIn measures one passwordless passkey sign-in's
// server work: a challenge stored, the assertion verified (ES256), the
// sign count advanced, on SQLite.
func BenchmarkPasskeySignIn(b *testing.B) {
	f := newFixture(b, testdb.SQLite)
	ctx, org := b.Context(), f.orgs["acme"]
	a := mfatest.New(publicURL)
	register(b, f, a, "acme")
	b.ResetTimer()
	for b.Loop() {
		p := must(f.svc.BeginPasswordless(ctx, org, false))(b)
		resp := must(a.Get(p.Options))(b)
		must(f.svc.FinishPasswordless(ctx, org, p.Token, resp))(b)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}

// BenchmarkTOTPSecondFactor measures checking one one-time code: the
// secret opened, three steps computed, the step recorded, on SQLite.
func BenchmarkTOTPSecondFactor(b *testing.B) {
	f := newFixture(b, testdb.SQLite)
	ctx, org, u := b.Context(), f.orgs["acme"], f.users["acme"]
	e := must(f.svc.BeginTOTP(ctx, org, u))(b)
	if err := f.svc.ConfirmTOTP(ctx, org.ID, u.Sub, code(b, e.Secret, f.clock.now())); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		// Each sign-in happens a step later: a code is good once.
		f.clock.add(30 * time.Second)
		if err := f.svc.CheckTOTP(ctx, org.ID, u.Sub, code(b, e.Secret, f.clock.now())); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "signins/s")
}
