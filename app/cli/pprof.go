package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"time"

	"healthcare/app/database"
)

// pprofFlag is serve's --pprof: an address for Go's profiler (net/http/pprof), on loopback only,
// because profiles and goroutine dumps show what the process is doing.
const pprofFlag = "pprof"

// profileHeap turns Go's heap profile on (at Go's default rate) or off, unless GODEBUG sets
// memprofilerate. Run turns it off: its table of call stacks kept about 1.5 MB of an idle server's
// memory; serve --pprof turns it back on (its heap profiles start then).
func profileHeap(on bool) {
	if strings.Contains(os.Getenv("GODEBUG"), "memprofilerate") {
		return
	}
	runtime.MemProfileRate = 0
	if on {
		runtime.MemProfileRate = 512 * 1024
	}
}

// startPprof serves /debug/pprof/, and the database's statements (queries) at /debug/queries, on
// addr until ctx ends. addr must be a loopback address.
func startPprof(ctx context.Context, addr string, queries *database.QueryStats, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return configError(fmt.Errorf("--pprof %s: %v; give a loopback address such as 127.0.0.1:6060", addr, err))
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return configError(fmt.Errorf("--pprof %s: the profiler only listens on loopback (127.0.0.1, ::1 or localhost)", addr))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof %s: %v", addr, unwrapOp(err))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/queries", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = queries.WriteTo(w)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof server stopped", "error", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("profiler: go tool pprof http://"+ln.Addr().String()+"/debug/pprof/profile; database statements: http://"+ln.Addr().String()+"/debug/queries",
		"listen", ln.Addr().String())
	return nil
}
