package domain

import (
	"strings"
	"testing"
)

func TestParseSeconds_AcceptsDigitsWithOrWithoutThousandsSeparators(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1296000", 1296000},
		{"1.296.000", 1296000},
		{"1,296,000", 1296000},
		{"1 296 000", 1296000},
		{"1\u00a0296\u00a0000", 1296000},
		{"1\u202f296\u202f000", 1296000},
		{"1'296'000", 1296000},
		{"1_296_000", 1296000},
		{"  36000\n", 36000},
		{"36,000", 36000},
		{"999", 999},
		{"0", 0},
		{"060", 60},
		{"9223372036854775807", 9223372036854775807},
	}
	for _, tt := range tests {
		got, err := ParseSeconds(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSeconds(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSeconds_RefusesWhatIsNotAWholeNumberOfSeconds(t *testing.T) {
	tests := []struct {
		in      string
		message string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"abc", "whole number"},
		{"-60", "whole number"},
		{"+60", "whole number"},
		{"1.5", "threes"},
		{"12,34", "threes"},
		{"1,2345", "threes"},
		{"1234,567", "threes"},
		{",123", "threes"},
		{"123,", "threes"},
		{"1,,000", "threes"},
		{"1.296,000", "mixes"},
		{"15d", "whole number"},
		{"1e6", "whole number"},
		{"10 hours", "whole number"},
		{"9223372036854775808", "too large"},
		{"٣٦٠٠٠", "whole number"},
	}
	for _, tt := range tests {
		got, err := ParseSeconds(tt.in)
		if err == nil {
			t.Errorf("ParseSeconds(%q) = %d, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.message) {
			t.Errorf("ParseSeconds(%q) error %q, want it to mention %q", tt.in, err, tt.message)
		}
	}
}

func TestDescribeSeconds_SaysTheDurationInWords(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 seconds"},
		{1, "1 second"},
		{59, "59 seconds"},
		{60, "1 minute"},
		{90, "1 minute 30 seconds"},
		{300, "5 minutes"},
		{3600, "1 hour"},
		{3661, "1 hour 1 minute 1 second"},
		{36000, "10 hours"},
		{86400, "1 day"},
		{86460, "1 day 1 minute"},
		{1296000, "15 days"},
		{31536000, "365 days"},
		{-90, "minus 1 minute 30 seconds"},
	}
	for _, tt := range tests {
		if got := DescribeSeconds(tt.in); got != tt.want {
			t.Errorf("DescribeSeconds(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
