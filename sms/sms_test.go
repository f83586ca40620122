package sms

import (
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+15555550100": "+*******0100",
		"+4930123456":  "+******3456",
		"+12":          "+**",
		"":             "+",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextCarriesTheCode(t *testing.T) {
	for _, k := range []string{KindVerifyPhone, KindMFACode, KindResetPassword, KindInvitation} {
		s := Text(k, "Example", "123456", "7 days")
		if !strings.Contains(s, "123456") || !strings.Contains(s, "Example") {
			t.Errorf("%s: %q lacks the code or the pool", k, s)
		}
		if len(s) > 160 {
			t.Errorf("%s: %d characters, more than one segment", k, len(s))
		}
	}
}

func TestValid(t *testing.T) {
	for in, want := range map[string]bool{"+15555550100": true, "15555550100": false, "+0123456789": false, "+1 555": false} {
		if Valid(in) != want {
			t.Errorf("Valid(%q) = %v", in, !want)
		}
	}
}
