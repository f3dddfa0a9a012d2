package cli

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"healthcare/app/config"
	"healthcare/app/database"
)

// healthcheck asks the running server's /readyz; exit 0 on 200 (Docker HEALTHCHECK needs no curl).
// It asks at --addr when given; else at the address the server serving this data directory
// recorded in its lock file, so a server started with its own --addr or --config (docker run IMAGE
// serve --addr ...) is found by a plain `healthcare healthcheck`; else at server.addr.
func healthcheck(cmd *cobra.Command, a Assets) error {
	cfg, err := loadConfig(cmd, a)
	if err != nil {
		return err
	}
	addr := cfg.Server.Addr
	if f := cmd.Flags().Lookup("addr"); f == nil || !f.Changed {
		if running := runningServerAddr(cfg); running != "" {
			addr = running
		}
	}
	url := "http://" + dialAddr(addr) + "/readyz"
	client := &http.Client{Timeout: 5 * time.Second}
	if cfg.Server.TLSOn() {
		// This machine's own server, by address: its readiness is the question, not its name.
		tc := &tls.Config{InsecureSkipVerify: true}
		if len(cfg.Server.TLSDomains) > 0 {
			tc.ServerName = cfg.Server.TLSDomains[0] // an ACME certificate is chosen by name
		}
		url = "https://" + dialAddr(addr) + "/readyz"
		client.Transport = &http.Transport{TLSClientConfig: tc}
	}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("%s did not answer: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

// runningServerAddr is the listen address of the `healthcare serve` that holds the data
// directory's lock, or "" (no such server, an external database: no lock, or no access).
func runningServerAddr(cfg *config.Config) string {
	if !cfg.EmbeddedMode() {
		return ""
	}
	info, alive, err := database.Owner(database.DataDir(cfg))
	if err != nil || !alive || info.Command != "serve" {
		return ""
	}
	return info.HTTP
}

// dialAddr turns a listen address into one to connect to: wildcard hosts mean this machine.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
