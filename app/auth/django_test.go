package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

// Hashes made by Django itself (3.2.25 with argon2-cffi 21.1 and bcrypt 3.2, Debian 12's
// python3-django), except scrypt (added in Django 4.0), made with Python's hashlib.scrypt exactly
// as Django's ScryptPasswordHasher.encode does. Verifying hashes Django made, rather than hashes
// this package made, is what proves compatibility.
var djangoVectors = []struct {
	name, password, hash string
}{
	{"pbkdf2_sha256, Django 5.2's 1,000,000 iterations", "Cl1nic-Pass!",
		"pbkdf2_sha256$1000000$Wz3nT9qLb0aXc2Rk8yUv1M$T0jVOPVDMumimexz1AAJcHNWcNmo2pZAUDQZ5wZogMg="},
	{"pbkdf2_sha256, a non-ASCII password", "pässwörd ünïcode 密码",
		"pbkdf2_sha256$260000$q0FhL2k3ZtY8wR1xVb6nPe$y63rEeUzjztMLQp+84kO5XgkLs8IYWNgwwz/KCtOw9k="},
	{"pbkdf2_sha1", "Old-Sha1-Pass",
		"pbkdf2_sha1$30000$sAlTy9sha1SaltValue123$NxKbYbnDXyXAk4cQdhdkHAWv+4o="},
	{"argon2id (Django 3.2 and later)", "Argon-Pass-2",
		"argon2$argon2id$v=19$m=102400,t=2,p=8$TlFIbkdhWVROWFlOOUkzYmZoNVpvOQ$w7lzKopYHUKJNJpUotvGXw"},
	{"argon2i (Django before 3.2)", "Argon-i-Pass",
		"argon2$argon2i$v=19$m=512,t=2,p=2$b2xkc2FsdHZhbHVlMTIzNA$xbEwojUg7uDHq6UTjkWPxQ"},
	{"bcrypt_sha256, a password past bcrypt's 72 bytes", "Bcrypt-Pass-3 with a very long tail that goes past seventy-two bytes of bcrypt's limit!!",
		"bcrypt_sha256$$2b$12$VlX/U92rzZNqZj.Q5oJDd.O3QDAROGezgcQnvJMW6VZb2WOKXPDp6"},
	{"scrypt", "Scrypt-Pass-4",
		"scrypt$16384$ScRyPtSaLt0123456789ab$8$1$PKi8aum9/I07dswr4JHmVJf1Fffszv9XsoohupTI9zs6FYNbqpAv0l8kj7MT2VHWkJzcQ+1pViLjZN3jhxeOAg=="},
}

func hashService() *Service { return &Service{hashing: make(chan struct{}, 2)} }

func TestDjangoHashesVerify(t *testing.T) {
	t.Parallel()
	s := hashService()
	for _, v := range djangoVectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			if err := CheckDjangoHash(v.hash); err != nil {
				t.Fatalf("CheckDjangoHash: %v", err)
			}
			if ok, err := s.VerifyPassword(v.hash, v.password); !ok || err != nil {
				t.Errorf("the right password is refused: %v %v", ok, err)
			}
			for _, wrong := range []string{v.password + "x", strings.ToUpper(v.password), "", " " + v.password} {
				if ok, err := s.VerifyPassword(v.hash, wrong); ok || err != nil {
					t.Errorf("wrong password %q: %v %v", wrong, ok, err)
				}
			}
			if !s.NeedsRehash(v.hash) {
				t.Error("a Django hash must be replaced by ours at login")
			}
		})
	}
}

// TestStdlibPBKDF2MatchesDjango: the test fixtures of the importer make Django hashes with the
// standard library; that is only sound if it gives what Django gives.
func TestStdlibPBKDF2MatchesDjango(t *testing.T) {
	t.Parallel()
	key, err := pbkdf2.Key(sha256.New, "pässwörd ünïcode 密码", []byte("q0FhL2k3ZtY8wR1xVb6nPe"), 260000, 32)
	if err != nil {
		t.Fatal(err)
	}
	got := "pbkdf2_sha256$260000$q0FhL2k3ZtY8wR1xVb6nPe$" + base64.StdEncoding.EncodeToString(key)
	if got != djangoVectors[1].hash {
		t.Errorf("got %s\nwant %s", got, djangoVectors[1].hash)
	}
}

func TestDjangoHashesRefused(t *testing.T) {
	t.Parallel()
	s := hashService()
	for _, c := range []struct {
		name, hash string
		want       error // nil: any error
	}{
		{"unusable", "!Kq0Xv3dL9sP2mN8bR4tY6wZ1cF5hJ7gA3eU0iO9", ErrUnusablePassword},
		{"unusable, bare", "!", ErrUnusablePassword},
		{"md5", "md5$abc$c3ad88bdc34c6b52fbda188ac0291392", ErrUnsupportedHash},
		{"unsalted md5", "5f4dcc3b5aa765d61d8327deb882cf99", nil},
		{"sha1", "sha1$abc$9f8ad4ab0c2b04b2b1f5cbbfb62db6c4dcdbf8a8", ErrUnsupportedHash},
		{"crypt", "crypt$$abN0TnOFaF7xQ", ErrUnsupportedHash},
		{"plain bcrypt", "bcrypt$$2b$12$VlX/U92rzZNqZj.Q5oJDd.O3QDAROGezgcQnvJMW6VZb2WOKXPDp6", ErrUnsupportedHash},
		{"empty", "", nil},
		{"pbkdf2 without a hash", "pbkdf2_sha256$1000$salt", nil},
		{"pbkdf2 with absurd iterations", "pbkdf2_sha256$999999999$Wz3nT9qLb0aXc2Rk8yUv1M$T0jVOPVDMumimexz1AAJcHNWcNmo2pZAUDQZ5wZogMg=", nil},
		{"pbkdf2 with a short key", "pbkdf2_sha256$1000$salt$c2hvcnQ=", nil},
		{"pbkdf2 with bad base64", "pbkdf2_sha256$1000$salt$!!!!", nil},
		{"argon2d", "argon2$argon2d$v=19$m=512,t=2,p=2$b2xkc2FsdHZhbHVlMTIzNA$xbEwojUg7uDHq6UTjkWPxQ", nil},
		{"argon2 version 16", "argon2$argon2i$m=512,t=2,p=2$b2xkc2FsdHZhbHVlMTIzNA$xbEwojUg7uDHq6UTjkWPxQ", nil},
		{"argon2 with 64 GiB", "argon2$argon2id$v=19$m=67108864,t=2,p=8$TlFIbkdhWVROWFlOOUkzYmZoNVpvOQ$w7lzKopYHUKJNJpUotvGXw", nil},
		{"bcrypt cost 31", "bcrypt_sha256$$2b$31$VlX/U92rzZNqZj.Q5oJDd.O3QDAROGezgcQnvJMW6VZb2WOKXPDp6", nil},
		{"scrypt N not a power of two", "scrypt$16383$ScRyPtSaLt0123456789ab$8$1$PKi8aum9/I07dswr4JHmVJf1Fffszv9XsoohupTI9zs6FYNbqpAv0l8kj7MT2VHWkJzcQ+1pViLjZN3jhxeOAg==", nil},
		{"scrypt with 16 GiB", "scrypt$16777216$ScRyPtSaLt0123456789ab$8$1$PKi8aum9/I07dswr4JHmVJf1Fffszv9XsoohupTI9zs6FYNbqpAv0l8kj7MT2VHWkJzcQ+1pViLjZN3jhxeOAg==", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckDjangoHash(c.hash)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("CheckDjangoHash = %v, want %v", err, c.want)
			}
			ok, verr := s.VerifyPassword(c.hash, "Md5-Pass")
			if ok {
				t.Error("verified")
			}
			// Unusable is a normal state (no error logged at login); anything else is an error.
			if (c.want == ErrUnusablePassword) != (verr == nil) {
				t.Errorf("VerifyPassword error = %v", verr)
			}
		})
	}
}

// TestTrimmedPasswordRule: the original stored the hash of the stripped password (DRF trims), so
// what the user types with its surrounding whitespace matches once, through the stripped form.
func TestTrimmedPasswordRule(t *testing.T) {
	t.Parallel()
	s := hashService()
	// Django: PBKDF2PasswordHasher().encode("  spaced secret  ".strip(), "TrImSaLt0123456789abcd", 1000)
	const stored = "pbkdf2_sha256$1000$TrImSaLt0123456789abcd$wUGZUoh0j9UTOGQJn/r5XsfYnc3+mRbvv3RY5T8mZNE="
	for typed, want := range map[string]bool{
		"spaced secret":           true,
		"  spaced secret  ":       true,
		"\tspaced secret\n":       true,
		"\u3000spaced secret\x1f": true, // ideographic space, unit separator: Python strips both
		"spaced  secret":          false,
		"spaced secret!":          false,
		"  ":                      false,
		" spaced secret x":        false,
	} {
		if ok, err := s.verifyLogin(stored, typed); ok != want || err != nil {
			t.Errorf("verifyLogin(%q) = %v, %v; want %v", typed, ok, err, want)
		}
		// Only Django hashes get the rule; VerifyPassword alone is exact.
		if ok, _ := s.VerifyPassword(stored, typed); ok != (typed == "spaced secret") {
			t.Errorf("VerifyPassword(%q) = %v", typed, ok)
		}
	}
	ours := &Service{hashing: make(chan struct{}, 2), params: Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}}
	h, err := ours.HashPassword("spaced secret")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := ours.verifyLogin(h, "  spaced secret  "); ok {
		t.Error("our own hashes are exact: passwords are not trimmed here")
	}
}

func TestPythonStrip(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                        "",
		"abc":                     "abc",
		" \t\n\v\f\r abc \r\n":    "abc",
		"\x1c\x1d\x1e\x1fabc\x1f": "abc",
		"\u00a0\u2003abc\u3000":   "abc",
		"\u200babc":               "\u200babc", // zero-width space: not whitespace for Python
		"a b":                     "a b",
	} {
		if got := pythonStrip(in); got != want {
			t.Errorf("pythonStrip(%q) = %q, want %q", in, got, want)
		}
	}
}
