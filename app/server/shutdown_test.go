package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// TestShutdownWithKeepAliveClients: when shutdown begins, a request in flight on a keep-alive
// connection still gets its whole answer, marked "Connection: close" so the client opens a new
// connection for its next request; an idle keep-alive connection is closed cleanly (EOF, not a
// reset); Serve returns nil once the answer is out.
func TestShutdownWithKeepAliveClients(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	entered, release := make(chan struct{}), make(chan struct{})
	body := strings.Repeat("patient-free payload ", 10_000) // ~200 KB: more than one write
	app.Get("/test/hold", func(c *fiber.Ctx) error {
		close(entered)
		<-release
		return c.SendString(body)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, shutdown := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, app, ln, 10*time.Second) }()
	defer func() {
		shutdown()
		select {
		case <-release:
		default:
			close(release)
		}
		<-served
	}()

	// A keep-alive client: its second request reuses the first one's connection.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path string, reused *bool) (*http.Response, []byte, error) {
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if reused != nil {
				*reused = i.Reused
			}
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", base+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	resp, _, err := get("/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Close {
		t.Fatal("Connection: close before any shutdown")
	}

	// An idle keep-alive connection of another client.
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleReader := bufio.NewReader(idle)
	if _, err := io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if r, err := http.ReadResponse(idleReader, nil); err != nil || r.StatusCode != 200 || r.Close {
		t.Fatalf("idle connection's first answer: %v %+v", err, r)
	} else {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}

	// The slow request, in flight when shutdown begins.
	type answer struct {
		resp   *http.Response
		body   []byte
		err    error
		reused bool
	}
	got := make(chan answer, 1)
	go func() {
		var a answer
		a.resp, a.body, a.err = get("/test/hold", &a.reused)
		got <- a
	}()
	<-entered
	shutdown()

	// The idle connection is closed without a reset.
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleReader.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle keep-alive connection: read %v, want EOF (a clean close)", err)
		if errors.Is(err, syscall.ECONNRESET) {
			t.Error("the idle connection was reset")
		}
	}
	// New connections are refused once shutdown began.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("a new connection was accepted during shutdown")
	}

	close(release)
	a := <-got
	if a.err != nil {
		t.Fatalf("in-flight request: %v", a.err)
	}
	if !a.reused {
		t.Error("the in-flight request did not reuse the keep-alive connection (the test proves nothing)")
	}
	if a.resp.StatusCode != 200 || string(a.body) != body {
		t.Errorf("in-flight request: status %d, %d of %d bytes", a.resp.StatusCode, len(a.body), len(body))
	}
	// net/http turns an HTTP/1.1 "Connection: close" into resp.Close (and drops the header).
	if !a.resp.Close {
		t.Errorf("answer written during shutdown lacks Connection: close: %v", a.resp.Header)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
		served <- nil // for the deferred clean-up
	case <-time.After(5 * time.Second):
		t.Error("Serve did not return after the last answer")
	}
}
