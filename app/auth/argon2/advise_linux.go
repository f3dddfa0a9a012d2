package argon2

import "golang.org/x/sys/unix"

// adviseHashMemory asks Linux to back mem with 2 MiB pages (a hash then takes a few dozen page
// faults instead of some 12,000, each a trap and a zeroed 4 KiB page) and to leave it out of core
// dumps (it holds blocks derived from a password, kept for the next hash: see allocBlocks).
func adviseHashMemory(mem []byte) {
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(mem, unix.MADV_DONTDUMP)
}
