//go:build unix

package argon2

import (
	"syscall"
	"unsafe"
)

// allocBlocks maps the hash's memory outside the Go heap and free unmaps it: the memory (46 MiB
// by default) goes back to the system as soon as the hash ends, instead of staying in the
// process as garbage until the collector and the scavenger get to it, and the heap a login
// leaves behind does not make the collector run sooner for everything else. Anonymous mappings
// start zeroed, as make does. blocks hold no pointers, so the collector need not see them.
func allocBlocks(n uint32) ([]block, func()) {
	mem, err := syscall.Mmap(-1, 0, int(n)*blockLength*8, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]block, n), func() {} // no address space left for a mapping: the heap then
	}
	adviseHugePages(mem)
	return unsafe.Slice((*block)(unsafe.Pointer(unsafe.SliceData(mem))), n), func() { _ = syscall.Munmap(mem) }
}
