package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"healthcare/app/config"
)

// TestLargeAnswersAreBounded: clients that ask for large answers and never read them hold at most
// the send budget (64 MiB, 16 MiB per address) between them, however many they are. Beyond it a
// large answer is 503 with Retry-After; small answers are still served; the budget comes back
// when the readers go. Without the budget, 20 unread answers of 6 MiB held 120 MiB.
func TestLargeAnswersAreBounded(t *testing.T) {
	app, _ := newApp(t, func(c *config.Config) { c.Server.MaxConnectionsPerAddress = 0 })
	const size = 6 << 20
	big := strings.Repeat("x", size)
	app.Get("/test/big", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"rows": big}) })
	base := serve(t, app)

	// ask sends GET /test/big from the address from, reads the status line and headers only, and
	// leaves the connection (and the rest of the answer) unread. A slow reader's kernel holds
	// little of the answer (and reads it at a few KB/s).
	ask := func(from string, slow bool) (net.Conn, *http.Response) {
		t.Helper()
		c := dialFrom(t, base, from)
		if tc, ok := c.(*net.TCPConn); ok && slow {
			_ = tc.SetReadBuffer(4096)
		}
		fmt.Fprintf(c, "GET /test/big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
		if err != nil {
			t.Fatalf("GET /test/big from %s: %v", from, err)
		}
		return c, resp
	}

	runtime.GC()
	var before, during runtime.MemStats
	runtime.ReadMemStats(&before)
	var held []net.Conn
	ok, busy := 0, 0
	for i := range 20 { // two from each of ten addresses: within the per-address share
		c, resp := ask(fmt.Sprintf("127.0.1.%d", i/2+1), true)
		switch resp.StatusCode {
		case 200:
			ok++
			held = append(held, c)
		case 503:
			busy++
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), `"detail":"The server is busy sending other large answers`) {
				t.Errorf("a large answer beyond the budget: Retry-After %q, body %s", resp.Header.Get("Retry-After"), body)
			}
			c.Close()
		default:
			t.Fatalf("GET /test/big: %d", resp.StatusCode)
		}
	}
	if ok != 64/6 || busy != 20-64/6 {
		t.Errorf("20 unread answers of 6 MiB: %d sent, %d refused; want %d and %d (64 MiB at once)", ok, busy, 64/6, 20-64/6)
	}
	runtime.GC()
	runtime.ReadMemStats(&during)
	grew := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d unread answers of 6 MiB: heap in use grew by %d MiB", ok, grew>>20)
	if grew > 96<<20 {
		t.Errorf("unread answers hold %d MiB of heap; want at most the 64 MiB budget and change", grew>>20)
	}

	// One address gets at most its share: a third answer from an address holding two is refused.
	if _, resp := ask("127.0.1.1", true); resp.StatusCode != 503 {
		t.Errorf("a third unread answer from one address: %d, want 503", resp.StatusCode)
	}
	// Small answers do not count.
	if got := getFrom(t, base, "127.0.1.30", "/healthz"); got != 200 {
		t.Errorf("a small answer while the budget is spent: %d, want 200", got)
	}
	// The readers go: their bytes come back, and a new large answer is sent whole.
	for _, c := range held {
		c.Close()
	}
	for i := 0; ; i++ {
		c, resp := ask("127.0.1.31", false)
		if resp.StatusCode == 200 {
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || n != int64(len(`{"rows":""}`)+size) {
				t.Fatalf("the answer after the readers left: %d bytes, %v", n, err)
			}
			c.Close()
			break
		}
		c.Close()
		if i == 100 {
			t.Fatalf("after the readers left: %d, want 200", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countingZeros is an endless stream of zeros that counts what was read of it.
type countingZeros struct{ n atomic.Int64 }

func (z *countingZeros) Read(p []byte) (int, error) {
	clear(p)
	z.n.Add(int64(len(p)))
	return len(p), nil
}

// TestStreamedAnswersAreNotBuffered: a streamed answer (a backup's download, an export) goes out a
// chunk at a time; nothing on the way (the access log's byte count once read it all into memory
// first) reads it ahead. Its size is still logged.
func TestStreamedAnswersAreNotBuffered(t *testing.T) {
	app, logs := newApp(t)
	const size = 256 << 20
	z := &countingZeros{}
	app.Get("/test/stream", func(c *fiber.Ctx) error { return c.SendStream(io.LimitReader(z, size), size) })
	base := serve(t, app)
	c := dialFrom(t, base, "127.0.1.40")
	fmt.Fprintf(c, "GET /test/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /test/stream: %v, %v", resp, err)
	}
	c.Close() // read nothing of the body
	for i := 0; !strings.Contains(logs.String(), `"path":"/test/stream"`); i++ {
		if i == 300 {
			t.Fatal("no log line for /test/stream")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if read := z.n.Load(); read > 64<<20 {
		t.Errorf("%d MiB of a 256 MiB stream were read for a client that read none of it", read>>20)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf(`"bytes":%d`, size)) {
		t.Errorf("the log line does not give the stream's size: %s", logs.String())
	}
}

// FuzzHeaderFraming: any header block gets an answer, never a panic, and one with a single Host,
// a single Content-Length and any other header (no NUL), all lines CRLF, is never refused.
func FuzzHeaderFraming(f *testing.F) {
	for _, s := range []string{"Host: x\r\n", "Host: a\r\nHost: b\r\n", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", "X: 1\r2\r\n", "\r\n", ":\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		_ = headerFraming([]byte(raw))
		clean := "Host: x\r\nContent-Length: 3\r\n"
		if v := strings.NewReplacer("\r", "", "\n", "", ":", "", "\x00", "").Replace(raw); v != "" {
			clean += "X-" + v + ": 1\r\n"
		}
		if got := headerFraming([]byte(clean)); got != "" {
			t.Fatalf("%q: %s", clean, got)
		}
	})
}

// TestLargeListsAreBuiltFewAtATime: lists asked for with a limit above the default page are built
// at most largeBuilds at a time (their memory comes before the send budget sees them); the next
// one waits for a slot, and other requests never do.
func TestLargeListsAreBuiltFewAtATime(t *testing.T) {
	app, _ := newApp(t)
	var inside atomic.Int64
	release := make(chan struct{})
	app.Get("/test/list", func(c *fiber.Ctx) error {
		inside.Add(1)
		defer inside.Add(-1)
		<-release
		return c.JSON(fiber.Map{"limit": c.Query("limit")})
	})
	base := serve(t, app)
	get := func(query string) chan int {
		done := make(chan int, 1)
		go func() {
			resp, err := http.Get(base + "/test/list?" + query)
			if err != nil {
				done <- 0
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		return done
	}
	waitInside := func(n int64) {
		t.Helper()
		for i := 0; inside.Load() != n; i++ {
			if i == 500 {
				t.Fatalf("%d handlers running, want %d", inside.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var large []chan int
	for range largeBuilds + 1 {
		large = append(large, get("limit=1000"))
	}
	waitInside(largeBuilds)
	small := get("limit=100")
	waitInside(largeBuilds + 1) // the default page does not wait
	time.Sleep(200 * time.Millisecond)
	if n := inside.Load(); n != largeBuilds+1 {
		t.Fatalf("%d handlers running with %d large lists asked for: want %d large ones at a time", n, largeBuilds+1, largeBuilds)
	}
	close(release)
	for i, done := range append(large, small) {
		if got := <-done; got != 200 {
			t.Errorf("request %d: %d, want 200", i, got)
		}
	}
}
