package argon2

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMemoryGoesBack: a hash's memory serves the next hash, and once no hash came for keepFor it
// is unmapped: the process's resident memory goes back to where it was, where heap memory would
// stay until collected and scavenged.
func TestMemoryGoesBack(t *testing.T) {
	defer func(d time.Duration) { keepFor = d }(keepFor)
	keepFor = 300 * time.Millisecond
	spare.release()
	before, _ := rssKiB()
	IDKey([]byte("password"), []byte("somesaltsomesalt"), 1, 64*1024, 1, 32)
	spare.mu.Lock()
	kept := len(spare.free)
	spare.mu.Unlock()
	if kept != 1 {
		t.Fatalf("%d mappings kept after a hash, want 1 for the next hash", kept)
	}
	// The next hash of that size takes it (no second mapping).
	IDKey([]byte("other"), []byte("somesaltsomesalt"), 1, 64*1024, 1, 32)
	spare.mu.Lock()
	kept = len(spare.free)
	spare.mu.Unlock()
	if kept != 1 {
		t.Fatalf("%d mappings kept after two hashes, want the same one", kept)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		after, _ := rssKiB()
		if grew := after - before; grew <= 16*1024 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("resident memory still %d KiB above its start 30 s after the last hash; want it returned", after-before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rssKiB() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
