package certs

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func logger() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// serveTLS answers every request with 200 "ok" over cfg on 127.0.0.1 and returns the address.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// fingerprintAt handshakes with addr (trusting anything) and returns the server certificate's
// SHA-256 as Load formats it.
func fingerprintAt(t *testing.T, addr, serverName string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: serverName})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	if st.NegotiatedProtocol == "h2" {
		t.Fatal("h2 negotiated: fasthttp cannot speak it")
	}
	sum := sha256.Sum256(st.PeerCertificates[0].Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func TestSelfSignedGeneratedOnce(t *testing.T) {
	dir := t.TempDir()
	log, out := logger()
	first, err := Load(Options{Mode: SelfSigned, DataDir: dir, Domains: []string{"reception.clinic.lan", "10.1.2.3"}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "generated a self-signed TLS certificate") {
		t.Fatalf("log: %s", out)
	}
	host, _ := os.Hostname()
	for _, want := range []string{"localhost", strings.ToLower(host), "reception.clinic.lan", "10.1.2.3", "127.0.0.1", "::1"} {
		found := false
		for _, n := range first.Names {
			found = found || n == want
		}
		if !found {
			t.Errorf("certificate does not cover %s: %v", want, first.Names)
		}
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(filepath.Join(dir, "tls", "self-signed.key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st, err)
		}
	}
	if got := fingerprintAt(t, serveTLS(t, first.Config), "localhost"); got != first.Fingerprint {
		t.Fatalf("served %s, announced %s", got, first.Fingerprint)
	}
	second, err := Load(Options{Mode: SelfSigned, DataDir: dir, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if second.Fingerprint != first.Fingerprint {
		t.Fatal("the self-signed certificate changed at the second start")
	}

	os.WriteFile(filepath.Join(dir, "tls", "self-signed.key"), []byte("garbage"), 0o600)
	if _, err := Load(Options{Mode: SelfSigned, DataDir: dir, Log: log}); err == nil || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("damaged pair: %v", err)
	}
}

// makePair writes a certificate and key (self-signed, distinct each time) to certFile, keyFile.
func makePair(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	dir := t.TempDir()
	tl, err := Load(Options{Mode: SelfSigned, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := os.ReadFile(filepath.Join(dir, "tls", "self-signed.crt"))
	k, _ := os.ReadFile(filepath.Join(dir, "tls", "self-signed.key"))
	os.WriteFile(keyFile, k, 0o600)
	os.WriteFile(certFile, c, 0o644)
	return tl.Fingerprint
}

func TestFilesReloadedOnChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	a := makePair(t, certFile, keyFile)
	log, out := logger()
	tl, err := Load(Options{Mode: Files, CertFile: certFile, KeyFile: keyFile, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, tl.Config)
	if got := fingerprintAt(t, addr, "localhost"); got != a || tl.Fingerprint != a {
		t.Fatalf("served %s, want %s", got, a)
	}

	time.Sleep(1100 * time.Millisecond)
	b := makePair(t, certFile, keyFile)
	if got := fingerprintAt(t, addr, "localhost"); got != b {
		t.Fatalf("after the files changed: served %s, want %s", got, b)
	}
	if !strings.Contains(out.String(), "TLS certificate reloaded") {
		t.Fatalf("log: %s", out)
	}

	// A half-written renewal (key replaced, certificate not yet): the previous pair stays.
	time.Sleep(1100 * time.Millisecond)
	os.WriteFile(keyFile, []byte("-----BEGIN EC PRIVATE KEY-----\nbroken\n-----END EC PRIVATE KEY-----\n"), 0o600)
	if got := fingerprintAt(t, addr, "localhost"); got != b {
		t.Fatalf("after a broken key: served %s, want the previous %s", got, b)
	}
	if !strings.Contains(out.String(), "still using the previous certificate") {
		t.Fatalf("log: %s", out)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"files without paths", Options{Mode: Files}, "server.tls_cert or server.tls_key is empty"},
		{"missing files", Options{Mode: Files, CertFile: filepath.Join(dir, "no.crt"), KeyFile: filepath.Join(dir, "no.key")}, "cannot read " + filepath.Join(dir, "no.crt")},
		{"acme without names", Options{Mode: ACME, DataDir: dir}, "server.tls_domains is empty"},
		{"unknown mode", Options{Mode: "on"}, `server.tls "on" is not one of`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if tl, err := Load(Options{Mode: Off}); tl != nil || err != nil {
		t.Fatalf("off: %v %v", tl, err)
	}
}

func TestRedirectOnly(t *testing.T) {
	tl := &TLS{Mode: SelfSigned}
	h := tl.RedirectHandler("8443")
	for _, tc := range []struct{ method, url, host, want string }{
		{"GET", "/api/patients/?search=x", "clinic.lan:8080", "https://clinic.lan:8443/api/patients/?search=x"},
		{"POST", "/api/auth/login/", "192.168.1.20", "https://192.168.1.20:8443/api/auth/login/"},
		{"GET", "/", "[fe80::1]:8080", "https://[fe80::1]:8443/"},
	} {
		r := httptest.NewRequest(tc.method, tc.url, nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != tc.want {
			t.Errorf("%s %s (Host %s): %d %q, want 308 %q", tc.method, tc.url, tc.host, w.Code, w.Header().Get("Location"), tc.want)
		}
		if strings.Contains(w.Body.String(), "patients") && w.Code == 200 {
			t.Error("served content over plain HTTP")
		}
	}
	h443 := tl.RedirectHandler("443")
	r := httptest.NewRequest("GET", "/x", nil)
	r.Host = "clinic.example.org"
	w := httptest.NewRecorder()
	h443.ServeHTTP(w, r)
	if w.Header().Get("Location") != "https://clinic.example.org/x" {
		t.Errorf("port 443: %q", w.Header().Get("Location"))
	}
}

// trustOnly is a client configuration trusting exactly the certificates in pem.
func trustOnly(t *testing.T, pem []byte, serverName string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in PEM")
	}
	return &tls.Config{RootCAs: pool, ServerName: serverName}
}
