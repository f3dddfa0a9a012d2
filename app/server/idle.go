package server

import (
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// idleMemory hands the memory a burst of requests left behind back to the system once requests
// stop: the Go runtime keeps freed heap for minutes, and a clinic's server is idle most of the day
// (a burst took the server from 24 MB to 38 MB resident, where it stayed). It collects twice per
// quiet period: at its first tick, and again at quietAgain ticks, once the HTTP server's idle
// workers (kept 10 s) have ended and their stacks can go too. Nothing while it is busy.
type idleMemory struct {
	requests atomic.Uint64
	free     func() // debug.FreeOSMemory; tests count the calls
	last     uint64 // requests at the last tick
	quiet    int    // ticks without a request since the last one that saw some
}

// quietAgain is the tick of a quiet period at which memory is freed the second time (with
// watch's 2 s ticks: 16 s, past fasthttp's 10 s MaxIdleWorkerDuration).
const quietAgain = 8

func newIdleMemory() *idleMemory { return &idleMemory{free: debug.FreeOSMemory, quiet: quietAgain} }

// count is the middleware that tells the watcher the server is busy.
func (m *idleMemory) count(c *fiber.Ctx) error {
	m.requests.Add(1)
	return c.Next()
}

// watch frees memory after a period of every without a request, until stop is closed.
func (m *idleMemory) watch(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.tick()
		}
	}
}

// tick is one look. Only watch's goroutine calls it.
func (m *idleMemory) tick() {
	if n := m.requests.Load(); n != m.last {
		m.last, m.quiet = n, 0
		return
	}
	m.quiet++
	if m.quiet == 1 || m.quiet == quietAgain {
		m.free()
	}
}
