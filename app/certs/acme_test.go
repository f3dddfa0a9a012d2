package certs

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"

	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// PebbleEnv names the pebble binary (github.com/letsencrypt/pebble, Let's Encrypt's ACME test
// server); without it pebble is looked up on PATH. .ci/run installs it with
// go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3.
const PebbleEnv = "HEALTHCARE_TEST_PEBBLE"

// TestACMEWithPebble obtains a certificate from a local pebble for clinic.test: the HTTP-01 or
// TLS-ALPN-01 challenge is validated by pebble connecting to this test's listeners (a small DNS
// server here resolves every name to 127.0.0.1), the account and certificate are cached in the
// data directory, and the served certificate chains to pebble's root.
func TestACMEWithPebble(t *testing.T) {
	bin := os.Getenv(PebbleEnv)
	if bin == "" {
		bin, _ = exec.LookPath("pebble")
	}
	if bin == "" {
		msg := "pebble is not installed: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3 (or set " + PebbleEnv + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	ports := freePorts(t, 4)
	pebbleAddr, mgmtAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	tlsPort, httpPort := ports[2], ports[3]
	dnsAddr := startDNS(t)

	// pebble's own HTTPS certificate: a self-signed one made by this package.
	own, err := Load(Options{Mode: SelfSigned, DataDir: filepath.Join(dir, "pebble")})
	if err != nil {
		t.Fatal(err)
	}
	pebbleCert := filepath.Join(dir, "pebble", "tls", "self-signed.crt")
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": pebbleAddr, "managementListenAddress": mgmtAddr,
		"certificate": pebbleCert, "privateKey": filepath.Join(dir, "pebble", "tls", "self-signed.key"),
		"httpPort": mustAtoi(httpPort), "tlsPort": mustAtoi(tlsPort),
		"externalAccountBindingRequired": false,
	}}
	cfgFile := filepath.Join(dir, "pebble.json")
	b, _ := json.Marshal(cfg)
	os.WriteFile(cfgFile, b, 0o600)
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr, "-strict=false")
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	var pebbleLog strings.Builder
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: &pebbleLog}, &lockedWriter{w: &pebbleLog}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("pebble:\n%s", pebbleLog.String())
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: trustOnlyFile(t, pebbleCert, "")}}
	waitFor(t, func() error { _, err := client.Get("https://" + pebbleAddr + "/dir"); return err })

	tl, err := Load(Options{Mode: ACME, DataDir: filepath.Join(dir, "data"), Domains: []string{"clinic.test"},
		ACMEDirectory: "https://" + pebbleAddr + "/dir", ACMECAFile: pebbleCert, ACMEEmail: "it@clinic.test"})
	if err != nil {
		t.Fatal(err)
	}
	_ = own
	tlsLn, err := net.Listen("tcp", "127.0.0.1:"+tlsPort)
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:"+httpPort)
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	redirect := &http.Server{Handler: tl.RedirectHandler(tlsPort)}
	go app.Serve(tls.NewListener(tlsLn, tl.Config))
	go redirect.Serve(httpLn)
	t.Cleanup(func() { app.Close(); redirect.Close() })

	// pebble's root, which signs what it issues.
	resp, err := client.Get("https://" + mgmtAddr + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := tls.Dialer{Config: trustOnly(t, root, "clinic.test")}
	conn, err := d.DialContext(ctx, "tcp", "127.0.0.1:"+tlsPort)
	if err != nil {
		t.Fatalf("TLS with the certificate from pebble: %v", err)
	}
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	conn.Close()
	if leaf.DNSNames[0] != "clinic.test" {
		t.Fatalf("issued for %v", leaf.DNSNames)
	}
	cached, _ := os.ReadDir(filepath.Join(dir, "data", "acme"))
	if len(cached) < 2 { // account key and certificate
		t.Fatalf("cache holds %d entries", len(cached))
	}
	t.Logf("certificate from pebble for %v, valid until %s", leaf.DNSNames, leaf.NotAfter.Format(time.DateOnly))
}

func trustOnlyFile(t *testing.T, file, serverName string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return trustOnly(t, pem, serverName)
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		out = append(out, p)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func mustAtoi(s string) int { n, _ := strconv.Atoi(s); return n }

func waitFor(t *testing.T, f func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = f(); err == nil {
			return
		}
	}
	t.Fatalf("not ready: %v", err)
}

// startDNS answers every A question with 127.0.0.1 (and others with no answer) over TCP on
// 127.0.0.1 (pebble asks its resolver over TCP), so pebble's validation of any name reaches this
// test.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					var n uint16
					if err := binary.Read(c, binary.BigEndian, &n); err != nil {
						return
					}
					buf := make([]byte, n)
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					msg, err := dnsAnswer(buf)
					if err != nil {
						return
					}
					binary.Write(c, binary.BigEndian, uint16(len(msg)))
					c.Write(msg)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dnsAnswer answers the DNS query q: 127.0.0.1 for an A question, nothing for any other.
func dnsAnswer(q []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, err
	}
	question, err := p.Question()
	if err != nil {
		return nil, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
	b.StartQuestions()
	b.Question(question)
	b.StartAnswers()
	if question.Type == dnsmessage.TypeA {
		b.AResource(dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
	}
	return b.Finish()
}

// lockedWriter serialises writes of two streams into one builder.
type lockedWriter struct{ w *strings.Builder }

var pebbleLogMu = make(chan struct{}, 1)

func (l *lockedWriter) Write(p []byte) (int, error) {
	pebbleLogMu <- struct{}{}
	defer func() { <-pebbleLogMu }()
	return l.w.Write(p)
}
