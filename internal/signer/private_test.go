package signer

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/domain"
	"github.com/latchkey/latchkey/internal/secret"
	"github.com/latchkey/latchkey/internal/store/testdb"
)

// A parsed private key is dropped once rotation has deleted its key, so
// a long-running node does not keep every key it ever signed with.
func TestPrivateKeysDeletedByRotationAreDropped(t *testing.T) {
	ctx := context.Background()
	st := testdb.SQLite(t)
	mk, err := secret.NewMasterKey(bytes.Repeat([]byte{1}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := New(st, mk, func() time.Time { return now })
	keys, err := k.InitialKeys("acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOrg(ctx, &domain.Organization{ID: "acme", Name: "Acme", Settings: domain.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}, nil, keys); err != nil {
		t.Fatal(err)
	}
	first, err := k.active(ctx, "acme", domain.AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	cached := func(kid string) bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		_, ok := k.private["acme"][kid]
		return ok
	}
	if !cached(first.kid) {
		t.Fatal("the active key was not kept parsed")
	}
	if _, err := k.Rotate(ctx, "acme", []string{domain.AlgRS256}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.active(ctx, "acme", domain.AlgRS256); err != nil {
		t.Fatal(err)
	}
	if !cached(first.kid) {
		t.Fatal("a retired key still published was dropped")
	}
	now = now.Add(RetireGrace + time.Second)
	if _, err := k.Rotate(ctx, "acme", []string{domain.AlgRS256}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.active(ctx, "acme", domain.AlgRS256); err != nil {
		t.Fatal(err)
	}
	if cached(first.kid) {
		t.Fatal("the deleted key is still kept parsed")
	}
}
