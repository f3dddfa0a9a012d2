package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// runReplicas is -replicas N: host (the binary in embedded mode) provides the one PostgreSQL;
// N copies of the binary serve the API from it in external-database mode, as replicas behind a
// load balancer would. Each round runs pgbench, then every scenario against 1 replica and against
// N (the order alternating between rounds), with the same total of wrk connections and threads.
// The other replicas and the host's own server stay idle meanwhile.
func runReplicas(ctx context.Context, o options, rep *report, host *target, tmp, script string) error {
	n := o.replicas
	rep.Replicas = n
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	jwt := "HEALTHCARE_AUTH_JWT_SECRET=" + hex.EncodeToString(secret)
	host.env = append(host.env, jwt)
	var replicas []*target
	defer func() {
		for _, r := range replicas {
			r.stop()
		}
		host.stop() // last: it runs the PostgreSQL
	}()
	if err := host.start(ctx, o); err != nil {
		return err
	}
	// The application role, over TCP to 127.0.0.1, as a replica on another machine would connect.
	dbURL := (&url.URL{Scheme: "postgres", User: url.UserPassword("healthcare", host.pgPass),
		Host: "127.0.0.1:" + strconv.Itoa(host.pgPort), Path: "/healthcare", RawQuery: "sslmode=disable"}).String()
	for i := 1; i <= n; i++ {
		r := &target{label: fmt.Sprintf("replica-%d", i), bin: host.bin, dir: filepath.Join(tmp, fmt.Sprintf("replica-%d", i)),
			env: []string{"DATABASE_URL=" + dbURL, jwt}, remote: true}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return err
		}
		replicas = append(replicas, r)
	}
	// Started together, as a deployment would: they apply nothing (the host did), but they race.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = r.start(ctx, o) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	first := replicas[0]
	if err := first.load(ctx); err != nil {
		return fmt.Errorf("%s: load the data set: %w", first.label, err)
	}
	for _, t := range append(replicas[1:], host) {
		t.token, t.login, t.idLo, t.idHi, t.userID = first.token, first.login, first.idLo, first.idHi, first.userID
	}
	for _, r := range replicas {
		rep.IdleRSSMB[r.label+" after load"] = rssMB(r.cmd.Process.Pid)
	}

	label := func(k int) string {
		if k == 1 {
			return "1 replica"
		}
		return fmt.Sprintf("%d replicas", k)
	}
	counts := []int{1}
	if n > 1 {
		counts = append(counts, n)
	}
	for round := 1; round <= o.runs; round++ {
		settle(ctx)
		tps, _, err := host.runPgbench(ctx, o)
		if err != nil {
			return err
		}
		host.pgbench = append(host.pgbench, tps)
		rep.Pgbench[host.label] = host.pgbench
		log.Printf("round %d pgbench %8.0f TPS", round, tps)
		order := slices.Clone(counts)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range strings.Split(o.scenarios, ",") {
			reqps := map[int]float64{}
			for _, k := range order {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				settle(ctx)
				res, err := spread(ctx, o, replicas[:k], script, s, round)
				if err != nil {
					return err
				}
				for _, r := range res {
					r.Target = label(k)
					r.PgbenchTP = tps
					r.Ratio = r.ReqPerSec / tps
					rep.Results = append(rep.Results, r)
					if r.Scenario == s {
						reqps[k] = r.ReqPerSec
					}
					log.Printf("round %d %-10s (%s%s) %-34s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %d  errors %d  %.0f%% of pgbench  rss %.0f MB",
						round, r.Target, r.Scenario, strings.Repeat(" ", max(0, 3-len(r.Scenario))), r.What, r.ReqPerSec, r.P50ms, r.P99ms, r.Non2xx, r.Errors, 100*r.Ratio, r.MaxRSSMB)
					if r.Non2xx > 0 || r.Errors > 0 {
						rep.Valid = false
						rep.Problems = append(rep.Problems, fmt.Sprintf("round %d %s (%s): %d non-2xx, %d socket errors", round, r.Target, r.Scenario, r.Non2xx, r.Errors))
					}
				}
			}
			if n > 1 && reqps[1] > 0 {
				rep.Scaling = append(rep.Scaling, scaling{Round: round, Scenario: s, Replicas: n,
					ReqPerSec1: reqps[1], ReqPerSecN: reqps[n], Ratio: reqps[n] / reqps[1]})
			}
		}
	}
	time.Sleep(5 * time.Second)
	for _, r := range replicas {
		rep.IdleRSSMB[r.label+" idle after load"] = rssMB(r.cmd.Process.Pid)
	}
	return nil
}

// spread runs scenario s against the replicas at once: each of its loads' connections are split
// evenly, one wrk per replica (threads split too, at least one each), all started together. A
// load's req/s is the sum over its wrk runs, its p50 and p99 the percentiles of their merged
// latency histograms, its RSS the sum of the replicas' peaks.
func spread(ctx context.Context, o options, reps []*target, script, s string, round int) ([]result, error) {
	loads, err := scenarioLoads(o, s)
	if err != nil {
		return nil, err
	}
	n := len(reps)
	stops := make([]func() float64, n)
	for i, r := range reps {
		stops[i] = sampleRSS(r.cmd.Process.Pid)
	}
	stats := make([][]*wrkStats, len(loads))
	errs := make([][]error, len(loads))
	var wg sync.WaitGroup
	for li, l := range loads {
		stats[li] = make([]*wrkStats, n)
		errs[li] = make([]error, n)
		for i, r := range reps {
			conns := l.conns / n
			if i < l.conns%n {
				conns++
			}
			conns = max(1, conns)
			threads := max(1, min(o.threads/n, conns))
			wg.Add(1)
			go func() {
				defer wg.Done()
				stats[li][i], errs[li][i] = r.wrk(ctx, o, script, l.mode, conns, threads)
			}()
		}
	}
	wg.Wait()
	rss := 0.0
	for _, stop := range stops {
		rss += stop()
	}
	results := make([]result, len(loads))
	for li, l := range loads {
		what := scenarioWhat[s]
		if l.name == "f:login" {
			what = "logins beside (f)"
		}
		r := result{Round: round, Scenario: l.name, What: what, MaxRSSMB: rss}
		hist := map[int64]int64{}
		for i, st := range stats[li] {
			if errs[li][i] != nil {
				return nil, errs[li][i]
			}
			r.ReqPerSec += float64(st.Requests) / (float64(st.DurationUS) / 1e6)
			r.Requests += st.Requests
			r.Non2xx += st.Non2xx
			r.Errors += st.ConnectErrors + st.ReadErrors + st.WriteErrors + st.Timeouts
			if st.hist == nil {
				return nil, fmt.Errorf("wrk %s printed no latency histogram", l.mode)
			}
			for us, c := range st.hist {
				hist[us] += c
			}
		}
		r.P50ms, r.P99ms = percentile(hist, 50)/1000, percentile(hist, 99)/1000
		results[li] = r
	}
	return results, nil
}

// percentile is wrk's stats_percentile over a histogram of latencies in us.
func percentile(hist map[int64]int64, p float64) float64 {
	var total int64
	keys := make([]int64, 0, len(hist))
	for us, c := range hist {
		keys = append(keys, us)
		total += c
	}
	slices.Sort(keys)
	rank := int64(math.Round(p/100*float64(total) + 0.5))
	var cum int64
	for _, us := range keys {
		cum += hist[us]
		if cum >= rank {
			return float64(us)
		}
	}
	return 0
}

// scalingMarkdown is the -replicas section of the report: per scenario, N replicas' req/s over
// 1 replica's, the range over rounds.
func scalingMarkdown(rep *report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d replica(s) in external-database mode against the one PostgreSQL above (run by the binary in embedded mode, whose own server stays idle); "+
		"N replicas: one wrk per replica with its share of the connections, req/s summed, p50/p99 from the merged histograms, RSS summed over the replicas.\n",
		rep.Replicas)
	if len(rep.Scaling) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "\n| scenario | 1 replica req/s | %d replicas req/s | %d replicas / 1 |\n|---|---|---|---|\n", rep.Replicas, rep.Replicas)
	var order []string
	by := map[string][]scaling{}
	for _, s := range rep.Scaling {
		if _, ok := by[s.Scenario]; !ok {
			order = append(order, s.Scenario)
		}
		by[s.Scenario] = append(by[s.Scenario], s)
	}
	for _, sc := range order {
		var one, many, ratio []float64
		for _, s := range by[sc] {
			one, many, ratio = append(one, s.ReqPerSec1), append(many, s.ReqPerSecN), append(ratio, s.Ratio)
		}
		fmt.Fprintf(&b, "| (%s) %s | %s | %s | %s |\n", sc, scenarioWhat[sc], rangeOf(one, "%.0f"), rangeOf(many, "%.0f"), rangeOf(ratio, "%.2f"))
	}
	return b.String()
}
