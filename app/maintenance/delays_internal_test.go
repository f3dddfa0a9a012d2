package maintenance

import (
	"testing"
	"time"
)

// TestDelays: the first run comes within min(Every, 30 s); later ones every Every ± 10 %; and the
// delays vary, so replicas drift apart.
func TestDelays(t *testing.T) {
	for _, every := range []time.Duration{time.Millisecond, 50 * time.Millisecond, time.Minute, time.Hour} {
		firsts, nexts := map[time.Duration]bool{}, map[time.Duration]bool{}
		for range 1000 {
			f := firstDelay(every)
			if f < 0 || f >= min(every, 30*time.Second) {
				t.Fatalf("every %v: first delay %v", every, f)
			}
			n := jittered(every)
			if n < every*9/10 || n >= every*11/10 {
				t.Fatalf("every %v: next delay %v", every, n)
			}
			firsts[f], nexts[n] = true, true
		}
		if len(firsts) < 100 || len(nexts) < 100 {
			t.Errorf("every %v: only %d different first delays and %d next ones in 1000", every, len(firsts), len(nexts))
		}
	}
}
