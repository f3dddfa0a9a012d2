package server

import "testing"

// TestIdleMemoryFreesWhenQuiet: no freeing at a tick that saw requests; at the first quiet tick
// and once more at quietAgain; then nothing until requests came and went again. A server quiet
// from its start frees nothing.
func TestIdleMemoryFreesWhenQuiet(t *testing.T) {
	frees := 0
	m := newIdleMemory()
	m.free = func() { frees++ }
	for i := 0; i < 3*quietAgain; i++ {
		m.tick()
	}
	if frees != 0 {
		t.Fatalf("freed %d times with no request ever", frees)
	}
	for round := 1; round <= 2; round++ {
		for i := 0; i < 3; i++ {
			m.requests.Add(1)
			m.tick()
		}
		if frees != 2*(round-1) {
			t.Fatalf("round %d: freed %d times while busy", round, frees)
		}
		m.tick()
		if frees != 2*round-1 {
			t.Fatalf("round %d: freed %d times at the first quiet tick", round, frees)
		}
		for i := 1; i < 3*quietAgain; i++ {
			m.tick()
		}
		if frees != 2*round {
			t.Fatalf("round %d: freed %d times over a long quiet period, want 2 per period", round, frees)
		}
	}
}
