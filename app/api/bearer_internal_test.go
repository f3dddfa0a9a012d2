package api

import (
	"strings"
	"testing"
)

// FuzzParseBearer: the fast path for the usual header answers exactly as splitting the header into
// words at ASCII whitespace does (simplejwt's split of the header's bytes).
func FuzzParseBearer(f *testing.F) {
	for _, h := range []string{"", "Bearer", "Bearer ", "Bearer x", "Bearer  x", "Bearer x y", "bearer x", "Bearer\tx",
		"Bearer x\u00a0", "Bearer\u00a0x", "Bearer x\u3000", "Bearer\vx\f", "Bearer x\x7f", "Bearer \x85x", " Bearer x", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Basic abc", "Bearer\u3000x"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, h string) {
		token, bearer, ok := parseBearer(h)
		parts := strings.FieldsFunc(h, func(r rune) bool { return strings.ContainsRune(" \t\n\v\f\r", r) })
		wantBearer := len(parts) > 0 && parts[0] == "Bearer"
		wantOK := wantBearer && len(parts) == 2
		wantToken := ""
		if wantOK {
			wantToken = parts[1]
		}
		if token != wantToken || bearer != wantBearer || ok != wantOK {
			t.Fatalf("parseBearer(%q) = %q, %v, %v; splitting into words gives %q, %v, %v", h, token, bearer, ok, wantToken, wantBearer, wantOK)
		}
	})
}
