package database

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// exeSuffix is what executables' names end with.
const exeSuffix = ".exe"

// childProcAttr starts PostgreSQL without this program's console (a hidden one of its own), so a
// Ctrl-C or Ctrl-Break typed into the console reaches this program only, which then stops
// PostgreSQL in order.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.CREATE_NO_WINDOW}
}

var (
	jobOnce sync.Once
	job     windows.Handle
	jobErr  error
)

// bindChild puts the postmaster into a job object that Windows closes, killing what is in it,
// when this program ends in any way: PostgreSQL never outlives it. The job handle stays open for
// the process's lifetime on purpose.
func bindChild(cmd *exec.Cmd) error {
	jobOnce.Do(func() {
		job, jobErr = windows.CreateJobObject(nil, nil)
		if jobErr != nil {
			return
		}
		info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
			BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE},
		}
		_, jobErr = windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation, uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)))
	})
	if jobErr != nil {
		return fmt.Errorf("cannot create a job object for PostgreSQL: %v", jobErr)
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		return fmt.Errorf("cannot open the PostgreSQL process: %v", err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("cannot bind PostgreSQL to this program's lifetime: %v", err)
	}
	return nil
}

// killChild ends the postmaster at once; its backends notice and exit.
func killChild(cmd *exec.Cmd) { cmd.Process.Kill() }

// signalShutdown asks the postmaster for a fast or immediate shutdown. Windows has no signals:
// PostgreSQL emulates them through a named pipe that pg_ctl kill writes to.
func (p *postmaster) signalShutdown(cmd *exec.Cmd, mode shutdownMode) error {
	sig := "INT"
	if mode == shutdownImmediate {
		sig = "QUIT"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(p.bin.BinDir, "pg_ctl"+exeSuffix), "kill", sig, strconv.Itoa(cmd.Process.Pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl kill %s: %v: %s", sig, err, out)
	}
	return nil
}
