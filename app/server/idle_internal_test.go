package server

import "testing"

// TestIdleMemoryFreesOnceWhenQuiet: no freeing at a tick that saw requests, once at the first
// tick of a quiet period, and not again until requests came again.
func TestIdleMemoryFreesOnceWhenQuiet(t *testing.T) {
	frees := 0
	m := newIdleMemory()
	m.free = func() { frees++ }
	m.tick() // quiet from the start: nothing used, nothing to free
	for i := 0; i < 3; i++ {
		m.requests.Add(1)
		m.tick()
	}
	if frees != 0 {
		t.Fatalf("freed %d times while busy", frees)
	}
	m.tick()
	m.tick()
	if frees != 1 {
		t.Fatalf("freed %d times in one quiet period, want once", frees)
	}
	m.requests.Add(1)
	m.tick()
	m.tick()
	if frees != 2 {
		t.Fatalf("freed %d times after a second busy period, want 2 in all", frees)
	}
}
