package ticket

import (
	"bytes"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/domain"
)

// FuzzOrg: a value is taken for a ticket only when it has exactly a
// ticket's shape, so a malformed ?refresh-token= is never looked up.
func FuzzOrg(f *testing.F) {
	v, _, err := New(bytes.NewReader(bytes.Repeat([]byte{7}, 64)), "acme")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{v, "acme.", ".abc", "acme..x", "ACME." + strings.Repeat("a", secretLen), "acme." + strings.Repeat("a", secretLen+1),
		"a." + strings.Repeat("-", secretLen), "acme." + strings.Repeat("\xff", secretLen), strings.Repeat("a", 63) + "." + strings.Repeat("_", secretLen), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		org, ok := Org(s)
		if !ok {
			return
		}
		if domain.ValidateOrgID(org) != nil || len(s) > MaxLen || !strings.HasPrefix(s, org+".") || len(s) != len(org)+1+secretLen {
			t.Fatalf("Org(%q) = %q", s, org)
		}
		if len(Hash(s)) != 32 {
			t.Fatal("hash length")
		}
	})
}
