package signer_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/signer"
	"github.com/latchkey/latchkey/internal/store"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newKeys(t testing.TB) (*signer.Keys, store.Store, *clock) {
	st := testdb.SQLite(t)
	mk, err := secret.NewMasterKey(bytes.Repeat([]byte{1}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	k := signer.New(st, mk, c.now)
	keys, err := k.InitialKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	now := c.now()
	if err := st.CreateOrg(context.Background(), &domain.Organization{ID: "acme", Name: "Acme", Settings: domain.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}, nil, keys); err != nil {
		t.Fatal(err)
	}
	return k, st, c
}

type claims struct {
	Sub string `json:"sub"`
}

func TestSignVerify_EveryAlgorithmRoundTrips(t *testing.T) {
	k, _, _ := newKeys(t)
	ctx := context.Background()
	for _, alg := range domain.SigningAlgs {
		tok, err := k.Sign(ctx, "acme", alg, "JWT", claims{Sub: "s-" + alg})
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		var got claims
		if err := k.Verify(ctx, "acme", tok, &got); err != nil || got.Sub != "s-"+alg {
			t.Fatalf("%s verify: %v %+v", alg, err, got)
		}
		// One flipped signature byte fails.
		bad := []byte(tok)
		bad[len(bad)-3] ^= 1
		if err := k.Verify(ctx, "acme", string(bad), &got); !errors.Is(err, signer.ErrBadSignature) {
			t.Fatalf("%s: tampered token verified: %v", alg, err)
		}
	}
}

func TestRotate_NextKeyPublishedBeforeItSignsAndRetiredKeyStaysUntilGrace(t *testing.T) {
	k, st, c := newKeys(t)
	ctx := context.Background()
	before, _ := st.ListSigningKeys(ctx, "acme")
	var nextKID string
	for _, key := range before {
		if key.Alg == domain.AlgRS256 && key.State == domain.KeyNext {
			nextKID = key.KID
		}
	}
	set, _ := k.JWKS(ctx, "acme")
	if len(set.Key(nextKID)) != 1 {
		t.Fatal("the next key is not published before rotation")
	}
	oldTok, _ := k.Sign(ctx, "acme", domain.AlgRS256, "JWT", claims{Sub: "old"})
	if _, err := k.Rotate(ctx, "acme", []string{domain.AlgRS256}); err != nil {
		t.Fatal(err)
	}
	newTok, _ := k.Sign(ctx, "acme", domain.AlgRS256, "JWT", claims{Sub: "new"})
	if kidOf(t, newTok) != nextKID {
		t.Fatalf("after rotation the former next key (%s) must sign, got %s", nextKID, kidOf(t, newTok))
	}
	var got claims
	if err := k.Verify(ctx, "acme", oldTok, &got); err != nil {
		t.Fatalf("a token of the retired key no longer verifies: %v", err)
	}
	c.t = c.t.Add(signer.RetireGrace + time.Second)
	if _, err := k.Rotate(ctx, "acme", []string{domain.AlgES256}); err != nil {
		t.Fatal(err)
	}
	if err := k.Verify(ctx, "acme", oldTok, &got); err == nil {
		t.Fatal("the retired key is still published after its grace period")
	}
}

func TestPrivateKeysAreSealedAtRest(t *testing.T) {
	_, st, _ := newKeys(t)
	keys, _ := st.ListSigningKeys(context.Background(), "acme")
	for _, key := range keys {
		if _, err := x509.ParsePKCS8PrivateKey(key.Sealed); err == nil {
			t.Fatalf("key %s is stored as a plain PKCS#8 key", key.KID)
		}
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	var got struct {
		Kid string `json:"kid"`
	}
	if err := decodeHeader(tok, &got); err != nil {
		t.Fatal(err)
	}
	return got.Kid
}

// BenchmarkSign measures signing an id_token-sized claim set per algorithm.
func BenchmarkSign(b *testing.B) {
	k, _, _ := newKeys(b)
	ctx := context.Background()
	for _, alg := range domain.SigningAlgs {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Sign(ctx, "acme", alg, "JWT", claims{Sub: "9f1c2b7e-2a7d-4a8e-9d6e-5c4b3a2f1e0d"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
