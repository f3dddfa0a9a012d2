// Package commonpasswords embeds Django's list of 20,000 common passwords (see SOURCE.md) for the
// "This password is too common." check.
package commonpasswords

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
)

//go:embed common-passwords.txt.gz
var listGz []byte

var (
	once sync.Once
	set  map[string]struct{}
)

func load() {
	set = make(map[string]struct{}, 20000)
	zr, err := gzip.NewReader(bytes.NewReader(listGz))
	if err != nil {
		panic("commonpasswords: embedded list is corrupt: " + err.Error())
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("commonpasswords: embedded list is corrupt: " + err.Error())
	}
}

// Contains reports whether password is on the list, compared as Django's CommonPasswordValidator
// does: lower-cased and stripped of surrounding whitespace.
func Contains(password string) bool {
	once.Do(load)
	_, ok := set[strings.TrimSpace(strings.ToLower(password))]
	return ok
}

// Len is the number of passwords on the list.
func Len() int {
	once.Do(load)
	return len(set)
}
