package certs

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// fileCert is a certificate read from files and read again when they change (checked at most
// once a second, at a TLS handshake), so a renewed certificate (certbot, an internal CA) is used
// without a restart. A pair that does not load (the key replaced before the certificate, say) is
// logged and the previous one stays in use.
type fileCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // modification times and sizes of both files when cert was loaded
	checked time.Time
}

func newFileCert(certFile, keyFile string, log *slog.Logger) (*fileCert, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("server.tls is files but server.tls_cert or server.tls_key is empty: set both to PEM files")
	}
	f := &fileCert{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := f.stampNow()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot use server.tls_cert %s with server.tls_key %s: %v", certFile, keyFile, err)
	}
	f.cert, f.stamp, f.checked = &cert, stamp, time.Now()
	return f, nil
}

func (f *fileCert) stampNow() (string, error) {
	var s string
	for _, p := range []string{f.certFile, f.keyFile} {
		st, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("cannot read %s: %v", p, unwrapPath(err))
		}
		s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return s, nil
}

func (f *fileCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.checked) < time.Second {
		return f.cert, nil
	}
	f.checked = time.Now()
	stamp, err := f.stampNow()
	if err != nil || stamp == f.stamp {
		return f.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		f.log.Error("the changed TLS certificate files do not load; still using the previous certificate", "cert", f.certFile, "key", f.keyFile, "error", err)
		return f.cert, nil
	}
	f.cert, f.stamp = &cert, stamp
	fp, _ := describe(&cert)
	f.log.Info("TLS certificate reloaded", "cert", f.certFile, "sha256", fp)
	return f.cert, nil
}
