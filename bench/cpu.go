package main

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// CPU per request. On a machine shared with other work, req/s (and pgbench's TPS) move from round
// to round with whatever else runs; the CPU time a request costs moves much less. It also says
// where a request's time goes (the server, PostgreSQL, the load generator) and how much of the
// machine sat idle: a throughput below what the CPU cost allows is a lack of concurrency, not of
// speed.

// cpuMark is one reading of the CPU times a measurement compares, in seconds.
type cpuMark struct {
	all, idle, server, postgres float64
	backends                    int // PostgreSQL's processes
	ok                          bool
}

func (t *target) cpuMark() cpuMark {
	var m cpuMark
	var okAll, okServer, okPG bool
	m.all, m.idle, okAll = machineCPU()
	m.server, okServer = processCPU(t.cmd.Process.Pid)
	m.postgres, m.backends, okPG = postgresCPU(t.postmasterPID())
	m.ok = okAll && okServer && okPG
	return m
}

// quietBackends waits (at most 2 s) until PostgreSQL has no more processes than at mark a: the
// backends of pgbench's clients end together when it exits, and one that the postmaster collects
// while a mark scans /proc is counted neither as live nor as collected.
func (t *target) quietBackends(a cpuMark) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if _, n, ok := postgresCPU(t.postmasterPID()); !ok || n <= a.backends {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// postmasterPID is the pid of the target's embedded PostgreSQL (0 if it has none).
func (t *target) postmasterPID() int {
	b, err := os.ReadFile(filepath.Join(t.dir, "data", "postgres", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// cpuCost is what one request (or one pgbench transaction) cost, in microseconds of CPU, and how
// idle the machine was meanwhile.
type cpuCost struct {
	ServerUS   float64 `json:"server_us"`
	PostgresUS float64 `json:"postgres_us"`
	ClientUS   float64 `json:"client_us"` // wrk's, or pgbench's
	IdlePct    float64 `json:"machine_idle_pct"`
}

func (c *cpuCost) total() float64 { return c.ServerUS + c.PostgresUS + c.ClientUS }

// costBetween is the cost of each of n requests made between marks a and b by clients that used
// client seconds of CPU; withServer false leaves the server out (pgbench does not go through it).
func costBetween(a, b cpuMark, client float64, n int, withServer bool) *cpuCost {
	if !a.ok || !b.ok || n <= 0 || b.all <= a.all {
		return nil
	}
	per := 1e6 / float64(n)
	c := &cpuCost{PostgresUS: (b.postgres - a.postgres) * per, ClientUS: client * per,
		IdlePct: 100 * (b.idle - a.idle) / (b.all - a.all)}
	if withServer {
		c.ServerUS = (b.server - a.server) * per
	}
	return c
}

// settle waits until the machine is quiet, at most 30 s, before a measurement. What a run leaves
// behind (the audit sealer hashing its rows, autovacuum, a checkpoint, in the server that ran
// it) would otherwise land on the next measurement: it cost pgbench up to a quarter of its TPS
// here, and as a round's order never changes, it fell on the same measurement every round.
func settle(ctx context.Context) {
	const window, quiet, limit = time.Second, 0.10, 30 * time.Second
	all0, idle0, ok := machineCPU()
	if !ok {
		return
	}
	deadline := time.Now().Add(limit)
	busy := 1.0
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(window):
		}
		all, idle, _ := machineCPU()
		if all > all0 {
			busy = 1 - (idle-idle0)/(all-all0)
		}
		if busy < quiet {
			return
		}
		all0, idle0 = all, idle
	}
	log.Printf("the machine is still %.0f%% busy after %s; measuring anyway", 100*busy, limit)
}
