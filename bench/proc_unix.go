//go:build !windows

package main

import "syscall"

// ownProcessGroup keeps the server out of the benchmark's process group, so a Ctrl-C reaches the
// benchmark, which stops the server in order.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
