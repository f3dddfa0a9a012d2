package server

import (
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// idleMemory hands the memory a burst of requests left behind back to the system once requests
// stop: the Go runtime keeps freed heap for minutes, and a clinic's server is idle most of the day
// (a burst took the server from 25 MB to 40 MB resident, where it stayed). One garbage collection
// when the server goes quiet; nothing while it is busy.
type idleMemory struct {
	requests atomic.Uint64
	free     func() // debug.FreeOSMemory; tests count the calls
	last     uint64 // requests at the last tick
	freed    bool   // freed since the last request
}

func newIdleMemory() *idleMemory { return &idleMemory{free: debug.FreeOSMemory, freed: true} }

// count is the middleware that tells the watcher the server is busy.
func (m *idleMemory) count(c *fiber.Ctx) error {
	m.requests.Add(1)
	return c.Next()
}

// watch frees memory once after a period of every without a request, until stop is closed.
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

// tick is one look: a tick without a request since the one before frees the memory, once per
// quiet period. Only watch's goroutine calls it.
func (m *idleMemory) tick() {
	switch n := m.requests.Load(); {
	case n != m.last:
		m.last, m.freed = n, false
	case !m.freed:
		m.free()
		m.freed = true
	}
}
