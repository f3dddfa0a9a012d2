package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"healthcare/app/auth/argon2"
)

// Params is an argon2id cost. It is recorded in every hash (PHC string format), so the cost can be
// raised later: hashes made with other parameters still verify and are upgraded at login.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

const (
	saltLen = 16
	keyLen  = 32
)

var b64 = base64.RawStdEncoding

// HashPassword hashes a password with argon2id and the configured cost:
// $argon2id$v=19$m=47104,t=1,p=1$<salt>$<hash>.
func (s *Service) HashPassword(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := s.argon2(password, salt, s.params, keyLen)
	if err != nil {
		return "", err
	}
	return formatHash(s.params, salt, key), nil
}

// dummyHash is a well-formed hash with the configured cost whose key is random bytes: no password
// matches it, and verifying one against it costs exactly one hash, like a wrong password. Making it
// needs no hashing, which keeps ~0.15 s off every start.
func (s *Service) dummyHash() (string, error) {
	b := make([]byte, saltLen+keyLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return formatHash(s.params, b[:saltLen], b[saltLen:]), nil
}

func formatHash(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches hash, in constant time. hash is ours (argon2id)
// or, for an account imported from the original system, a Django hash (django.go).
func (s *Service) VerifyPassword(hash, password string) (bool, error) {
	if !isOurs(hash) {
		return s.verifyDjango(hash, password)
	}
	p, salt, key, err := decodeHash(hash)
	if err != nil {
		return false, err
	}
	got, err := s.argon2(password, salt, p, uint32(len(key)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether hash was made with other parameters than the configured ones, or is
// not ours at all (an imported Django hash).
func (s *Service) NeedsRehash(hash string) bool {
	p, salt, key, err := decodeHash(hash)
	return err != nil || p != s.params || len(salt) != saltLen || len(key) != keyLen
}

// argon2 runs one hash, waiting for a slot so that bursts cannot exhaust memory.
func (s *Service) argon2(password string, salt []byte, p Params, n uint32) ([]byte, error) {
	var key []byte
	err := s.withSlot(func() { key = argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, n) })
	return key, err
}

// ErrBusy refuses a hash when hashQueue others already wait for a slot: the answer is then "try
// again shortly" (503 with Retry-After) at once, instead of a wait that grows with every client
// that keeps sending logins.
var ErrBusy = errors.New("too many logins at once: try again in a few seconds")

// hashQueue is how many hashes may wait per slot (each waits about one hash, 0.1-0.3 s, per
// hash ahead of it).
const hashQueue = 16

// withSlot runs one costly hash once a slot is free: bursts of logins queue instead of
// exhausting memory or starving every other request of CPU, and beyond hashQueue per slot
// they are refused with ErrBusy.
func (s *Service) withSlot(f func()) error {
	select {
	case s.hashing <- struct{}{}:
	default:
		if s.waiting.Add(1) > int64(hashQueue*cap(s.hashing)) {
			s.waiting.Add(-1)
			return ErrBusy
		}
		s.hashing <- struct{}{}
		s.waiting.Add(-1)
	}
	defer func() { <-s.hashing }()
	f()
	return nil
}

var errBadHash = errors.New("unrecognised password hash format")

func decodeHash(h string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, errBadHash
	}
	// Bounds keep a corrupted row from allocating gigabytes or spinning forever.
	if p.MemoryKiB < 8 || p.MemoryKiB > 4<<20 || p.Iterations < 1 || p.Iterations > 100 || p.Parallelism < 1 {
		return p, nil, nil, errBadHash
	}
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}
