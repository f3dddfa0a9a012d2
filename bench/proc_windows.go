package main

import "syscall"

// ownProcessGroup: the benchmark needs wrk and pgbench, which it runs on Linux; on Windows it only
// has to compile.
func ownProcessGroup() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
