package auth

import (
	"slices"
	"strings"
	"testing"

	"healthcare/app/auth/commonpasswords"
)

// Expected values computed with Python's difflib and Django's UserAttributeSimilarityValidator
// logic (quick_ratio >= 0.7 over each attribute and its \W+ parts).
func TestSimilarityMatchesDjango(t *testing.T) {
	t.Parallel()
	cases := []struct{ username, email, password, want string }{
		{"alice", "alice@example.com", "alice123", "username"},
		{"alice", "alice@example.com", "Str0ng!Passw0rd", ""},
		{"johnsmith", "john.smith@mail.org", "smithjohn!", "username"},
		{"bob", "bob@example.com", "bobexample", "email"},
		{"maria_garcia", "mg@clinic.es", "GarciaMaria", "username"},
		{"x", "x@y.zz", "xxxxxxxxxxxxxxxxxxxxxxx", ""},
		{"user", "someone@example.com", "exampleexam", "email"},
		{"Ünïcödé", "u@example.com", "ünïcödé99", "username"},
		{"dr.who", "tardis@gallifrey.space", "gallifrey1", "email"},
		{"longusername_abc", "a@b.co", "longusernam", "username"},
		{"alice", "alice@example.com", "ecila", "username"},
		{"sam", "samuel@example.com", "samuel2024", "email"},
		{"a", "b@c.de", "abcdefghijklmnopqrstuvwxyz", ""},
		{"clinic", "front.desk@clinic.example", "frontdesk!", ""},
		{"p", "q@r.st", "pqrstuvw", ""},
	}
	for _, c := range cases {
		want := map[string]string{"username": MsgTooSimilarUsername, "email": MsgTooSimilarEmail}[c.want]
		if got := similarity(c.password, c.username, c.email); got != want {
			t.Errorf("similarity(%q, %q, %q) = %q, want %q", c.password, c.username, c.email, got, want)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, password, username, email string
		want                            []string
	}{
		{"strong", "Str0ng!Passw0rd", "alice", "alice@example.com", nil},
		{"one digit (on the list too)", "1", "weak", "weak@example.com", []string{MsgTooShort, MsgTooCommon, MsgEntirelyNumeric}},
		{"equal to username and common", "password", "password", "p@example.com", []string{MsgTooSimilarUsername, MsgTooCommon}},
		{"common", "iloveyou", "carol", "carol@example.com", []string{MsgTooCommon}},
		{"common in capitals with spaces", " QWERTY123 ", "carol", "carol@example.com", []string{MsgTooCommon}},
		{"numeric and long", "83920174652", "carol", "carol@example.com", []string{MsgEntirelyNumeric}},
		{"unicode digits", "١٢٣٤٥٦٧٨٩", "carol", "carol@example.com", []string{MsgEntirelyNumeric}},
		{"short", "aB3$xY", "carol", "carol@example.com", []string{MsgTooShort}},
		{"eight runes", "äöüßéèêë", "carol", "carol@example.com", nil},
		{"similar to email", "carol.example", "zed", "carol@example.com", []string{MsgTooSimilarEmail}},
		{"surrounding spaces are kept", "  spaced pw  ", "spacey", "s@example.com", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ValidatePassword(c.password, c.username, c.email); !slices.Equal(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	t.Parallel()
	if n := commonpasswords.Len(); n < 19000 {
		t.Fatalf("the embedded list has %d passwords, want Django's ~20,000", n)
	}
	for _, p := range []string{"password", "123456", "qwerty", "letmein", "dragon", "PassWord"} {
		if !commonpasswords.Contains(p) {
			t.Errorf("%q should be common", p)
		}
	}
	if commonpasswords.Contains("Str0ng!Passw0rd") {
		t.Error("the transcripts' password should not be common")
	}
}

func TestUsernameAndEmailRules(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"alice", "Alice_B", "a.b+c-d@e", "Ünïcödé", "用户", "1"} {
		if !ValidUsername(u) {
			t.Errorf("username %q should be valid", u)
		}
	}
	for _, u := range []string{"bad user!", "a/b", "tab\t", "semi;colon", "quote'", ""} {
		if ValidUsername(u) {
			t.Errorf("username %q should be invalid", u)
		}
	}
	for _, e := range []string{"alice@example.com", "A@example.com", "first.last+tag@sub.example.co", "x@localhost",
		"o'brien@example.ie", `"quoted"@example.com`, "ip@[127.0.0.1]", "ip6@[::1]", "x@xn--bcher-kva.example"} {
		if !ValidEmail(e) {
			t.Errorf("email %q should be valid", e)
		}
	}
	for _, e := range []string{"not-an-email", `"quoted name"@example.com`, "a@", "@example.com", "a@b", "a@example.c", "a@example-.com", "a@-example.com",
		"a..b@example.com", "a@exa mple.com", "a@example.com-", "a@[999.1.1.1]", "a b@example.com", "a@example.com\n",
		strings.Repeat("a", 310) + "@example.com"} {
		if ValidEmail(e) {
			t.Errorf("email %q should be invalid", e)
		}
	}
}
