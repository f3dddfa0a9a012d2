//go:build unix

package cli_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"

	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pinnedClient trusts exactly the certificate whose SHA-256 (AB:CD:... as the log prints it) is
// fingerprint, as a member of staff comparing the browser's warning page would, and never follows
// redirects.
func pinnedClient(fingerprint string) *http.Client {
	return &http.Client{
		Timeout:       5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true,
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if got := colonHex(sha256.Sum256(raw[0])); got != fingerprint {
					return fmt.Errorf("certificate %s, the log announced %s", got, fingerprint)
				}
				return nil
			},
		}},
	}
}

func colonHex(sum [32]byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// serveTLS starts serve with env and waits for /readyz over HTTPS, pinned to the fingerprint the
// start-up log announces.
func serveTLS(t *testing.T, o opts) (*proc, string) {
	t.Helper()
	p := launch(t, o, "serve")
	p.URL = strings.Replace(p.URL, "http://", "https://", 1)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("healthcare exited with code %d:\n%s", p.code, p.out.String())
		default:
		}
		var fp string
		for _, l := range p.logLines() {
			if s, ok := l["sha256"].(string); ok && strings.HasPrefix(l["msg"].(string), "HTTPS") {
				fp = s
			}
		}
		if fp != "" && strings.Contains(p.out.String(), "ready: open https://") {
			resp, err := pinnedClient(fp).Get(p.URL + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return p, fp
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not ready over HTTPS:\n%s", p.out.String())
	return nil, ""
}

// TestServeSelfSignedHTTPS: server.tls=self-signed serves HTTPS with the certificate whose
// fingerprint it announced (the same after a restart), sends HSTS, and the plain-HTTP port only
// redirects; the healthcheck speaks HTTPS.
func TestServeSelfSignedHTTPS(t *testing.T) {
	dataDir := tempDir(t) + "/data"
	port, redirectPort := freePort(t), freePort(t)
	env := []string{"HEALTHCARE_SERVER_TLS=self-signed", "HEALTHCARE_SERVER_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(redirectPort),
		"HEALTHCARE_SERVER_TLS_DOMAINS=reception.clinic.lan"}
	o := opts{DataDir: dataDir, Port: port, Env: env}
	p, fp := serveTLS(t, o)
	client := pinnedClient(fp)

	resp, err := client.Get(p.URL + "/api/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=31536000" {
		t.Errorf("HSTS %q", hsts)
	}
	var names string
	for _, l := range p.logLines() {
		if n, ok := l["names"].(string); ok && l["sha256"] != nil {
			names = n
		}
	}
	for _, want := range []string{"localhost", "127.0.0.1", "reception.clinic.lan"} {
		if !strings.Contains(names, want) {
			t.Errorf("certificate names %q lack %s", names, want)
		}
	}

	// Plain HTTP: only a redirect to the same path over HTTPS, nothing served.
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(redirectPort)+"/api/patients/?search=x", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := "https://127.0.0.1:" + strconv.Itoa(port) + "/api/patients/?search=x"
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("%s over plain HTTP: %d %q, want 308 %q", method, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	// Plain HTTP on the HTTPS port gets no answer with data.
	if resp, err := (&http.Client{Timeout: 3 * time.Second}).Get("http://127.0.0.1:" + strconv.Itoa(port) + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered on the HTTPS port")
		}
	}

	if code, out := run(t, opts{Port: port, Env: env}, "healthcheck"); code != 0 {
		t.Errorf("healthcheck over HTTPS: %d %s", code, out)
	}
	if code, _ := p.stop(syscall.SIGTERM); code != 0 {
		t.Fatalf("stop: %d", code)
	}
	_, fp2 := serveTLS(t, o)
	if fp2 != fp {
		t.Fatalf("the self-signed certificate changed at the restart: %s, was %s", fp2, fp)
	}
}

// TestPlainHTTPBeyondThisMachineWarns: without TLS, listening on every address warns and names
// the setting; on 127.0.0.1 it does not.
func TestPlainHTTPBeyondThisMachineWarns(t *testing.T) {
	dataDir := tempDir(t) + "/data"
	port := freePort(t)
	p, _ := serve(t, opts{DataDir: dataDir, Addr: "0.0.0.0:" + strconv.Itoa(port)})
	warned := false
	for _, l := range p.logLines() {
		if l["level"] == "WARN" && l["setting"] == "server.tls" && strings.Contains(l["msg"].(string), "without TLS") {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no warning naming server.tls:\n%s", p.out.String())
	}
	p.stop(syscall.SIGTERM)
	p2, _ := serve(t, opts{DataDir: dataDir})
	if strings.Contains(p2.out.String(), "without TLS") {
		t.Fatal("warned on 127.0.0.1")
	}
}

// TestTLSConfigErrors: a TLS setting that cannot work stops start-up with exit code 2 and one
// sentence, before anything else.
func TestTLSConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"HEALTHCARE_SERVER_TLS=on"}, `server.tls "on" is not one of off, files, self-signed, acme`},
		{[]string{"HEALTHCARE_SERVER_TLS=files"}, "set server.tls_cert and server.tls_key"},
		{[]string{"HEALTHCARE_SERVER_TLS=files", "HEALTHCARE_SERVER_TLS_CERT=/nonexistent.crt", "HEALTHCARE_SERVER_TLS_KEY=/nonexistent.key"}, "cannot read /nonexistent.crt"},
		{[]string{"HEALTHCARE_SERVER_TLS=acme"}, "server.tls_domains"},
		{[]string{"HEALTHCARE_SERVER_HTTP_ADDR=0.0.0.0:80"}, "server.tls is off"},
	} {
		code, out := run(t, opts{DataDir: tempDir(t) + "/data", Port: freePort(t), Env: tc.env}, "serve")
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q, want 2 and %q", tc.env, code, out, tc.want)
		}
	}
}
