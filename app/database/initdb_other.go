//go:build !linux

package database

import "syscall"

// initdbProcAttr: only Linux has a parent-death signal. Elsewhere an initdb left by a killed
// first start finishes on its own; its postgres.initdb/ is removed by the next start.
func initdbProcAttr() *syscall.SysProcAttr { return nil }
