package argon2

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	xargon2 "golang.org/x/crypto/argon2"
)

// TestSameAsXCrypto: every key equals golang.org/x/crypto/argon2's for the same inputs, across
// lanes, passes, memory sizes (including ones that are rounded) and key lengths.
func TestSameAsXCrypto(t *testing.T) {
	cases := []struct {
		time, memory uint32
		threads      uint8
		keyLen       uint32
	}{
		{1, 8, 1, 32}, {1, 64, 1, 16}, {2, 1024, 2, 32}, {3, 1000, 3, 64}, {1, 4096, 4, 100}, {2, 8192, 2, 32},
		{1, 256, 8, 200},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("t=%d,m=%d,p=%d,len=%d", c.time, c.memory, c.threads, c.keyLen), func(t *testing.T) {
			for _, pw := range []string{"", "password", "Str0ng!Passw0rd with spaces ∂"} {
				salt := []byte("somesaltsomesalt")
				got := IDKey([]byte(pw), salt, c.time, c.memory, c.threads, c.keyLen)
				want := xargon2.IDKey([]byte(pw), salt, c.time, c.memory, c.threads, c.keyLen)
				if !bytes.Equal(got, want) {
					t.Fatalf("password %q: key %x, x/crypto %x", pw, got, want)
				}
			}
		})
	}
}

// TestYields: with one processor, a goroutine that needs the CPU runs many times while a hash is
// in progress, instead of waiting for the hash to end (no timing is asserted, only that it ran).
func TestYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ticks atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				ticks.Add(1)
				time.Sleep(0) // a scheduling point, like a request goroutine waking up
				runtime.Gosched()
			}
		}
	}()
	runtime.Gosched() // let the ticker start
	before := ticks.Load()
	IDKey([]byte("password"), []byte("somesaltsomesalt"), 1, 16*1024, 2, 32) // 16 MiB: 64 yields
	during := ticks.Load() - before
	close(stop)
	<-done
	if during < 32 {
		t.Fatalf("the other goroutine ran %d times during a 16 MiB hash; want at least 32", during)
	}
}
