package domain

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ParseSeconds reads a whole number of seconds as people type it: plain
// digits ("1296000") or digits grouped in threes by one kind of thousands
// separator — a dot, comma, apostrophe, underscore, space, no-break space or
// narrow no-break space ("1.296.000", "1,296,000", "1 296 000"). Surrounding spaces
// are ignored. Anything else — a sign, a decimal part ("1.5"), irregular
// groups ("12,34"), two kinds of separator — is an error, so a typo is never
// read as a different number. Range checks are the caller's.
func ParseSeconds(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("is empty; want a whole number of seconds")
	}
	var groups []string
	var sep rune
	start := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			continue
		case isThousandsSeparator(r):
			if sep != 0 && r != sep {
				return 0, errors.New("mixes thousands separators; want a whole number of seconds like 1296000 or 1.296.000")
			}
			sep = r
			groups = append(groups, s[start:i])
			start = i + utf8.RuneLen(r)
		default:
			return 0, errors.New("must be a whole number of seconds like 36000 or 1.296.000")
		}
	}
	groups = append(groups, s[start:])
	if len(groups) > 1 {
		if n := len(groups[0]); n < 1 || n > 3 {
			return 0, errors.New("has misplaced thousands separators; group digits in threes like 1.296.000")
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return 0, errors.New("has misplaced thousands separators; group digits in threes like 1.296.000")
			}
		}
	}
	digits := strings.Join(groups, "")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, errors.New("is too large")
	}
	return n, nil
}

func isThousandsSeparator(r rune) bool {
	switch r {
	case '.', ',', '\'', '_', ' ', '\u00a0', '\u202f':
		return true
	}
	return false
}

// secondUnits are the units DescribeSeconds uses, largest first. Days are
// the largest: months and years have no fixed length.
var secondUnits = []struct {
	name string
	size int64
}{
	{"day", 86400},
	{"hour", 3600},
	{"minute", 60},
	{"second", 1},
}

// DescribeSeconds renders a number of seconds in words, largest unit first,
// leaving out zero parts: 36000 → "10 hours", 1296000 → "15 days",
// 90 → "1 minute 30 seconds", 0 → "0 seconds".
func DescribeSeconds(n int64) string {
	if n == 0 {
		return "0 seconds"
	}
	var b strings.Builder
	if n < 0 {
		b.WriteString("minus ")
		if n == -n { // math.MinInt64 has no positive counterpart
			return strconv.FormatInt(n, 10) + " seconds"
		}
		n = -n
	}
	first := true
	for _, u := range secondUnits {
		q := n / u.size
		if q == 0 {
			continue
		}
		n -= q * u.size
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(strconv.FormatInt(q, 10))
		b.WriteByte(' ')
		b.WriteString(u.name)
		if q != 1 {
			b.WriteByte('s')
		}
	}
	return b.String()
}
