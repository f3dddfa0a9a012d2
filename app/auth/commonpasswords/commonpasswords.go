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

// list is the passwords, sorted, one per line in one string (160 kB), and where each line starts
// (80 kB): a lookup is a binary search. A map of 20,000 strings kept about a megabyte more of the
// server's memory, for good, after the first password check.
type list struct {
	text   string
	starts []uint32 // line i is text[starts[i]:starts[i+1]-1]
}

var words = sync.OnceValue(func() list {
	zr, err := gzip.NewReader(bytes.NewReader(listGz))
	if err != nil {
		panic("commonpasswords: embedded list is corrupt: " + err.Error())
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		panic("commonpasswords: embedded list is corrupt: " + err.Error())
	}
	var ws []string
	for line := range strings.Lines(string(b)) {
		if w := strings.TrimSpace(line); w != "" {
			ws = append(ws, w)
		}
	}
	slices.Sort(ws)
	ws = slices.Compact(ws)
	l := list{text: strings.Join(ws, "\n") + "\n", starts: make([]uint32, 0, len(ws)+1)}
	at := uint32(0)
	for _, w := range ws {
		l.starts = append(l.starts, at)
		at += uint32(len(w)) + 1
	}
	l.starts = append(l.starts, at)
	return l
})

func (l list) len() int        { return len(l.starts) - 1 }
func (l list) at(i int) string { return l.text[l.starts[i] : l.starts[i+1]-1] }

// Contains reports whether password is on the list, compared as Django's CommonPasswordValidator
// does: lower-cased and stripped of surrounding whitespace.
func Contains(password string) bool {
	l, w := words(), strings.TrimSpace(strings.ToLower(password))
	i := sort.Search(l.len(), func(i int) bool { return l.at(i) >= w })
	return i < l.len() && l.at(i) == w
}

// Len is the number of passwords on the list.
func Len() int { return words().len() }
