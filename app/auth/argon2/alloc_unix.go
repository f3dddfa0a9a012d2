//go:build unix

package argon2

import (
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// allocBlocks maps the hash's memory outside the Go heap; free hands it back. The memory (46 MiB
// by default) is kept for the next hash while logins follow each other, and unmapped once none
// came for keepFor: a burst of logins does not pay for mapping, faulting in and zeroing 46 MiB
// per hash (measured: half of a login's CPU), and an idle server does not keep it. The heap a
// login leaves behind does not make the collector run sooner for everything else either. blocks
// hold no pointers, so the collector need not see them. Reused memory is not zeroed: the first
// pass writes every block before it is read (see processBlocks).
func allocBlocks(n uint32) ([]block, func()) {
	size := int(n) * blockLength * 8
	mem := spare.take(size)
	if mem == nil {
		var err error
		mem, err = syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return make([]block, n), func() {} // no address space left for a mapping: the heap then
		}
		adviseHashMemory(mem)
	}
	return unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(mem))), n), func() { spare.give(mem) }
}

// keepFor is how long memory of finished hashes waits for the next hash before it is unmapped.
var keepFor = 2 * time.Second

// spare holds the memory of finished hashes (at most one per hash that ran at once).
var spare arena

type arena struct {
	mu    sync.Mutex
	free  [][]byte
	timer *time.Timer
}

// take is a kept mapping of size bytes, or nil.
func (a *arena) take(size int) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, m := range a.free {
		if len(m) == size {
			a.free = append(a.free[:i], a.free[i+1:]...)
			return m
		}
	}
	return nil
}

// give keeps mem for the next hash and (re)starts the countdown to unmapping everything kept.
func (a *arena) give(mem []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.free = append(a.free, mem)
	if a.timer == nil {
		a.timer = time.AfterFunc(keepFor, a.release)
	} else {
		a.timer.Reset(keepFor)
	}
}

// release unmaps the kept memory.
func (a *arena) release() {
	a.mu.Lock()
	free := a.free
	a.free = nil
	a.mu.Unlock()
	for _, m := range free {
		_ = syscall.Munmap(m)
	}
}
