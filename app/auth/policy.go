package auth

import (
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"healthcare/app/auth/commonpasswords"
)

// Django's password validator messages (AUTH_PASSWORD_VALIDATORS of the original's settings).
const (
	MsgTooSimilarUsername = "The password is too similar to the username."
	MsgTooSimilarEmail    = "The password is too similar to the email address."
	MsgTooShort           = "This password is too short. It must contain at least 8 characters."
	MsgTooCommon          = "This password is too common."
	MsgEntirelyNumeric    = "This password is entirely numeric."
)

// MinPasswordLength is Django's MinimumLengthValidator default.
const MinPasswordLength = 8

// maxSimilarity is UserAttributeSimilarityValidator's default threshold.
const maxSimilarity = 0.7

// ValidatePassword runs Django's four default validators in the order of Django's settings template
// (similarity, length, common, numeric) and returns every failing message, as validate_password does.
func ValidatePassword(password, username, email string) []string {
	var msgs []string
	if m := similarity(password, username, email); m != "" {
		msgs = append(msgs, m)
	}
	if utf8.RuneCountInString(password) < MinPasswordLength {
		msgs = append(msgs, MsgTooShort)
	}
	if commonpasswords.Contains(password) {
		msgs = append(msgs, MsgTooCommon)
	}
	if isDigits(password) {
		msgs = append(msgs, MsgEntirelyNumeric)
	}
	return msgs
}

// isDigits is Python's str.isdigit: non-empty and every character a digit.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) && !unicode.Is(unicode.No, r) {
			return false
		}
	}
	return true
}

// nonWord is Python's \W+ on str (Unicode word characters are letters, digits and underscore).
var nonWord = regexp.MustCompile(`[^\p{L}\p{N}_]+`)

// similarity is Django's UserAttributeSimilarityValidator over username and email (first and last
// names are not collected here): the password is compared with each attribute and its parts.
func similarity(password, username, email string) string {
	pw := []rune(strings.ToLower(password))
	for _, attr := range []struct{ value, msg string }{{username, MsgTooSimilarUsername}, {email, MsgTooSimilarEmail}} {
		if attr.value == "" {
			continue
		}
		lower := strings.ToLower(attr.value)
		parts := append(nonWord.Split(lower, -1), lower)
		for _, part := range parts {
			v := []rune(part)
			if exceedsMaximumLengthRatio(len(pw), len(v)) {
				continue
			}
			if quickRatio(pw, v) >= maxSimilarity {
				return attr.msg
			}
		}
	}
	return ""
}

// exceedsMaximumLengthRatio skips comparisons that cannot reach the threshold (Django's helper).
func exceedsMaximumLengthRatio(pwdLen, valueLen int) bool {
	lengthBoundSimilarity := maxSimilarity / 2 * float64(pwdLen)
	return pwdLen >= 10*valueLen && float64(valueLen) < lengthBoundSimilarity
}

// quickRatio is difflib.SequenceMatcher(a=a, b=b).quick_ratio(): twice the size of the multiset
// intersection of the characters over the total length (1.0 for two empty strings).
func quickRatio(a, b []rune) float64 {
	total := len(a) + len(b)
	if total == 0 {
		return 1
	}
	avail := make(map[rune]int, len(b))
	for _, r := range b {
		avail[r]++
	}
	matches := 0
	for _, r := range a {
		if avail[r] > 0 {
			avail[r]--
			matches++
		}
	}
	return 2 * float64(matches) / float64(total)
}

// Django's username rule (UnicodeUsernameValidator) and limits.
const (
	MaxUsernameLength = 150
	MsgBadUsername    = "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
	MaxEmailLength    = 254
	MsgBadEmail       = "Enter a valid email address."
)

var usernameRE = regexp.MustCompile(`^[\p{L}\p{N}_.@+-]+$`)

// NormalizeUsername is Django's AbstractBaseUser.normalize_username: Unicode NFKC, so that
// look-alike compatibility forms ("ａｌｉｃｅ") are the same account as their plain form.
func NormalizeUsername(s string) string { return norm.NFKC.String(s) }

// NormalizeEmail is Django's BaseUserManager.normalize_email: the domain part is lower-cased.
func NormalizeEmail(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	return s[:at+1] + strings.ToLower(s[at+1:])
}

// ValidUsername reports whether s follows Django's rule: letters, digits and @ . + - _ only.
func ValidUsername(s string) bool { return usernameRE.MatchString(s) }

// Django's EmailValidator (dot-atom or quoted user part; domain of labels with a 2-63 character
// last label not ending in "-"; a bracketed IP literal; or "localhost").
var (
	emailUserRE    = regexp.MustCompile(`(?i)^(?:[-!#$%&'*+/=?^_` + "`" + `{}|~0-9A-Z]+(?:\.[-!#$%&'*+/=?^_` + "`" + `{}|~0-9A-Z]+)*|"(?:[\x01-\x08\x0b\x0c\x0e-\x1f!#-\[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*")$`)
	emailDomainRE  = regexp.MustCompile(`(?i)^(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z0-9-]{2,63}$`)
	emailLiteralRE = regexp.MustCompile(`(?i)^\[([A-F0-9:.]+)\]$`)
)

// ValidEmail reports whether s is an email address Django's EmailValidator accepts. Internationalised
// domain names must be given in their ASCII (punycode) form.
func ValidEmail(s string) bool {
	if s == "" || len(s) > 320 || strings.ContainsAny(s, "\r\n") {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	user, domain := s[:at], s[at+1:]
	if !emailUserRE.MatchString(user) {
		return false
	}
	if domain == "localhost" {
		return true
	}
	if emailDomainRE.MatchString(domain) && !strings.HasSuffix(domain, "-") {
		return true
	}
	if m := emailLiteralRE.FindStringSubmatch(domain); m != nil {
		return validIPLiteral(m[1])
	}
	return false
}

// validIPLiteral accepts an IPv4 address or an IPv6 address, as Django's validate_ipv46_address.
func validIPLiteral(s string) bool {
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Zone() == ""
}
