package domain

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAuditText_MakesRequestInputSafeToStore(t *testing.T) {
	for in, want := range map[string]string{
		"alice":             "alice",
		"\xff":              "\uFFFD",
		"a\x00b\nc\x1b[31m": "a\uFFFDb\uFFFDc\uFFFD[31m",
		"users/%ff":         "users/%ff",
		"Zoë \u202e":        "Zoë \u202e",
		"\xed\xa0\x80 lone": "\uFFFD\uFFFD\uFFFD lone",
	} {
		if got := AuditText(in); got != want {
			t.Errorf("AuditText(%q) = %q, want %q", in, got, want)
		}
	}
	long := AuditText(strings.Repeat("é", 1000))
	if !utf8.ValidString(long) || len(long) > MaxAuditText+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("long value: %d bytes, valid %v", len(long), utf8.ValidString(long))
	}
}
