package auth

import (
	"errors"
	"runtime"
	"testing"
)

// TestDummyHashCostsOneHash: the hash verified for unknown usernames carries the configured cost
// (so it takes as long as a wrong password) and matches no password.
func TestDummyHashCostsOneHash(t *testing.T) {
	s := &Service{params: Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, hashing: make(chan struct{}, 2)}
	dummy, err := s.dummyHash()
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := decodeHash(dummy)
	if err != nil {
		t.Fatalf("dummy hash %q does not decode: %v", dummy, err)
	}
	if p != s.params || len(salt) != saltLen || len(key) != keyLen || s.NeedsRehash(dummy) {
		t.Fatalf("dummy hash has other parameters than a real one: %+v salt %d key %d", p, len(salt), len(key))
	}
	real, err := s.HashPassword("Str0ng!Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	if len(real) != len(dummy) {
		t.Errorf("dummy %q and real %q hashes differ in shape", dummy, real)
	}
	for _, pw := range []string{"", "dummy password for unknown users", "Str0ng!Passw0rd"} {
		if ok, err := s.VerifyPassword(dummy, pw); ok || err != nil {
			t.Errorf("dummy hash matched %q (err %v)", pw, err)
		}
	}
	if other, _ := s.dummyHash(); other == dummy {
		t.Error("two dummy hashes are equal: the key must be random")
	}
}

// TestHashQueueBounded: while every hashing slot is busy, hashQueue hashes per slot may wait;
// the next is refused at once with ErrBusy (the API's 503), for a registration, a known account
// and an unknown one alike; once the slot is free, hashing works again.
func TestHashQueueBounded(t *testing.T) {
	s := &Service{params: Params{MemoryKiB: 8 * 1024, Iterations: 1, Parallelism: 1}, hashing: make(chan struct{}, 1)}
	hash, err := s.HashPassword("Str0ng!Passw0rd")
	if err != nil {
		t.Fatal(err)
	}
	release, running := make(chan struct{}), make(chan struct{})
	go func() { _ = s.withSlot(func() { close(running); <-release }) }()
	<-running
	waited := make(chan error, hashQueue)
	for i := 0; i < hashQueue; i++ {
		go func() { _, err := s.VerifyPassword(hash, "Str0ng!Passw0rd"); waited <- err }()
	}
	for s.waiting.Load() < hashQueue { // every waiter is queued
		runtime.Gosched()
	}
	if _, err := s.HashPassword("another"); !errors.Is(err, ErrBusy) {
		t.Errorf("hash beyond the queue: %v, want ErrBusy", err)
	}
	if _, err := s.VerifyPassword(hash, "Str0ng!Passw0rd"); !errors.Is(err, ErrBusy) {
		t.Errorf("verify beyond the queue: %v, want ErrBusy", err)
	}
	if _, err := s.VerifyPassword(s.mustDummy(t), "x"); !errors.Is(err, ErrBusy) {
		t.Errorf("an unknown username's dummy verify beyond the queue: %v, want ErrBusy", err)
	}
	close(release)
	for i := 0; i < hashQueue; i++ {
		if err := <-waited; err != nil {
			t.Errorf("a queued verify: %v", err)
		}
	}
	if ok, err := s.VerifyPassword(hash, "Str0ng!Passw0rd"); !ok || err != nil {
		t.Errorf("after the burst: %v %v", ok, err)
	}
}

func (s *Service) mustDummy(t *testing.T) string {
	d, err := s.dummyHash()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
