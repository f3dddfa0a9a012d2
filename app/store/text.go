package store

import (
	"strings"
	"unicode/utf8"
)

// StorableText is s as PostgreSQL's text can hold it: bytes that are not UTF-8, and NUL, which it
// refuses, are replaced by with ("\uFFFD" to show that something was there, "" to drop them).
// Text a client chose (a User-Agent, a path) goes through it before it is written.
func StorableText(s, with string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, with), "\x00", with)
}

// ClipText cuts s to at most n bytes, between characters rather than inside one (bytes that are
// not UTF-8 are cut where they are: a character is at most utf8.UTFMax bytes).
func ClipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for back := 0; n > 0 && back < utf8.UTFMax-1 && !utf8.RuneStart(s[n]); back++ {
		n--
	}
	return s[:n]
}
