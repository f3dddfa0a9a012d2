package argon2

import "syscall"

// adviseHugePages asks Linux to back mem with 2 MiB pages: a hash then takes a few dozen page
// faults instead of some 12,000 (each a trap and a zeroed 4 KiB page), and unmapping it after the
// hash has fewer entries to shoot down on the CPUs that run the other requests.
func adviseHugePages(mem []byte) { _ = syscall.Madvise(mem, syscall.MADV_HUGEPAGE) }
