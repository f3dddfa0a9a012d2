//go:build !linux

package main

// Where there is no /proc, the benchmark reports no CPU times.

func machineCPU() (all, idle float64, ok bool)        { return 0, 0, false }
func processCPU(pid int) (float64, bool)              { return 0, false }
func postgresCPU(postmaster int) (float64, int, bool) { return 0, 0, false }
