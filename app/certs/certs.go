// Package certs gives the HTTPS listener its certificate, as server.tls says: files (reloaded
// when they change), self-signed (generated once into the data directory for this machine's
// names and addresses) or acme (obtained and renewed from Let's Encrypt or another ACME CA with
// golang.org/x/crypto/acme/autocert). It also serves the plain-HTTP port, which only redirects to
// HTTPS (and answers ACME HTTP-01 challenges).
package certs

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// Modes of server.tls.
const (
	Off        = "off"
	Files      = "files"
	SelfSigned = "self-signed"
	ACME       = "acme"
)

// Options configure Load.
type Options struct {
	Mode     string
	CertFile string // files: PEM certificate chain
	KeyFile  string // files: PEM private key
	DataDir  string // self-signed: <DataDir>/tls; acme: <DataDir>/acme (account key and certificates)
	Domains  []string
	// ACMEDirectory is the CA's directory URL; ACMEEmail its contact; ACMECAFile a PEM file of the
	// CAs that sign the directory's own HTTPS certificate (a private CA), else the system's.
	ACMEDirectory string
	ACMEEmail     string
	ACMECAFile    string
	Log           *slog.Logger
}

// TLS is a ready HTTPS configuration.
type TLS struct {
	Mode        string
	Config      *tls.Config
	Fingerprint string   // SHA-256 of the certificate, as browsers show it (self-signed, files)
	Names       []string // names and addresses the certificate covers (self-signed, files)
	acme        *autocert.Manager
}

// Load prepares the certificate for o.Mode; it returns nil for Off. Errors are one sentence
// saying what to change.
func Load(o Options) (*TLS, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	t := &TLS{Mode: o.Mode}
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// fasthttp speaks HTTP/1.1 only: never offer h2.
		NextProtos: []string{"http/1.1"},
	}
	switch o.Mode {
	case "", Off:
		return nil, nil
	case Files:
		fc, err := newFileCert(o.CertFile, o.KeyFile, o.Log)
		if err != nil {
			return nil, err
		}
		base.GetCertificate = fc.get
		t.Fingerprint, t.Names = describe(fc.cert)
	case SelfSigned:
		cert, err := selfSigned(filepath.Join(o.DataDir, "tls"), o.Domains, o.Log)
		if err != nil {
			return nil, err
		}
		base.Certificates = []tls.Certificate{*cert}
		t.Fingerprint, t.Names = describe(cert)
	case ACME:
		if len(o.Domains) == 0 {
			return nil, errors.New("server.tls is acme but server.tls_domains is empty: list the public names this server answers to")
		}
		cacheDir := filepath.Join(o.DataDir, "acme")
		if err := os.MkdirAll(cacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create %s: %v", cacheDir, err)
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(cacheDir),
			HostPolicy: autocert.HostWhitelist(o.Domains...),
			Email:      o.ACMEEmail,
		}
		client := &acme.Client{DirectoryURL: o.ACMEDirectory}
		if o.ACMECAFile != "" {
			pem, err := os.ReadFile(o.ACMECAFile)
			if err != nil {
				return nil, fmt.Errorf("cannot read server.acme_ca_file %s: %v", o.ACMECAFile, unwrapPath(err))
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("server.acme_ca_file %s holds no PEM certificate", o.ACMECAFile)
			}
			client.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		}
		m.Client = client
		t.acme = m
		// The TLS-ALPN-01 challenge is answered on this port; HTTP-01 on the redirect port.
		base.GetCertificate = m.GetCertificate
		base.NextProtos = append(base.NextProtos, acme.ALPNProto)
		t.Names = o.Domains
	default:
		return nil, fmt.Errorf("server.tls %q is not one of off, files, self-signed, acme", o.Mode)
	}
	t.Config = base
	return t, nil
}

// describe is a certificate's SHA-256 fingerprint (AB:CD:...) and the names it covers.
func describe(c *tls.Certificate) (string, []string) {
	if c == nil || len(c.Certificate) == 0 {
		return "", nil
	}
	sum := sha256.Sum256(c.Certificate[0])
	hexes := make([]string, len(sum))
	for i, b := range sum {
		hexes[i] = fmt.Sprintf("%02X", b)
	}
	var names []string
	if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil {
		names = append(names, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
	}
	return strings.Join(hexes, ":"), names
}

// RedirectHandler is the plain-HTTP port's handler: every request is redirected (308, so a POST
// stays a POST) to the same path on https://<host>:<httpsPort>; with ACME it first answers
// HTTP-01 challenges. Nothing else is served over plain HTTP.
func (t *TLS) RedirectHandler(httpsPort string) http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || strings.ContainsAny(host, "/\\@") {
			http.Error(w, "Use HTTPS.", http.StatusBadRequest)
			return
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // IPv6 literal
		}
		target := "https://" + host
		if httpsPort != "443" {
			target += ":" + httpsPort
		}
		target += r.URL.RequestURI()
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
	if t.acme != nil {
		return t.acme.HTTPHandler(redirect)
	}
	return redirect
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
