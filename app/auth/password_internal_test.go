package auth

import "testing"

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
