package auth

import (
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Accounts imported from the original Django system keep the hash Django stored
// (`<algorithm>$<fields...>`) until their first successful login, which replaces it with ours.
// Supported are the hashers of Django 5.2's default PASSWORD_HASHERS, so every password that
// worked in the original works here: pbkdf2_sha256, pbkdf2_sha1, argon2 (argon2id, and argon2i
// of Django before 3.2), bcrypt_sha256 and scrypt. A hash starting with "!" is Django's unusable
// password: it matches nothing. Anything else (md5, sha1, crypt, unsalted_*: hashers no default
// Django of the last ten years verifies) is refused; the importer marks such accounts as needing
// a new password.

// ErrUnusablePassword is Django's set_unusable_password: the account cannot log in with any
// password until one is set.
var ErrUnusablePassword = errors.New("unusable password (Django's set_unusable_password)")

// ErrUnsupportedHash is a Django hash scheme this program cannot verify.
var ErrUnsupportedHash = errors.New("unsupported password hash scheme")

// Bounds keep a damaged or hostile hash from costing minutes or gigabytes per login. Each is far
// above what any Django release chose (pbkdf2: 1,200,000 iterations in 6.0; argon2: 100 MiB;
// bcrypt: cost 12; scrypt: N=2^14, r=8).
const (
	maxPBKDF2Iterations = 10_000_000
	maxDjangoArgon2KiB  = 1 << 20 // 1 GiB
	maxBcryptCost       = 17
	maxScryptMemory     = 1 << 30 // 128·N·r bytes
)

// CheckDjangoHash reports whether Login can verify hash, a password hash of the original system:
// nil when it can, else ErrUnusablePassword, ErrUnsupportedHash or a description of what is wrong
// with it (the importer lists these accounts as needing a new password).
func CheckDjangoHash(hash string) error {
	_, err := parseDjango(hash)
	return err
}

// isOurs reports whether hash is one this program made (argon2id, PHC format).
func isOurs(hash string) bool { return strings.HasPrefix(hash, "$argon2id$") }

// verifyDjango checks password against a Django hash in constant time (for a given hash).
func (s *Service) verifyDjango(hash, password string) (bool, error) {
	v, err := parseDjango(hash)
	if errors.Is(err, ErrUnusablePassword) {
		return false, nil // a normal state, not a damaged row
	}
	if err != nil {
		return false, err
	}
	var ok bool
	s.withSlot(func() { ok = v.verify(password) })
	return ok, nil
}

// verifyLogin is VerifyPassword plus the original system's trimming. Its registration stripped
// surrounding whitespace from passwords (DRF's CharField) but its login did not, so a Django
// hash may be of the stripped form of what the user types. Such a match is accepted, and Login
// then replaces the hash with ours of what was typed: it happens once per account.
func (s *Service) verifyLogin(hash, password string) (bool, error) {
	ok, err := s.VerifyPassword(hash, password)
	if ok || err != nil || isOurs(hash) {
		return ok, err
	}
	if t := pythonStrip(password); t != password && t != "" {
		return s.VerifyPassword(hash, t)
	}
	return false, nil
}

// pythonStrip is Python's str.strip(): Go's unicode.IsSpace plus U+001C..U+001F, which Python
// also counts as whitespace.
func pythonStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return (r >= 0x1c && r <= 0x1f) || unicode.IsSpace(r)
	})
}

type djangoVerifier interface{ verify(password string) bool }

func parseDjango(h string) (djangoVerifier, error) {
	if strings.HasPrefix(h, "!") {
		return nil, ErrUnusablePassword
	}
	scheme, rest, ok := strings.Cut(h, "$")
	if !ok || scheme == "" {
		return nil, errBadHash
	}
	bad := func(why string) error { return fmt.Errorf("malformed %s password hash: %s", scheme, why) }
	switch scheme {
	case "pbkdf2_sha256", "pbkdf2_sha1":
		// pbkdf2_sha256$<iterations>$<salt>$<base64 of the derived key>
		f := strings.Split(rest, "$")
		if len(f) != 3 {
			return nil, bad("not <iterations>$<salt>$<hash>")
		}
		iter, err := strconv.Atoi(f[0])
		if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
			return nil, bad("iterations out of range")
		}
		key, err := base64.StdEncoding.Strict().DecodeString(f[2])
		v := pbkdf2Hash{iter: iter, salt: f[1], key: key, h: sha256.New}
		if scheme == "pbkdf2_sha1" {
			v.h = sha1.New
		}
		if err != nil || f[1] == "" || len(key) != v.h().Size() {
			return nil, bad("salt or hash")
		}
		return v, nil
	case "argon2":
		// argon2 + the PHC string argon2-cffi made: $argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>
		f := strings.Split(rest, "$")
		if len(f) != 5 || (f[0] != "argon2id" && f[0] != "argon2i") || f[1] != "v=19" {
			return nil, bad("only argon2id and argon2i of version 19 are supported")
		}
		var v argon2Hash
		v.id = f[0] == "argon2id"
		if _, err := fmt.Sscanf(f[2], "m=%d,t=%d,p=%d", &v.p.MemoryKiB, &v.p.Iterations, &v.p.Parallelism); err != nil ||
			v.p.Iterations < 1 || v.p.Iterations > 100 || v.p.Parallelism < 1 ||
			v.p.MemoryKiB < 8*uint32(v.p.Parallelism) || v.p.MemoryKiB > maxDjangoArgon2KiB {
			return nil, bad("parameters out of range")
		}
		var err1, err2 error
		v.salt, err1 = b64.DecodeString(f[3])
		v.key, err2 = b64.DecodeString(f[4])
		if err1 != nil || err2 != nil || len(v.salt) < 8 || len(v.key) < 8 {
			return nil, bad("salt or hash")
		}
		return v, nil
	case "bcrypt_sha256":
		// bcrypt_sha256$$2b$12$<salt><hash>: bcrypt of the hex SHA-256 of the password.
		cost, err := bcrypt.Cost([]byte(rest))
		if err != nil || cost > maxBcryptCost {
			return nil, bad("not a bcrypt hash of an acceptable cost")
		}
		return bcryptSHA256Hash(rest), nil
	case "scrypt":
		// scrypt$<N>$<salt>$<r>$<p>$<base64 of the 64-byte key>
		f := strings.Split(rest, "$")
		if len(f) != 5 {
			return nil, bad("not <N>$<salt>$<r>$<p>$<hash>")
		}
		n, err1 := strconv.Atoi(f[0])
		r, err2 := strconv.Atoi(f[2])
		p, err3 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || err3 != nil || n < 2 || n&(n-1) != 0 || r < 1 || p < 1 || p > 16 ||
			int64(128)*int64(n)*int64(r) > maxScryptMemory || int64(128)*int64(r)*int64(p) > maxScryptMemory {
			return nil, bad("parameters out of range")
		}
		key, err := base64.StdEncoding.Strict().DecodeString(f[4])
		if err != nil || f[1] == "" || len(key) < 16 {
			return nil, bad("salt or hash")
		}
		return scryptHash{n: n, r: r, p: p, salt: f[1], key: key}, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnsupportedHash, scheme)
}

type pbkdf2Hash struct {
	h    func() hash.Hash
	iter int
	salt string
	key  []byte
}

func (v pbkdf2Hash) verify(password string) bool {
	got, err := pbkdf2.Key(v.h, password, []byte(v.salt), v.iter, len(v.key))
	return err == nil && subtle.ConstantTimeCompare(got, v.key) == 1
}

type argon2Hash struct {
	id        bool
	p         Params
	salt, key []byte
}

func (v argon2Hash) verify(password string) bool {
	var got []byte
	if v.id {
		got = argon2.IDKey([]byte(password), v.salt, v.p.Iterations, v.p.MemoryKiB, v.p.Parallelism, uint32(len(v.key)))
	} else {
		got = argon2.Key([]byte(password), v.salt, v.p.Iterations, v.p.MemoryKiB, v.p.Parallelism, uint32(len(v.key)))
	}
	return subtle.ConstantTimeCompare(got, v.key) == 1
}

type bcryptSHA256Hash string

func (v bcryptSHA256Hash) verify(password string) bool {
	sum := sha256.Sum256([]byte(password))
	return bcrypt.CompareHashAndPassword([]byte(v), []byte(hex.EncodeToString(sum[:]))) == nil
}

type scryptHash struct {
	n, r, p int
	salt    string
	key     []byte
}

func (v scryptHash) verify(password string) bool {
	got, err := scrypt.Key([]byte(password), []byte(v.salt), v.n, v.r, v.p, len(v.key))
	return err == nil && subtle.ConstantTimeCompare(got, v.key) == 1
}
