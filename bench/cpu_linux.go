//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on every Linux architecture).
const userHZ = 100

// machineCPU is the CPU time all CPUs have spent so far, and the part of it that was idle (idle
// and iowait), in seconds.
func machineCPU() (all, idle float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, 0, false
	}
	// user nice system idle iowait irq softirq steal (guest time is in user already).
	for i := 1; i <= 8 && i < len(f); i++ {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, 0, false
		}
		all += v
		if i == 4 || i == 5 {
			idle += v
		}
	}
	return all / userHZ, idle / userHZ, true
}

// procStat is the fields of /proc/<pid>/stat after the command's name: [0] is the state (field
// 3), so field n is at n-3.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the name may hold spaces and parentheses
	if i < 0 {
		return nil, false
	}
	f := strings.Fields(s[i+1:])
	return f, len(f) > 14
}

// ticks is the sum of the given /proc/<pid>/stat fields (1-based, as proc(5) numbers them).
func ticks(f []string, fields ...int) float64 {
	var sum float64
	for _, n := range fields {
		v, _ := strconv.ParseFloat(f[n-3], 64)
		sum += v
	}
	return sum
}

// processCPU is the CPU time (user and system) pid has spent so far, in seconds.
func processCPU(pid int) (float64, bool) {
	f, ok := procStat(pid)
	if !ok {
		return 0, false
	}
	return ticks(f, 14, 15) / userHZ, true
}

// postgresCPU is the CPU time of a PostgreSQL server so far, in seconds: its postmaster's, its
// live processes' (backends, walwriter...) and that of the processes that have ended, which
// the postmaster collected (a sum that only grows as backends come and go), and how many
// processes it has. A backend collected during the scan is missed: see quietBackends.
func postgresCPU(postmaster int) (float64, int, bool) {
	f, ok := procStat(postmaster)
	if !ok {
		return 0, 0, false
	}
	sum := ticks(f, 14, 15, 16, 17)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, false
	}
	parent := strconv.Itoa(postmaster)
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if c, ok := procStat(pid); ok && c[1] == parent { // field 4: the parent's pid
			sum += ticks(c, 14, 15)
			n++
		}
	}
	return sum / userHZ, n, true
}
