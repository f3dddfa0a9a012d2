// Command bench measures the API against PostgreSQL itself, on this machine, in one run:
//
//	go run ./bench                                   # 1 run, 10 s per scenario
//	go run ./bench -runs 3 -baseline main            # also main's binary, interleaved, 3 rounds
//	go run ./bench -replicas 2 -scenarios a,d        # 1 and 2 servers against one PostgreSQL
//
// It builds the binary (and, with -baseline, the binary of a git revision), starts each on a fresh
// data directory with its own embedded PostgreSQL, loads the fixed data set through the API (1 user,
// 20 doctors, 200 patients, 3 assignments each), and then, each round, runs pgbench's prepared
// primary-key select of one patient against that PostgreSQL and wrk against the API:
//
//	(a) GET /api/patients/{id}/          (b) GET /api/doctors/        (c) GET /api/patients/{id}/doctors/
//	(d) POST /api/patients/              (e) POST /api/auth/login/    (f) (a) while (e) runs
//
// Per scenario it reports req/s, p50, p99, the non-2xx and socket errors (a run with any is
// invalid: the exit status is 1), the ratio to pgbench's TPS of the same round, and the server's
// RSS. Results go to stdout and to -out as results.md and results.json.
//
// With -replicas N the binary runs once in embedded mode only to provide a PostgreSQL, and N more
// copies run in external-database mode (DATABASE_URL, one JWT secret) against it, as replicas
// behind a load balancer would. Each scenario is measured against 1 replica and against N, with
// the same total of wrk connections and threads: for N, one wrk per replica, started together,
// each with its share of the connections; req/s is their sum and p50/p99 are percentiles of their
// merged latency histograms. The report adds the ratio N replicas / 1 replica per scenario.
//
// wrk is installed with apt-get when missing (as root); pgbench comes with Debian's PostgreSQL.
// Timings on a shared machine are noisy: compare ratios within one run, over several rounds.
package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

//go:embed bench.lua
var luaScript []byte

type options struct {
	duration    time.Duration
	runs        int
	connections int
	threads     int
	loginConns  int
	baseline    string
	out         string
	scenarios   string
	pprof       string
	keep        bool
	serverEnv   string
	baseEnv     string
	replicas    int
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each scenario and of each pgbench run")
	flag.IntVar(&o.runs, "runs", 1, "rounds; each round measures pgbench and every scenario on every binary")
	flag.IntVar(&o.connections, "c", 32, "wrk connections (and pgbench clients)")
	flag.IntVar(&o.threads, "t", 2, "wrk threads (and pgbench threads)")
	flag.IntVar(&o.loginConns, "login-c", 4, "wrk connections of the login scenarios (hashes queue on the server anyway)")
	flag.StringVar(&o.baseline, "baseline", "", "a git revision (e.g. main) to build and measure in the same run")
	flag.StringVar(&o.out, "out", "bench/out", "directory for results.md, results.json, server logs and profiles")
	flag.StringVar(&o.scenarios, "scenarios", "a,b,c,d,e,f", "scenarios to run")
	flag.StringVar(&o.pprof, "pprof", "", "scenario (e.g. a) during which to save a 5 s CPU profile of this binary's server, in round 1, as cpu-<scenario>.pprof; this binary's server then runs with --pprof, every scenario reports its database round trips per request, and queries.txt gets its statements")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary data directories")
	flag.StringVar(&o.serverEnv, "env", "", "extra environment for the servers, comma-separated KEY=VALUE")
	flag.StringVar(&o.baseEnv, "baseline-env", "", "extra environment for the baseline's server only (e.g. -baseline HEAD -baseline-env HEALTHCARE_AUDIT_READS=false compares a setting)")
	flag.IntVar(&o.replicas, "replicas", 0, "N >= 1: measure 1 and N servers in external-database mode against one PostgreSQL instead (no -baseline, -pprof)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// target is one binary under test, running with its own PostgreSQL.
type target struct {
	label   string
	bin     string
	dir     string // temporary root: data/, server.log
	addr    string
	cmd     *exec.Cmd
	exited  chan error
	token   string
	login   string // login body
	idLo    int64
	idHi    int64
	userID  int64
	pgPort  int
	pgPass  string
	pprof   string // the server's pprof address, if any
	pgbench []float64
	pgCPU   []*cpuCost // per round, what a pgbench transaction cost
	env     []string   // more environment for the server (-replicas: DATABASE_URL, the JWT secret)
	remote  bool       // external-database mode: no PostgreSQL of its own
}

// result is one scenario on one target in one round.
type result struct {
	Target    string  `json:"target"`
	Round     int     `json:"round"`
	Scenario  string  `json:"scenario"`
	What      string  `json:"what"`
	ReqPerSec float64 `json:"req_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	Non2xx    int     `json:"non_2xx"`
	Errors    int     `json:"socket_errors"`
	Requests  int     `json:"requests"`
	PgbenchTP float64 `json:"pgbench_tps"`
	Ratio     float64 `json:"ratio_to_pgbench"`
	MaxRSSMB  float64 `json:"max_rss_mb"`
	// DBTrips is the database round trips per request (statements, batches, COPYs: the server's
	// /debug/queries), measured when the server runs with --pprof (-pprof).
	DBTrips float64 `json:"db_round_trips_per_request,omitempty"`
	// CPU is what a request cost (for f, a request of either load), PgbenchCPU what a transaction
	// of the same round's pgbench cost, and CPURatio the second's total over the first's: the
	// ratio to pgbench that the CPU allows, whatever else the machine runs (Linux only).
	CPU        *cpuCost `json:"cpu_per_request,omitempty"`
	PgbenchCPU *cpuCost `json:"pgbench_cpu_per_transaction,omitempty"`
	CPURatio   float64  `json:"cpu_ratio_to_pgbench,omitempty"`
}

type report struct {
	Started     time.Time            `json:"started"`
	Host        string               `json:"host"`
	CPUs        int                  `json:"cpus"`
	Duration    string               `json:"duration"`
	Connections int                  `json:"connections"`
	Threads     int                  `json:"threads"`
	LoginConns  int                  `json:"login_connections"`
	Revision    map[string]string    `json:"revision"`
	Pgbench     map[string][]float64 `json:"pgbench_tps"`
	IdleRSSMB   map[string]float64   `json:"idle_rss_mb"`
	Results     []result             `json:"results"`
	Valid       bool                 `json:"valid"`
	Problems    []string             `json:"problems,omitempty"`
	Replicas    int                  `json:"replicas,omitempty"` // -replicas N
	Scaling     []scaling            `json:"scaling,omitempty"`
}

// scaling is one scenario in one round with -replicas: N replicas' req/s over 1 replica's.
type scaling struct {
	Round      int     `json:"round"`
	Scenario   string  `json:"scenario"`
	Replicas   int     `json:"replicas"`
	ReqPerSec1 float64 `json:"req_per_sec_1"`
	ReqPerSecN float64 `json:"req_per_sec_n"`
	Ratio      float64 `json:"ratio"`
}

var scenarioWhat = map[string]string{
	"a": "GET /api/patients/{id}/",
	"b": "GET /api/doctors/",
	"c": "GET /api/patients/{id}/doctors/",
	"d": "POST /api/patients/",
	"e": "POST /api/auth/login/",
	"f": "(a) while (e) runs",
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.replicas < 0 || (o.replicas > 0 && (o.baseline != "" || o.pprof != "")) {
		return errors.New("-replicas takes a positive number and goes without -baseline and -pprof")
	}
	if err := ensureTools(); err != nil {
		return err
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "healthcare-bench-")
	if err != nil {
		return err
	}
	// The server drops to embedded.run_as when started as root: it must reach its data directory.
	_ = os.Chmod(tmp, 0o755)
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	scriptPath := filepath.Join(tmp, "bench.lua")
	if err := os.WriteFile(scriptPath, luaScript, 0o644); err != nil {
		return err
	}

	rep := &report{Started: time.Now().UTC(), CPUs: numCPU(), Duration: o.duration.String(),
		Connections: o.connections, Threads: o.threads, LoginConns: o.loginConns,
		Revision: map[string]string{}, Pgbench: map[string][]float64{}, IdleRSSMB: map[string]float64{}, Valid: true}
	rep.Host, _ = os.Hostname()

	var targets []*target
	add := func(label, rev string) error {
		dir := filepath.Join(tmp, label)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		src := root
		if rev != "" {
			src = filepath.Join(tmp, "src-"+label)
			if err := exportRevision(root, rev, src); err != nil {
				return err
			}
		}
		rep.Revision[label] = describeRevision(root, rev)
		if label == "baseline" && o.baseEnv != "" {
			rep.Revision[label] += " with " + o.baseEnv
		}
		bin := filepath.Join(dir, "healthcare")
		log.Printf("building %s (%s)", label, rep.Revision[label])
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
		build.Dir, build.Stdout, build.Stderr = src, os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build %s: %w", label, err)
		}
		_ = os.Chmod(bin, 0o755)
		targets = append(targets, &target{label: label, bin: bin, dir: dir})
		return nil
	}
	if err := add("this", ""); err != nil {
		return err
	}
	if o.replicas > 0 {
		if err := runReplicas(ctx, o, rep, targets[0], tmp, scriptPath); err != nil {
			return err
		}
		return finish(o, rep, markdown(rep, targets)+scalingMarkdown(rep))
	}
	if o.baseline != "" {
		if err := add("baseline", o.baseline); err != nil {
			return err
		}
	}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	for _, t := range targets {
		if err := t.start(ctx, o); err != nil {
			return err
		}
		if err := t.load(ctx); err != nil {
			return fmt.Errorf("%s: load the data set: %w", t.label, err)
		}
		rep.IdleRSSMB[t.label+" right after loading the data set"] = rssMB(t.cmd.Process.Pid)
	}

	scen := strings.Split(o.scenarios, ",")
	for round := 1; round <= o.runs; round++ {
		for _, t := range targets {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			settle(ctx)
			tps, cost, err := t.runPgbench(ctx, o)
			if err != nil {
				return err
			}
			t.pgbench, t.pgCPU = append(t.pgbench, tps), append(t.pgCPU, cost)
			rep.Pgbench[t.label] = t.pgbench
			cpu := ""
			if cost != nil {
				cpu = fmt.Sprintf("  cpu µs/transaction: postgres %.0f pgbench %.0f, idle %.0f%%", cost.PostgresUS, cost.ClientUS, cost.IdlePct)
			}
			log.Printf("round %d %-8s pgbench %8.0f TPS%s", round, t.label, tps, cpu)
		}
		for _, s := range scen {
			for _, t := range targets {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				settle(ctx)
				res, err := t.scenario(ctx, o, scriptPath, s, round)
				if err != nil {
					return err
				}
				for _, r := range res {
					extra := "" // round trips and CPU, when measured
					if r.DBTrips > 0 {
						extra = fmt.Sprintf("  db round trips %.2f/request", r.DBTrips)
					}
					r.PgbenchTP = t.pgbench[len(t.pgbench)-1]
					r.Ratio = r.ReqPerSec / r.PgbenchTP
					if r.PgbenchCPU = t.pgCPU[len(t.pgCPU)-1]; r.CPU != nil && r.PgbenchCPU != nil {
						r.CPURatio = r.PgbenchCPU.total() / r.CPU.total()
						extra += fmt.Sprintf("  cpu µs/request: server %.0f postgres %.0f wrk %.0f (pgbench's transaction %.0f: %.0f%%), idle %.0f%%",
							r.CPU.ServerUS, r.CPU.PostgresUS, r.CPU.ClientUS, r.PgbenchCPU.total(), 100*r.CPURatio, r.CPU.IdlePct)
					}
					rep.Results = append(rep.Results, r)
					log.Printf("round %d %-8s (%s%s) %-34s %8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %d  errors %d  %.0f%% of pgbench  rss %.0f MB%s",
						round, t.label, r.Scenario, strings.Repeat(" ", max(0, 3-len(r.Scenario))), r.What, r.ReqPerSec, r.P50ms, r.P99ms, r.Non2xx, r.Errors, 100*r.Ratio, r.MaxRSSMB, extra)
					if r.Non2xx > 0 || r.Errors > 0 {
						rep.Valid = false
						rep.Problems = append(rep.Problems, fmt.Sprintf("round %d %s (%s): %d non-2xx, %d socket errors", round, t.label, r.Scenario, r.Non2xx, r.Errors))
					}
				}
			}
		}
	}
	for _, t := range targets {
		if t.pprof != "" {
			// The database statements of this binary's server, all rounds.
			if err := t.saveDebug(o, "/debug/queries", "queries.txt"); err != nil {
				log.Printf("queries: %v", err)
			}
		}
	}
	// Idle: a quiet clinic's server, 5 s and 20 s after the last request (it returns memory at its
	// first quiet tick and again 16 s into a quiet period, see app/server/idle.go).
	time.Sleep(5 * time.Second)
	for _, t := range targets {
		rep.IdleRSSMB[t.label+" idle 5 s after load"] = rssMB(t.cmd.Process.Pid)
	}
	time.Sleep(15 * time.Second)
	for _, t := range targets {
		if t.pprof != "" {
			// What the idle RSS holds.
			if err := t.saveDebug(o, "/debug/pprof/heap?gc=1", "heap-idle.pprof"); err != nil {
				log.Printf("heap: %v", err)
			}
		}
		rep.IdleRSSMB[t.label+" idle 20 s after load"] = rssMB(t.cmd.Process.Pid)
	}

	return finish(o, rep, markdown(rep, targets))
}

// finish prints the report and writes results.md and results.json; an invalid run is an error.
func finish(o options, rep *report, md string) error {
	fmt.Print(md)
	js, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(o.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	log.Printf("wrote %s and %s", filepath.Join(o.out, "results.md"), filepath.Join(o.out, "results.json"))
	if !rep.Valid {
		return errors.New("invalid run: " + strings.Join(rep.Problems, "; "))
	}
	return nil
}

// ensureTools installs wrk when it is missing (as root, with apt-get) and checks for pgbench.
func ensureTools() error {
	if _, err := exec.LookPath("wrk"); err != nil {
		if os.Geteuid() != 0 {
			return errors.New("wrk is not installed: apt-get install wrk")
		}
		log.Printf("installing wrk with apt-get")
		for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "wrk"}} {
			cmd := exec.Command("apt-get", args...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("apt-get %s: %w", strings.Join(args, " "), err)
			}
		}
	}
	if _, err := exec.LookPath("pgbench"); err != nil {
		return errors.New("pgbench is not installed: apt-get install postgresql-client (or postgresql-contrib)")
	}
	return nil
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the bench from the repository (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

// exportRevision writes the tree of rev into dir (git archive), to build it beside this one.
func exportRevision(root, rev, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", rev)
	untar := exec.Command("tar", "-x", "-C", dir)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	archive.Stderr, untar.Stderr = os.Stderr, os.Stderr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w", rev, err)
	}
	return untar.Wait()
}

func describeRevision(root, rev string) string {
	r := rev
	if r == "" {
		r = "HEAD"
	}
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%h %s", r).Output()
	if err != nil {
		return r
	}
	s := strings.TrimSpace(string(out))
	if rev == "" {
		if st, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
			s += " (with uncommitted changes)"
		}
	}
	return s
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the server on a fresh data directory and waits until it is ready.
func (t *target) start(ctx context.Context, o options) error {
	var err error
	if t.addr, err = freeAddr(); err != nil {
		return err
	}
	args := []string{"serve", "--addr", t.addr, "--data-dir", filepath.Join(t.dir, "data"), "--log-level", "warn", "--log-format", "json"}
	if o.pprof != "" && t.label == "this" {
		if t.pprof, err = freeAddr(); err != nil {
			return err
		}
		args = append(args, "--pprof", t.pprof)
	}
	cmd := exec.Command(t.bin, args...)
	cmd.Dir = t.dir
	// The bench's own settings only: tokens outlive the run, rate limits do not stop the login
	// scenarios, no backup runs in the middle.
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEALTHCARE_") && !strings.HasPrefix(kv, "DATABASE_URL=") && !strings.HasPrefix(kv, "DB_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HEALTHCARE_AUTH_ACCESS_TOKEN_TTL=12h",
		"HEALTHCARE_RATE_LIMIT_LOGIN_PER_USERNAME=1000000000",
		"HEALTHCARE_RATE_LIMIT_LOGIN_PER_ADDRESS=1000000000",
		"HEALTHCARE_RATE_LIMIT_REGISTER_PER_ADDRESS=1000000000",
		"HEALTHCARE_BACKUP_SCHEDULE=0",
	)
	// Newer releases end a login that is not refreshed within auth.idle_timeout (which must be at
	// least the token's lifetime): the bench never refreshes. Set only where the binary knows it.
	probe := exec.Command(t.bin, "config")
	probe.Dir = t.dir // not the repository's config.yaml, which may name settings the binary lacks
	if out, err := probe.Output(); err == nil && strings.Contains(string(out), "idle_timeout") {
		env = append(env, "HEALTHCARE_AUTH_IDLE_TIMEOUT=12h", "HEALTHCARE_AUTH_SESSION_MAX_AGE=24h")
	}
	if o.serverEnv != "" {
		env = append(env, strings.Split(o.serverEnv, ",")...)
	}
	if o.baseEnv != "" && t.label == "baseline" {
		env = append(env, strings.Split(o.baseEnv, ",")...)
	}
	env = append(env, t.env...)
	cmd.Env = env
	logf, err := os.Create(filepath.Join(o.out, "server-"+t.label+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = ownProcessGroup()
	log.Printf("starting %s on %s", t.label, t.addr)
	if err := cmd.Start(); err != nil {
		return err
	}
	t.cmd = cmd
	t.exited = make(chan error, 1)
	go func() { t.exited <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get("http://" + t.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-t.exited:
			t.cmd = nil
			return fmt.Errorf("%s: the server exited (%v); see %s", t.label, err, logf.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the server was not ready within 3 minutes; see %s", t.label, logf.Name())
		}
	}
	if t.remote {
		return nil
	}
	// The embedded PostgreSQL's port and the application role's password, for pgbench.
	data := filepath.Join(t.dir, "data")
	var lock struct {
		Port int `json:"postgres_port"`
	}
	b, err := os.ReadFile(filepath.Join(data, "healthcare.lock"))
	if err == nil {
		err = json.Unmarshal(b, &lock)
	}
	if err != nil || lock.Port == 0 {
		return fmt.Errorf("%s: cannot read the embedded PostgreSQL's port from the lock file: %v", t.label, err)
	}
	t.pgPort = lock.Port
	pw, err := os.ReadFile(filepath.Join(data, "postgres-app.secret"))
	if err != nil {
		return fmt.Errorf("%s: cannot read the application role's password: %v", t.label, err)
	}
	t.pgPass = strings.TrimSpace(string(pw))
	return nil
}

func (t *target) stop() {
	if t.cmd == nil {
		return
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
	case <-time.After(60 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.exited
	}
	t.cmd = nil
}

var client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

// call sends a JSON request and decodes the answer into out, expecting status want.
func (t *target) call(ctx context.Context, method, path, body string, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+t.addr+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// load creates the fixed data set through the API: 1 user, 20 doctors, 200 patients, 3
// assignments each.
func (t *target) load(ctx context.Context) error {
	const password = "Bench-Pass-9137-x"
	if err := t.call(ctx, "POST", "/api/auth/register/", `{"username":"bench","email":"bench@example.com","password":"`+password+`","password2":"`+password+`"}`, 201, nil); err != nil {
		return err
	}
	t.login = `{"username":"bench","password":"` + password + `"}`
	var pair struct{ Access string }
	if err := t.call(ctx, "POST", "/api/auth/login/", t.login, 200, &pair); err != nil {
		return err
	}
	t.token = pair.Access
	var me struct{ ID int64 }
	if err := t.call(ctx, "GET", "/api/auth/me/", "", 200, &me); err != nil {
		return err
	}
	t.userID = me.ID
	doctors := make([]int64, 20)
	if err := parallel(20, func(i int) error {
		var d struct{ ID int64 }
		err := t.call(ctx, "POST", "/api/doctors/", fmt.Sprintf(`{"name":"Doctor %d","specialization":"Speciality %d","contact_info":"doctor%d@clinic.example"}`, i, i%5, i), 201, &d)
		doctors[i] = d.ID
		return err
	}); err != nil {
		return err
	}
	patients := make([]int64, 200)
	if err := parallel(200, func(i int) error {
		var p struct{ ID int64 }
		err := t.call(ctx, "POST", "/api/patients/", fmt.Sprintf(`{"name":"Patient %d","age":%d,"gender":"%c","address":"%d Elm Street","phone_number":"555-%04d"}`, i, i%90, "MFO"[i%3], i, i), 201, &p)
		patients[i] = p.ID
		return err
	}); err != nil {
		return err
	}
	if err := parallel(600, func(k int) error {
		i, j := k/3, k%3
		return t.call(ctx, "POST", "/api/mappings/", fmt.Sprintf(`{"patient":%d,"doctor":%d}`, patients[i], doctors[(i+j*7)%20]), 201, nil)
	}); err != nil {
		return err
	}
	t.idLo, t.idHi = slices.Min(patients), slices.Max(patients)
	if t.idHi-t.idLo != 199 {
		return fmt.Errorf("the patients' ids are not contiguous (%d..%d)", t.idLo, t.idHi)
	}
	log.Printf("%s: loaded 1 user, 20 doctors, 200 patients (ids %d..%d), 600 assignments", t.label, t.idLo, t.idHi)
	return nil
}

// parallel runs fn(0..n-1) on 8 workers and returns the first error.
func parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// wrkRuns numbers the wrk runs, so that each creates patients with phone numbers of its own.
var wrkRuns atomic.Int64

var (
	tpsRe = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	txRe  = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// runPgbench runs the select GET one patient does, prepared, with as many clients as wrk has
// connections, against the target's PostgreSQL, as the application role, over the same TCP
// loopback the server uses.
func (t *target) runPgbench(ctx context.Context, o options) (float64, *cpuCost, error) {
	script := filepath.Join(t.dir, "pgbench.sql")
	sql := fmt.Sprintf("\\set id random(%d, %d)\nSELECT p.id, u.username, p.name, p.age, p.gender, p.address, p.phone_number, p.created_at, p.updated_at FROM patients p JOIN users u ON u.id = p.managed_by WHERE p.id = :id AND p.managed_by = %d;\n",
		t.idLo, t.idHi, t.userID)
	if err := os.WriteFile(script, []byte(sql), 0o644); err != nil {
		return 0, nil, err
	}
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-M", "prepared", "-c", strconv.Itoa(o.connections), "-j", strconv.Itoa(o.threads),
		"-T", strconv.Itoa(int(math.Max(1, o.duration.Seconds()))), "-f", script,
		"-h", "127.0.0.1", "-p", strconv.Itoa(t.pgPort), "-U", "healthcare", "healthcare")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+t.pgPass)
	before := t.cpuMark()
	out, err := cmd.CombinedOutput()
	t.quietBackends(before)
	after := t.cpuMark()
	if err != nil {
		return 0, nil, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	m := tpsRe.FindSubmatch(out)
	if m == nil {
		return 0, nil, fmt.Errorf("pgbench printed no TPS: %s", out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	var cost *cpuCost
	if n := txRe.FindSubmatch(out); n != nil {
		txs, _ := strconv.Atoi(string(n[1]))
		cost = costBetween(before, after, processTime(cmd), txs, false)
	}
	return tps, cost, err
}

// processTime is the CPU time an ended command used, in seconds.
func processTime(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// wrkStats is what bench.lua's done() prints.
type wrkStats struct {
	Requests      int             `json:"requests"`
	DurationUS    int64           `json:"duration_us"`
	Non2xx        int             `json:"non2xx"`
	ConnectErrors int             `json:"connect_errors"`
	ReadErrors    int             `json:"read_errors"`
	WriteErrors   int             `json:"write_errors"`
	Timeouts      int             `json:"timeouts"`
	P50us         float64         `json:"p50_us"`
	P99us         float64         `json:"p99_us"`
	hist          map[int64]int64 // latency in us: requests (BENCH_HIST, with -replicas)
	cpu           float64         // wrk's CPU time, seconds
}

// load is one wrk run of a scenario: its name in the results, bench.lua's mode, its connections.
type load struct {
	name, mode string
	conns      int
}

// scenarioLoads is what scenario s runs: one load, or two at once for f.
func scenarioLoads(o options, s string) ([]load, error) {
	var loads []load
	switch s {
	case "a":
		loads = []load{{"a", "patient", o.connections}}
	case "b":
		loads = []load{{"b", "doctors", o.connections}}
	case "c":
		loads = []load{{"c", "patient-doctors", o.connections}}
	case "d":
		loads = []load{{"d", "create", o.connections}}
	case "e":
		loads = []load{{"e", "login", o.loginConns}}
	case "f":
		loads = []load{{"f", "patient", o.connections}, {"f:login", "login", o.loginConns}}
	default:
		return nil, fmt.Errorf("unknown scenario %q (a-f)", s)
	}
	return loads, nil
}

// scenario runs one scenario (two wrk processes at once for f) while sampling the server's RSS.
func (t *target) scenario(ctx context.Context, o options, script, s string, round int) ([]result, error) {
	loads, err := scenarioLoads(o, s)
	if err != nil {
		return nil, err
	}
	stopRSS := sampleRSS(t.cmd.Process.Pid)
	tripsBefore, tripsErr := t.roundTrips()
	cpuBefore := t.cpuMark()
	clientCPU := make([]float64, len(loads))
	var profile chan error
	if s == o.pprof && round == 1 && t.pprof != "" {
		profile = make(chan error, 1)
		go func() { profile <- t.saveProfile(ctx, o, s) }()
	}
	results := make([]result, len(loads))
	errs := make([]error, len(loads))
	var wg sync.WaitGroup
	for i, l := range loads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := t.wrk(ctx, o, script, l.mode, l.conns, min(o.threads, l.conns))
			if err != nil {
				errs[i] = err
				return
			}
			clientCPU[i] = st.cpu
			what := scenarioWhat[s]
			if l.name == "f:login" {
				what = "logins beside (f)"
			}
			results[i] = result{Target: t.label, Round: round, Scenario: l.name, What: what,
				ReqPerSec: float64(st.Requests) / (float64(st.DurationUS) / 1e6),
				P50ms:     st.P50us / 1000, P99ms: st.P99us / 1000, Non2xx: st.Non2xx,
				Errors:   st.ConnectErrors + st.ReadErrors + st.WriteErrors + st.Timeouts,
				Requests: st.Requests}
		}()
	}
	wg.Wait()
	cpuAfter := t.cpuMark()
	rss := stopRSS()
	tripsAfter, err := t.roundTrips()
	if tripsErr == nil && err == nil && tripsAfter > 0 {
		requests := 0
		for _, r := range results {
			requests += r.Requests
		}
		for i := range results {
			results[i].DBTrips = float64(tripsAfter-tripsBefore) / float64(max(1, requests))
		}
	}
	if profile != nil {
		if err := <-profile; err != nil {
			log.Printf("profile: %v", err)
		}
	}
	for i := range results {
		if errs[i] != nil {
			return nil, errs[i]
		}
		results[i].MaxRSSMB = rss
	}
	requests, client := 0, 0.0
	for i, r := range results {
		requests, client = requests+r.Requests, client+clientCPU[i]
	}
	cost := costBetween(cpuBefore, cpuAfter, client, requests, true)
	for i := range results {
		results[i].CPU = cost
	}
	return results, nil
}

func (t *target) wrk(ctx context.Context, o options, script, mode string, conns, threads int) (*wrkStats, error) {
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(int(math.Max(1, o.duration.Seconds())))+"s", "--timeout", "10s", "-s", script, "http://"+t.addr)
	cmd.Env = append(os.Environ(), "BENCH_MODE="+mode, "BENCH_TOKEN="+t.token, "BENCH_LOGIN="+t.login,
		fmt.Sprintf("BENCH_ID_LO=%d", t.idLo), fmt.Sprintf("BENCH_ID_HI=%d", t.idHi), fmt.Sprintf("BENCH_RUN=%d", wrkRuns.Add(1)))
	if o.replicas > 0 {
		cmd.Env = append(cmd.Env, "BENCH_HIST=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("wrk %s: %v: %s", mode, err, out)
	}
	var st *wrkStats
	var hist map[int64]int64
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 256<<20) // the histogram is one long line
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "BENCH_JSON "); ok {
			st = &wrkStats{}
			if err := json.Unmarshal([]byte(rest), st); err != nil {
				return nil, fmt.Errorf("wrk %s: %v: %s", mode, err, rest)
			}
		} else if rest, ok := strings.CutPrefix(sc.Text(), "BENCH_HIST "); ok {
			hist = map[int64]int64{}
			for _, bin := range strings.Split(rest, ",") {
				if bin == "" {
					continue // no request finished
				}
				us, n, ok := strings.Cut(bin, ":")
				u, err1 := strconv.ParseInt(us, 10, 64)
				c, err2 := strconv.ParseInt(n, 10, 64)
				if !ok || err1 != nil || err2 != nil {
					return nil, fmt.Errorf("wrk %s: bad histogram entry %q", mode, bin)
				}
				hist[u] += c
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("wrk %s: %v", mode, err)
	}
	if st == nil {
		return nil, fmt.Errorf("wrk %s printed no result: %s", mode, out)
	}
	st.hist, st.cpu = hist, processTime(cmd)
	return st, nil
}

// roundTrips is the server's count of database round trips (its /debug/queries), or 0 without
// --pprof.
func (t *target) roundTrips() (int64, error) {
	if t.pprof == "" {
		return 0, nil
	}
	resp, err := http.Get("http://" + t.pprof + "/debug/queries")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	if _, err := fmt.Fscanf(resp.Body, "round_trips %d\n", &n); err != nil {
		return 0, fmt.Errorf("/debug/queries: %v", err)
	}
	return n, nil
}

// saveDebug saves what the server's pprof listener answers at path as file in the output
// directory: the idle heap profile, the statement table.
func (t *target) saveDebug(o options, path, file string) error {
	resp, err := http.Get("http://" + t.pprof + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(o.out, file))
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		return err
	}
	log.Printf("saved %s", f.Name())
	return nil
}

// saveProfile takes a 5 s CPU profile from the server's pprof endpoint, 2 s into the scenario.
func (t *target) saveProfile(ctx context.Context, o options, scenario string) error {
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	secs := max(1, min(5, int(o.duration.Seconds())-3))
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.pprof, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("pprof answered %d", resp.StatusCode)
	}
	f, err := os.Create(filepath.Join(o.out, "cpu-"+scenario+".pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	if err == nil {
		log.Printf("saved %s (go tool pprof -top %s)", f.Name(), f.Name())
	}
	return err
}

// sampleRSS polls the process's resident set every 100 ms; the returned func stops and gives the
// largest value in MB.
func sampleRSS(pid int) (stop func() float64) {
	done := make(chan struct{})
	res := make(chan float64, 1)
	go func() {
		peak := rssMB(pid)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				res <- math.Max(peak, rssMB(pid))
				return
			case <-tick.C:
				peak = math.Max(peak, rssMB(pid))
			}
		}
	}()
	return func() float64 { close(done); return <-res }
}

func rssMB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}

// markdown renders the report: one line per target and scenario with the range over rounds.
func markdown(rep *report, targets []*target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Benchmark %s\n\n", rep.Started.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "%d CPUs (shared by wrk, the server and PostgreSQL), wrk -t%d -c%d (logins -c%d), %s per scenario, %d round(s); ranges are min–max over rounds (from 3 rounds on, with the ratio's median).\n\n",
		rep.CPUs, rep.Threads, rep.Connections, rep.LoginConns, rep.Duration, len(targets[0].pgbench))
	for _, t := range targets {
		fmt.Fprintf(&b, "- **%s**: %s; pgbench %s TPS\n", t.label, rep.Revision[t.label], rangeOf(t.pgbench, "%.0f"))
	}
	b.WriteString("\n| target | scenario | req/s | p50 ms | p99 ms | non-2xx | errors | % of pgbench | max RSS MB |\n|---|---|---|---|---|---|---|---|---|\n")
	type key struct{ target, scenario string }
	groups := map[key][]result{}
	var order []key
	for _, r := range rep.Results {
		k := key{r.Target, r.Scenario}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].scenario != order[j].scenario {
			return order[i].scenario < order[j].scenario
		}
		return false
	})
	for _, k := range order {
		rs := groups[k]
		col := func(f func(result) float64) []float64 {
			var v []float64
			for _, r := range rs {
				v = append(v, f(r))
			}
			return v
		}
		non2xx, errs := 0, 0
		for _, r := range rs {
			non2xx += r.Non2xx
			errs += r.Errors
		}
		fmt.Fprintf(&b, "| %s | (%s) %s | %s | %s | %s | %d | %d | %s | %s |\n", k.target, k.scenario, rs[0].What,
			rangeOf(col(func(r result) float64 { return r.ReqPerSec }), "%.0f"),
			rangeOf(col(func(r result) float64 { return r.P50ms }), "%.2f"),
			rangeOf(col(func(r result) float64 { return r.P99ms }), "%.2f"),
			non2xx, errs,
			withMedian(col(func(r result) float64 { return 100 * r.Ratio }), "%.0f %%"),
			rangeOf(col(func(r result) float64 { return r.MaxRSSMB }), "%.0f"))
	}
	var trips []string
	for _, k := range order {
		var v []float64
		for _, r := range groups[k] {
			if r.DBTrips > 0 {
				v = append(v, r.DBTrips)
			}
		}
		if len(v) > 0 {
			trips = append(trips, fmt.Sprintf("%s (%s) %s", k.target, k.scenario, rangeOf(v, "%.2f")))
		}
	}
	if len(trips) > 0 {
		b.WriteString("\nDatabase round trips per request (the server's /debug/queries, with -pprof): " + strings.Join(trips, ", ") + "\n")
	}
	var cpuRows []string
	for _, k := range order {
		var server, pg, client, pgbench, ratio, idle []float64
		for _, r := range groups[k] {
			if r.CPU != nil && r.PgbenchCPU != nil {
				server, pg, client = append(server, r.CPU.ServerUS), append(pg, r.CPU.PostgresUS), append(client, r.CPU.ClientUS)
				pgbench, ratio = append(pgbench, r.PgbenchCPU.total()), append(ratio, 100*r.CPURatio)
				idle = append(idle, r.CPU.IdlePct)
			}
		}
		if len(ratio) > 0 && k.scenario != "f:login" { // (f)'s row holds both of its loads
			cpuRows = append(cpuRows, fmt.Sprintf("| %s | (%s) | %s | %s | %s | %s | %s | %s |", k.target, k.scenario,
				withMedian(server, "%.0f"), withMedian(pg, "%.0f"), withMedian(client, "%.0f"), withMedian(pgbench, "%.0f"),
				withMedian(ratio, "%.0f %%"), withMedian(idle, "%.0f %%")))
		}
	}
	if len(cpuRows) > 0 {
		b.WriteString("\nCPU per request in µs, from /proc (less noisy than req/s on a shared machine). The ratio is the CPU of pgbench's transaction (PostgreSQL and pgbench) over that of a request (server, PostgreSQL and wrk): the ratio to pgbench the CPU allows; idle time makes up the rest of the difference.\n\n")
		b.WriteString("| target | scenario | server | PostgreSQL | wrk | pgbench's transaction | CPU ratio | machine idle |\n|---|---|---|---|---|---|---|---|\n")
		b.WriteString(strings.Join(cpuRows, "\n") + "\n")
	}
	b.WriteString("\nIdle RSS: ")
	var idle []string
	for k, v := range rep.IdleRSSMB {
		idle = append(idle, fmt.Sprintf("%s %.0f MB", k, v))
	}
	sort.Strings(idle)
	b.WriteString(strings.Join(idle, ", ") + "\n")
	if !rep.Valid {
		b.WriteString("\n**Invalid run**: " + strings.Join(rep.Problems, "; ") + "\n")
	}
	return b.String()
}

// withMedian is rangeOf with the median of three or more rounds: pgbench's TPS on a shared machine
// moves more from round to round than the API's, so a single round's ratio says little.
func withMedian(v []float64, format string) string {
	if len(v) < 3 {
		return rangeOf(v, format)
	}
	s := slices.Sorted(slices.Values(v))
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return rangeOf(v, format) + " (median " + fmt.Sprintf(format, m) + ")"
}

func rangeOf(v []float64, format string) string {
	if len(v) == 0 {
		return "-"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	if len(v) == 1 || fmt.Sprintf(format, lo) == fmt.Sprintf(format, hi) {
		return fmt.Sprintf(format, lo)
	}
	return fmt.Sprintf(format, lo) + "–" + fmt.Sprintf(format, hi)
}
