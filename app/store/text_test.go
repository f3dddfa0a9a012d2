package store_test

import (
	"strings"
	"testing"

	"healthcare/app/store"
)

func TestStorableTextAndClip(t *testing.T) {
	for _, c := range []struct{ in, with, want string }{
		{"plain é", "\uFFFD", "plain é"},
		{"a\xff\xfeb\x00c", "\uFFFD", "a\uFFFDb\uFFFDc"},
		{"a\xff\xfeb\x00c", "", "abc"},
	} {
		if got := store.StorableText(c.in, c.with); got != c.want {
			t.Errorf("StorableText(%q, %q) = %q, want %q", c.in, c.with, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"x" + strings.Repeat("é", 10), 4, "xé"},        // byte 4 is inside the second é
		{"ab" + "\U0001F600", 5, "ab"},                  // inside a 4-byte character
		{strings.Repeat("\x80", 10), 6, "\x80\x80\x80"}, // not UTF-8: at most 3 bytes back
	} {
		if got := store.ClipText(c.in, c.n); got != c.want {
			t.Errorf("ClipText(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
