package cli

import "golang.org/x/sys/windows"

// The listen errors that get a sentence of their own (Winsock's codes).
var (
	errAddrInUse    error = windows.WSAEADDRINUSE
	errAccess       error = windows.WSAEACCES
	errAddrNotAvail error = windows.Errno(10049) // WSAEADDRNOTAVAIL
)
