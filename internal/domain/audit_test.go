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

func TestJSONHasLoneSurrogate(t *testing.T) {
	for in, want := range map[string]bool{
		`{"name":"\ud800"}`:       true,
		`{"name":"\uDC00x"}`:      true,
		`{"name":"a\ud83d"}`:      true,
		`{"name":"\ud83d\ude00"}`: false, // a pair: 😀
		`{"name":"\ud83d\u0041"}`: true,
		`{"name":"\\ud800"}`:      false, // an escaped backslash, then text
		`{"name":"\"\ud800"}`:     true,
		`{"\ud800":"x"}`:          true,
		`{"name":"plain é"}`:      false,
		`{"name":"\u00e9\n"}`:     false,
		`["\ud800`:                true,
		`{"a":"\u12"}`:            false,
	} {
		if got := JSONHasLoneSurrogate([]byte(in)); got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
}
