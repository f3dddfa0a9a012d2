// Package commonpasswords embeds Django's list of 20,000 common passwords (see SOURCE.md) for the
// "This password is too common." check.
package commonpasswords

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
)

//go:embed common-passwords.txt.gz
var listGz []byte

// words is the list, sorted, in one string (160 kB): a lookup is a binary search. A map of
// 20,000 strings took about a megabyte more of the server's memory, for good, after the first
// password check.
var words = sync.OnceValue(func() []string {
	zr, err := gzip.NewReader(bytes.NewReader(listGz))
	if err != nil {
		panic("commonpasswords: embedded list is corrupt: " + err.Error())
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		panic("commonpasswords: embedded list is corrupt: " + err.Error())
	}
	// Substrings of one string: no allocation per word.
	all := string(b)
	var list []string
	for line := range strings.Lines(all) {
		if w := strings.TrimSpace(line); w != "" {
			list = append(list, w)
		}
	}
	slices.Sort(list)
	return slices.Compact(list)
})

// Contains reports whether password is on the list, compared as Django's CommonPasswordValidator
// does: lower-cased and stripped of surrounding whitespace.
func Contains(password string) bool {
	list, w := words(), strings.TrimSpace(strings.ToLower(password))
	i := sort.SearchStrings(list, w)
	return i < len(list) && list[i] == w
}

// Len is the number of passwords on the list.
func Len() int { return len(words()) }
