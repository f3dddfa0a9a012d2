package api_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"healthcare/app/api/apitest"
)

// TestRefusedAnswerAudited: a list refused by the server's send budget (too many large answers
// waiting for this address's slow readers) is recorded in the audit trail as refused (503), not as
// read: the budget decides before the row is written.
func TestRefusedAnswerAudited(t *testing.T) {
	t.Parallel()
	e := apitest.New(t)
	e.Register(t, "alice")
	access, _ := e.Login("alice")
	// 1000 patients whose fields grow sixfold in JSON (\u0001): a page of them is about 7.7 MB.
	e.MustExec(`INSERT INTO patients (managed_by, name, age, gender, address, phone_number)
		SELECT (SELECT id FROM users WHERE username = 'alice'), repeat(chr(1), 255), 40, 'F', repeat(chr(1), 1024), i::text
		FROM generate_series(1, 1000) i`)
	host := strings.TrimPrefix(e.URL, "http://")
	// ask sends the page's GET on a slow reader's connection and reads only the status line and
	// headers: the rest of an admitted answer waits in the server for the reader.
	ask := func() (*http.Response, net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		fmt.Fprintf(c, "GET /api/patients/?limit=1000 HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", host, access)
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp, c
	}
	var refused *http.Response
	for i := 0; i < 4 && refused == nil; i++ { // 16 MiB per address: the third is refused
		if resp, _ := ask(); resp.StatusCode == 503 {
			refused = resp
		} else if resp.StatusCode != 200 {
			t.Fatalf("GET the large page: %d", resp.StatusCode)
		}
	}
	if refused == nil {
		t.Fatal("four unread answers of 7.7 MB from one address were all sent; want the send budget to refuse one")
	}
	rid := refused.Header.Get("X-Request-ID")
	got := auditOf(t, e, rid)
	if len(got) != 1 || got[0].status != 503 || got[0].action != "list" {
		t.Errorf("audit of the refused page (request %s): %+v, want one list row with status 503", rid, got)
	}
}
