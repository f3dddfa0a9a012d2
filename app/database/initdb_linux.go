package database

import "syscall"

// initdbProcAttr makes initdb die with this process (see initCluster).
func initdbProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
