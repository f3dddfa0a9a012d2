//go:build unix

package cli

import "syscall"

// The listen errors that get a sentence of their own.
var (
	errAddrInUse    error = syscall.EADDRINUSE
	errAccess       error = syscall.EACCES
	errAddrNotAvail error = syscall.EADDRNOTAVAIL
)
