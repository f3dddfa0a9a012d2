package cli

import (
	"net"
	"os"
	"testing"
	"time"

	"healthcare/app/config"
)

func TestDialAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		":8080":          "127.0.0.1:8080",
		"127.0.0.1:9000": "127.0.0.1:9000",
		"10.1.2.3:80":    "10.1.2.3:80",
		"[::1]:8080":     "[::1]:8080",
		"example.com:81": "example.com:81",
	} {
		if got := dialAddr(in); got != want {
			t.Errorf("dialAddr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr *net.TCPAddr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, "http://127.0.0.1:8080/"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, "http://127.0.0.1:8080/"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8081}, "http://127.0.0.1:8081/"},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 5), Port: 80}, "http://192.168.1.5:80/"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, "http://[::1]:8080/"},
	} {
		if got := openURL("http", tc.addr); got != tc.want {
			t.Errorf("openURL(%v) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestSentence(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"port taken":  "port taken.",
		"all good.\n": "all good.",
		"":            "failed.",
	} {
		if got := sentence(in); got != want {
			t.Errorf("sentence(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDefaultStopFitsDockerGrace: with the shipped defaults a stop (requests in flight, then
// PostgreSQL) ends at least 2 s before Docker's 10 s grace period runs out and it kills the
// process (issue 16, item 11).
func TestDefaultStopFitsDockerGrace(t *testing.T) {
	t.Parallel()
	defaults, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Sources{Defaults: defaults, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// killWait: PostgreSQL still running after its share is killed, waiting up to a second.
	const dockerGrace, headroom, killWait = 10 * time.Second, 2 * time.Second, time.Second
	if worst := cfg.Server.ShutdownTimeout + minDatabaseStop + killWait; worst > dockerGrace-headroom {
		t.Errorf("a stop may take %s (server.shutdown_timeout %s + PostgreSQL's %s + %s to kill it): more than Docker's %s grace period less %s",
			worst, cfg.Server.ShutdownTimeout, minDatabaseStop, killWait, dockerGrace, headroom)
	}
}
