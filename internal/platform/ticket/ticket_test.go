package ticket

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/secret"
)

func TestNew_NamesTheOrgAndCarries256RandomBits(t *testing.T) {
	v, h, err := New(rand.Reader, "my-community")
	if err != nil {
		t.Fatal(err)
	}
	org, ok := Org(v)
	if !ok || org != "my-community" || !strings.HasPrefix(v, "my-community.") || len(v) != len("my-community.")+43 {
		t.Fatalf("ticket %q → org %q, %v", v, org, ok)
	}
	if !bytes.Equal(h, secret.Hash(v)) || !bytes.Equal(Hash(v), h) {
		t.Fatal("hash is not the SHA-256 of the whole value")
	}
	w, _, _ := New(rand.Reader, "my-community")
	if w == v {
		t.Fatal("two tickets are equal")
	}
	if _, _, err := New(bytes.NewReader(nil), "acme"); err == nil {
		t.Fatal("a failing random source went unnoticed")
	}
}

func TestOrg_RefusesWhatIsNotATicket(t *testing.T) {
	good := "acme." + strings.Repeat("A", 43)
	if org, ok := Org(good); !ok || org != "acme" {
		t.Fatalf("Org(%q) = %q, %v", good, org, ok)
	}
	for _, v := range []string{
		"", "acme", "acme.", ".AAAA", "acme.short",
		"acme." + strings.Repeat("A", 44),                       // too long a secret
		"acme." + strings.Repeat("A", 42) + "=",                 // padding is not base64url without padding
		"acme." + strings.Repeat("A", 42) + "/",                 // standard base64, not URL-safe
		"ACME." + strings.Repeat("A", 43),                       // not an org id
		"a." + strings.Repeat("A", 43),                          // org id too short
		"ac.me." + strings.Repeat("A", 40),                      // dots in the org part
		strings.Repeat("a", 64) + "." + strings.Repeat("A", 43), // org id too long
	} {
		if org, ok := Org(v); ok {
			t.Errorf("Org(%q) = %q, accepted", v, org)
		}
	}
}
