package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestSend(t *testing.T) {
	big := []byte(strings.Repeat("body { color: black; }\n", 200))
	small := []byte("tiny")
	app := fiber.New()
	bigFile, smallFile := New("app.css", big), New("x.js", small)
	app.Get("/big", func(c *fiber.Ctx) error { return bigFile.Send(c, "no-cache") })
	app.Get("/small", func(c *fiber.Ctx) error { return smallFile.Send(c, "no-cache") })

	get := func(path string, header map[string]string) (int, map[string]string, []byte) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		h := map[string]string{}
		for _, k := range []string{"Content-Type", "Content-Encoding", "ETag", "Vary", "Cache-Control"} {
			h[k] = resp.Header.Get(k)
		}
		return resp.StatusCode, h, body
	}

	status, h, body := get("/big", nil)
	if status != 200 || !bytes.Equal(body, big) || h["Content-Encoding"] != "" || h["Content-Type"] != "text/css; charset=utf-8" || h["Cache-Control"] != "no-cache" {
		t.Fatalf("plain: %d %v %d bytes", status, h, len(body))
	}
	plainTag := h["ETag"]

	status, h, body = get("/big", map[string]string{"Accept-Encoding": "br, gzip;q=0.8"})
	if status != 200 || h["Content-Encoding"] != "gzip" || !strings.Contains(h["Vary"], "Accept-Encoding") || h["ETag"] == plainTag {
		t.Fatalf("gzip: %d %v", status, h)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, big) {
		t.Fatal("gzip body does not decompress to the file")
	}
	gzTag := h["ETag"]

	if status, h, _ = get("/big", map[string]string{"Accept-Encoding": "gzip;q=0"}); h["Content-Encoding"] != "" {
		t.Errorf("q=0 still gzipped: %v", h)
	}
	if status, h, body = get("/big", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": gzTag}); status != 304 || len(body) != 0 || h["Content-Encoding"] != "" {
		t.Errorf("gzip revalidation: %d %v", status, h)
	}
	if status, _, _ = get("/big", map[string]string{"If-None-Match": "W/" + plainTag}); status != 304 {
		t.Errorf("weak plain revalidation: %d", status)
	}
	if status, _, _ = get("/big", map[string]string{"If-None-Match": gzTag}); status != 200 {
		t.Errorf("the gzip tag matched the plain representation: %d", status)
	}
	if _, h, body = get("/small", map[string]string{"Accept-Encoding": "gzip"}); h["Content-Encoding"] != "" || string(body) != "tiny" || h["Content-Type"] != "text/javascript; charset=utf-8" {
		t.Errorf("small file: %v %q", h, body)
	}
}
