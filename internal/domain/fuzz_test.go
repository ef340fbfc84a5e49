package domain

import (
	"strconv"
	"testing"
)

// FuzzParseSeconds: the lifetime parser never panics, never returns a
// negative number, and reads back its own plain output.
func FuzzParseSeconds(f *testing.F) {
	for _, s := range []string{"1296000", "1.296.000", "1,296,000", "1 296 000", "1\u00a0296\u00a0000", "1\u202f296", "1'296'000",
		"1_296_000", " 36000 ", "12,34", "1.5", "-1", "+5", "", "1.296,000", "99999999999999999999", "\xff", "1.\xff00", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSeconds(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSeconds(%q) = %d", s, n)
		}
		if m, err := ParseSeconds(strconv.FormatInt(n, 10)); err != nil || m != n {
			t.Fatalf("round trip of %d: %d %v", n, m, err)
		}
		_ = DescribeSeconds(n)
	})
}

// FuzzAuditText: whatever a request puts in an audit target is stored as
// valid UTF-8 without control characters, within the length bound.
func FuzzAuditText(f *testing.F) {
	for _, s := range []string{"alice", "\xff", "users/\x00", "\u202e", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AuditText(s)
		if AuditText(got) != got || len(got) > MaxAuditText+len("…") {
			t.Fatalf("AuditText(%q) = %q is not stable or too long", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("AuditText(%q) = %q keeps a control character", s, got)
			}
		}
	})
}
