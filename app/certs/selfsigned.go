package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files of the self-signed certificate in <data_dir>/tls.
const (
	selfCertName = "self-signed.crt"
	selfKeyName  = "self-signed.key"
)

// selfSigned returns the certificate kept in dir, generating it the first time (ECDSA P-256,
// valid ten years, for localhost, this machine's host name, <host name>.local, extra and every
// address of its network interfaces). It is never regenerated while both files are there, so its
// fingerprint, which staff compare with the browser's warning page, stays the same.
func selfSigned(dir string, extra []string, log *slog.Logger) (*tls.Certificate, error) {
	certFile, keyFile := filepath.Join(dir, selfCertName), filepath.Join(dir, selfKeyName)
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		return &cert, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("the self-signed certificate in %s does not load (%v): remove %s and %s to generate a new one (browsers will show a new fingerprint)", dir, err, certFile, keyFile)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create %s: %v", dir, unwrapPath(err))
	}
	dns, ips := machineNames(extra)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	host, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "healthcare on " + host, Organization: []string{"healthcare (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	// The key first, the certificate last: a start interrupted between the two finds no
	// certificate and makes a new pair.
	if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	log.Info("generated a self-signed TLS certificate", "path", certFile, "names", strings.Join(append(dns, ipStrings(ips)...), ","))
	return &cert, nil
}

// machineNames are the DNS names and IP addresses a browser on the clinic's network may use.
func machineNames(extra []string) ([]string, []net.IP) {
	seen := map[string]bool{}
	var dns []string
	var ips []net.IP
	add := func(n string) {
		n = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(n)), ".")
		if n == "" || seen[n] {
			return
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, n)
		}
	}
	add("localhost")
	if h, err := os.Hostname(); err == nil && h != "" {
		add(h)
		if !strings.Contains(h, ".") {
			add(h + ".local") // mDNS (Bonjour/Avahi) name on a small LAN
		}
	}
	for _, e := range extra {
		add(e)
	}
	add("127.0.0.1")
	add("::1")
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				add(ipn.IP.String())
			}
		}
	}
	return dns, ips
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// writeFile writes data to path through a temporary file renamed into place.
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %v", filepath.Dir(path), unwrapPath(err))
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(mode), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("cannot write %s: %v", path, unwrapPath(err))
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %v", path, unwrapPath(err))
	}
	return nil
}
