package domain

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on free-text and URL fields. They are generous for real data and
// small enough that no request can make a row unreasonably large.
const (
	MaxNameLen  = 200
	MaxEmailLen = 254
	MaxURLLen   = 2048
	MaxURIs     = 50
)

// checkText validates a free-text field: valid UTF-8, no control characters,
// at most max runes. Empty is allowed unless required.
func checkText(field, v string, max int, required bool) error {
	if !utf8.ValidString(v) {
		return Invalid(field, "must be valid UTF-8")
	}
	if required && strings.TrimSpace(v) == "" {
		return Invalid(field, "is required")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return Invalid(field, "must be at most %d characters (got %d)", max, n)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return Invalid(field, "must not contain control characters")
		}
	}
	return nil
}

// checkEmail does the shape check an identity server can honestly make: one
// "@" with something on both sides, no spaces. Deliverability is not ours to
// judge.
func checkEmail(field, v string) error {
	if v == "" {
		return nil
	}
	if err := checkText(field, v, MaxEmailLen, false); err != nil {
		return err
	}
	at := strings.LastIndexByte(v, '@')
	if at <= 0 || at == len(v)-1 || strings.ContainsAny(v, " \t") {
		return Invalid(field, "must be an email address like name@example.com")
	}
	return nil
}

// CheckHTTPURL validates an absolute http(s) URL without a fragment or
// credentials (empty allowed unless required).
func CheckHTTPURL(field, v string, required bool) error {
	if v == "" {
		if required {
			return Invalid(field, "is required")
		}
		return nil
	}
	u, err := parseAbsURL(field, v)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalid(field, "must be an http or https URL")
	}
	return nil
}

func parseAbsURL(field, v string) (*url.URL, error) {
	if !utf8.ValidString(v) {
		return nil, Invalid(field, "must be valid UTF-8")
	}
	if len(v) > MaxURLLen {
		return nil, Invalid(field, "must be at most %d bytes", MaxURLLen)
	}
	for _, r := range v {
		if r <= ' ' || r == 0x7f {
			return nil, Invalid(field, "must not contain spaces or control characters")
		}
	}
	u, err := url.Parse(v)
	if err != nil || !u.IsAbs() {
		return nil, Invalid(field, "must be an absolute URL (got %q)", v)
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return nil, Invalid(field, "must not contain a fragment (#)")
	}
	if u.User != nil {
		return nil, Invalid(field, "must not contain credentials")
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host == "" {
		return nil, Invalid(field, "must have a host")
	}
	return u, nil
}

// CheckRedirectURI validates a redirect or post-logout redirect URI: an
// absolute URI without fragment; http(s), or a private-use scheme with a dot
// (RFC 8252 §7.1) for native apps.
func CheckRedirectURI(field, v string) error {
	u, err := parseAbsURL(field, v)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "http" || u.Scheme == "https":
	case strings.Contains(u.Scheme, "."):
	default:
		return Invalid(field, "must use http, https or a private-use scheme like com.example.app (got %q)", u.Scheme)
	}
	return nil
}

func checkURIList(field string, vs []string) error {
	if len(vs) > MaxURIs {
		return Invalid(field, "at most %d URIs", MaxURIs)
	}
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		if err := CheckRedirectURI(field, v); err != nil {
			return err
		}
		if seen[v] {
			return Invalid(field, "lists %q twice", v)
		}
		seen[v] = true
	}
	return nil
}

// JSONHasLoneSurrogate reports whether JSON text escapes a UTF-16
// surrogate that is not part of a pair ("\ud800" alone). encoding/json
// would quietly turn it into U+FFFD, storing something the client never
// sent; an API refuses it instead.
func JSONHasLoneSurrogate(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(data) {
				return false
			}
			if data[i+1] != 'u' {
				i++ // skip the escaped character
				continue
			}
			r, ok := hex4(data, i+2)
			if !ok {
				return false // not valid JSON; the parser says so
			}
			switch {
			case r >= 0xD800 && r <= 0xDBFF:
				if i+11 < len(data) && data[i+6] == '\\' && data[i+7] == 'u' {
					if lo, ok := hex4(data, i+8); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 11
						continue
					}
				}
				return true
			case r >= 0xDC00 && r <= 0xDFFF:
				return true
			}
			i += 5
		}
	}
	return false
}

func hex4(data []byte, at int) (rune, bool) {
	if at+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
