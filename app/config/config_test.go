package config

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func defaults(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// src builds Sources from a work dir holding the given files, an environment and flag arguments.
func src(t *testing.T, files map[string]string, env []string, args ...string) Sources {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	for i, a := range args { // file names in flags are relative to the work dir
		args[i] = strings.ReplaceAll(a, "$DIR", dir)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Sources{Defaults: defaults(t), Flags: fs, Environ: env, WorkDir: dir}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(src(t, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"server.addr", c.Server.Addr, "127.0.0.1:8080"},
		{"server.body_limit", c.Server.BodyLimit, 16384},
		{"server.read_timeout", c.Server.ReadTimeout, 10 * time.Second},
		{"server.max_connections", c.Server.MaxConnections, 1024},
		{"server.max_connections_per_address", c.Server.MaxConnectionsPerAddress, 128},
		{"server.allowed_hosts", len(c.Server.AllowedHosts), 0},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 6 * time.Second},
		{"server.trusted_proxies", len(c.Server.TrustedProxies), 0},
		{"data_dir", c.DataDir, ""},
		{"database.url", c.Database.URL, ""},
		{"embedded mode", c.EmbeddedMode(), true},
		{"database.query_timeout", c.Database.QueryTimeout, 10 * time.Second},
		{"database.connect_timeout", c.Database.ConnectTimeout, 30 * time.Second},
		{"database.search_timeout", c.Database.SearchTimeout, 3 * time.Second},
		{"embedded.binaries", c.Embedded.Binaries, "auto"},
		{"server.tls", c.Server.TLS, "off"},
		{"embedded.download", c.Embedded.Download, true},
		{"embedded.download_version", c.Embedded.DownloadVersion, "16"},
		{"embedded.run_as", c.Embedded.RunAs, "postgres"},
		{"embedded.database", c.Embedded.Database, "healthcare"},
		{"auth.access_token_ttl", c.Auth.AccessTokenTTL, 5 * time.Minute},
		{"auth.refresh_token_ttl", c.Auth.RefreshTokenTTL, 24 * time.Hour},
		{"auth.rotate_refresh_tokens", c.Auth.RotateRefreshTokens, true},
		{"auth.registration", c.Auth.Registration, ""},
		{"auth.idle_timeout", c.Auth.IdleTimeout, 15 * time.Minute},
		{"auth.session_max_age", c.Auth.SessionMaxAge, 12 * time.Hour},
		{"auth.refresh_grace", c.Auth.RefreshGrace, 10 * time.Second},
		{"patients.visibility", c.Patients.Visibility, ""},
		{"doctors.writes", c.Doctors.Writes, ""},
		{"rate_limit.login_slow_per_username", c.RateLimit.LoginSlowUsername, 100},
		{"rate_limit.enabled", c.RateLimit.Enabled, true},
		{"log.format", c.Log.Format, "auto"},
		{"log.level", c.Log.Level, "info"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// TestPrecedence: defaults < config file < .env < environment < flags, one key at a time.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	const file = "server:\n  addr: 127.0.0.1:1001\nlog:\n  level: debug\n"
	cases := []struct {
		Name     string
		Files    map[string]string
		Env      []string
		Args     []string
		WantAddr string
	}{
		{Name: "defaults", WantAddr: "127.0.0.1:8080"},
		{Name: "./config.yaml", Files: map[string]string{"config.yaml": file}, WantAddr: "127.0.0.1:1001"},
		{Name: "--config", Files: map[string]string{"other.yaml": "server:\n  addr: 127.0.0.1:1002\n"},
			Args: []string{"--config", "$DIR/other.yaml"}, WantAddr: "127.0.0.1:1002"},
		{Name: "--config replaces ./config.yaml",
			Files: map[string]string{"config.yaml": file, "other.yaml": "server:\n  addr: 127.0.0.1:1002\n"},
			Args:  []string{"--config", "$DIR/other.yaml"}, WantAddr: "127.0.0.1:1002"},
		{Name: ".env over file", Files: map[string]string{"config.yaml": file, ".env": "HEALTHCARE_SERVER_ADDR=127.0.0.1:1003\n"},
			WantAddr: "127.0.0.1:1003"},
		{Name: ".env with export, quotes and comments",
			Files:    map[string]string{".env": "# comment\n\nexport HEALTHCARE_SERVER_ADDR=\"127.0.0.1:1003\"\n"},
			WantAddr: "127.0.0.1:1003"},
		{Name: "env over .env", Files: map[string]string{"config.yaml": file, ".env": "HEALTHCARE_SERVER_ADDR=127.0.0.1:1003\n"},
			Env: []string{"HEALTHCARE_SERVER_ADDR=127.0.0.1:1004"}, WantAddr: "127.0.0.1:1004"},
		{Name: "flag over env", Files: map[string]string{"config.yaml": file, ".env": "HEALTHCARE_SERVER_ADDR=127.0.0.1:1003\n"},
			Env: []string{"HEALTHCARE_SERVER_ADDR=127.0.0.1:1004"}, Args: []string{"--addr", "127.0.0.1:1005"}, WantAddr: "127.0.0.1:1005"},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(src(t, tc.Files, tc.Env, tc.Args...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Server.Addr != tc.WantAddr {
				t.Errorf("server.addr = %q, want %q", c.Server.Addr, tc.WantAddr)
			}
		})
	}
}

// TestEmptySectionsAccepted: "server:" with nothing under it, or {}, is harmless.
func TestEmptySectionsAccepted(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"server:\n", "server: {}\nlog: {}\n", "# only a comment\n"} {
		if _, err := Load(src(t, map[string]string{"config.yaml": f}, nil)); err != nil {
			t.Errorf("%q: %v", f, err)
		}
	}
}

// TestEveryKeyFromEachSource sets other keys through each source, including keys whose names hold
// underscores (data_dir, jwt_secret) and lists.
func TestEveryKeyFromEachSource(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("s", 40)
	file := "data_dir: /from/file\nserver:\n  trusted_proxies: [10.0.0.1, 10.0.0.2]\nauth:\n  access_token_ttl: 1m\n"
	c, err := Load(src(t, map[string]string{"config.yaml": file, ".env": "HEALTHCARE_LOG_FORMAT=json\n"},
		[]string{"HEALTHCARE_AUTH_JWT_SECRET=" + secret, "HEALTHCARE_EMBEDDED_PORT=5433", "HEALTHCARE_RATE_LIMIT_ENABLED=false",
			"HEALTHCARE_SERVER_SHUTDOWN_TIMEOUT=3s", "UNRELATED=1"},
		"--data-dir", "/from/flag", "--log-level", "warn"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/flag" || c.Log.Format != "json" || c.Log.Level != "warn" || c.Auth.JWTSecret != secret ||
		c.Embedded.Port != 5433 || c.RateLimit.Enabled || c.Server.ShutdownTimeout != 3*time.Second ||
		c.Auth.AccessTokenTTL != time.Minute || strings.Join(c.Server.TrustedProxies, ",") != "10.0.0.1,10.0.0.2" {
		t.Errorf("unexpected config: %+v", c)
	}
	// A list from the environment is comma-separated.
	c, err = Load(src(t, nil, []string{"HEALTHCARE_SERVER_TRUSTED_PROXIES=10.0.0.0/8,192.168.1.1"}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Server.TrustedProxies, ",") != "10.0.0.0/8,192.168.1.1" {
		t.Errorf("trusted_proxies = %q", c.Server.TrustedProxies)
	}
}

func TestDatabaseURLSources(t *testing.T) {
	t.Parallel()
	cases := []struct {
		Name   string
		Files  map[string]string
		Env    []string
		Args   []string
		Want   string
		Source string // contained in DatabaseSource
		Warn   string // contained in the one warning; "" means none
	}{
		{Name: "none", Want: "", Source: "no database.url is set"},
		{Name: "DATABASE_URL", Env: []string{"DATABASE_URL=postgres://u:p@db:5432/app"}, Want: "postgres://u:p@db:5432/app", Source: "DATABASE_URL"},
		{Name: "DB_* variables", Env: []string{"DB_NAME=hc", "DB_USER=django", "DB_PASSWORD=p@ss:w/rd", "DB_HOST=db.local", "DB_PORT=6543"},
			Want: "postgres://django:p%40ss%3Aw%2Frd@db.local:6543/hc", Source: "original system's variables DB_NAME, DB_USER, DB_PASSWORD, DB_HOST, DB_PORT"},
		{Name: "DB_* defaults the port", Env: []string{"DB_NAME=hc", "DB_USER=django", "DB_PASSWORD=pw", "DB_HOST=db"},
			Want: "postgres://django:pw@db:5432/hc", Source: "DB_HOST"},
		{Name: "DB_* with an empty password", Env: []string{"DB_NAME=hc", "DB_USER=django", "DB_PASSWORD=", "DB_HOST=db"},
			Want: "postgres://django@db:5432/hc", Source: "DB_PASSWORD"},
		{Name: "DB_* from .env", Files: map[string]string{".env": "DB_NAME=hc\nDB_USER=u\nDB_PASSWORD=pw\nDB_HOST=h\nDB_PORT=5432\n"},
			Want: "postgres://u:pw@h:5432/hc", Source: "(from .env)"},
		// Issue 16, item 9: a stray DB_* variable no longer switches to an external database.
		{Name: "stray DB_NAME", Env: []string{"DB_NAME=hc"}, Want: "", Source: "no database.url is set",
			Warn: "ignoring DB_NAME: the original system's DB_* variables select an external PostgreSQL only when DB_NAME, DB_USER, DB_PASSWORD, DB_HOST are all set (DB_USER, DB_PASSWORD, DB_HOST missing or empty)"},
		{Name: "stray DB_NAME in .env", Files: map[string]string{".env": "DB_NAME=hc\n"}, Want: "", Warn: "ignoring DB_NAME (from .env)"},
		{Name: "DB_* without a host", Env: []string{"DB_NAME=hc", "DB_USER=django", "DB_PASSWORD=pw"}, Want: "", Warn: "(DB_HOST missing or empty)"},
		{Name: "DB_* with an empty host", Env: []string{"DB_NAME=hc", "DB_USER=django", "DB_PASSWORD=pw", "DB_HOST="}, Want: "", Warn: "(DB_HOST missing or empty)"},
		{Name: "DB_* without a password", Env: []string{"DB_NAME=hc", "DB_USER=django", "DB_HOST=db"}, Want: "", Warn: "(DB_PASSWORD missing or empty)"},
		{Name: "stray DB_PORT", Env: []string{"DB_PORT=5432"}, Want: "", Warn: "ignoring DB_PORT"},
		{Name: "stray DB_* beside a file's URL", Files: map[string]string{"config.yaml": "database:\n  url: postgres://f@x/file\n"},
			Env: []string{"DB_NAME=other"}, Want: "postgres://f@x/file", Source: "database.url in ", Warn: "ignoring DB_NAME"},
		{Name: "DATABASE_URL over DB_*", Env: []string{"DATABASE_URL=postgres://a@x/one", "DB_NAME=two", "DB_USER=u", "DB_PASSWORD=p", "DB_HOST=h"},
			Want: "postgres://a@x/one", Source: "DATABASE_URL"},
		{Name: "HEALTHCARE_DATABASE_URL over DATABASE_URL", Env: []string{"HEALTHCARE_DATABASE_URL=postgres://a@x/hc", "DATABASE_URL=postgres://a@x/other"},
			Want: "postgres://a@x/hc", Source: "HEALTHCARE_DATABASE_URL"},
		{Name: "empty HEALTHCARE_DATABASE_URL", Env: []string{"HEALTHCARE_DATABASE_URL=", "DATABASE_URL=postgres://a@x/other"},
			Want: "", Source: "HEALTHCARE_DATABASE_URL is empty"},
		{Name: "file", Files: map[string]string{"config.yaml": "database:\n  url: postgres://f@x/file\n"}, Want: "postgres://f@x/file", Source: "config.yaml"},
		{Name: "DATABASE_URL over file", Files: map[string]string{"config.yaml": "database:\n  url: postgres://f@x/file\n"},
			Env: []string{"DATABASE_URL=postgres://e@x/env"}, Want: "postgres://e@x/env", Source: "DATABASE_URL"},
		{Name: "flag over all", Env: []string{"HEALTHCARE_DATABASE_URL=postgres://a@x/hc"}, Args: []string{"--database-url", "postgresql://f@y/flag"},
			Want: "postgresql://f@y/flag", Source: "--database-url"},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(src(t, tc.Files, tc.Env, tc.Args...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Database.URL != tc.Want {
				t.Errorf("database.url = %q, want %q", c.Database.URL, tc.Want)
			}
			if c.EmbeddedMode() != (tc.Want == "") {
				t.Errorf("EmbeddedMode() = %v", c.EmbeddedMode())
			}
			if !strings.Contains(c.DatabaseSource, tc.Source) {
				t.Errorf("DatabaseSource = %q, want it to contain %q", c.DatabaseSource, tc.Source)
			}
			switch {
			case tc.Warn == "" && len(c.Warnings) > 0:
				t.Errorf("warnings %q, want none", c.Warnings)
			case tc.Warn != "" && (len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], tc.Warn)):
				t.Errorf("warnings %q, want one containing %q", c.Warnings, tc.Warn)
			}
		})
	}
}

// TestInvalidValues: every invalid value stops Load with one sentence naming the setting.
func TestInvalidValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		Name  string
		Files map[string]string
		Env   []string
		Args  []string
		Want  string
	}{
		{Name: "address without port", Args: []string{"--addr", "localhost"}, Want: `server.addr "localhost" is not a valid listen address`},
		{Name: "address with bad port", Args: []string{"--addr", "127.0.0.1:99999"}, Want: `server.addr "127.0.0.1:99999" has an invalid port`},
		{Name: "address with named port", Env: []string{"HEALTHCARE_SERVER_ADDR=127.0.0.1:http"}, Want: "has an invalid port"},
		{Name: "trusted proxy not an address", Env: []string{"HEALTHCARE_SERVER_TRUSTED_PROXIES=10.0.0.1,lb.internal"}, Want: `server.trusted_proxies entry "lb.internal" is not an IP address or CIDR range`},
		{Name: "unknown key in file", Files: map[string]string{"config.yaml": "server:\n  adress: x\n"}, Want: "unknown setting server.adress in"},
		{Name: "unknown empty section in file", Files: map[string]string{"config.yaml": "logging: {}\n"}, Want: "unknown setting logging in"},
		{Name: "unknown keys listed once", Files: map[string]string{"config.yaml": "server:\n  a: 1\n  b: 2\n"}, Want: "unknown setting server.a, server.b in"},
		{Name: "unknown top-level key in file", Files: map[string]string{"config.yaml": "datadir: /x\n"}, Want: "unknown setting datadir"},
		{Name: "unreadable --config", Args: []string{"--config", "$DIR/missing.yaml"}, Want: "cannot read the configuration file"},
		{Name: "malformed yaml", Files: map[string]string{"config.yaml": "server: [\n"}, Want: "cannot read the configuration file"},
		{Name: "unknown HEALTHCARE_ variable", Env: []string{"HEALTHCARE_SERVER_ADRESS=x"}, Want: "unknown environment variable HEALTHCARE_SERVER_ADRESS"},
		{Name: "unknown HEALTHCARE_ variable in .env", Files: map[string]string{".env": "HEALTHCARE_NOPE=1\n"}, Want: "unknown environment variable HEALTHCARE_NOPE"},
		{Name: "unparsable URL", Args: []string{"--database-url", "mysql://x@y/z"}, Want: "database.url is not a PostgreSQL URL"},
		{Name: "URL without host", Env: []string{"DATABASE_URL=postgres:///db"}, Want: "database.url is not a PostgreSQL URL"},
		{Name: "URL garbage", Env: []string{"HEALTHCARE_DATABASE_URL=::not a url"}, Want: "database.url is not a PostgreSQL URL"},
		{Name: "bad duration", Env: []string{"HEALTHCARE_SERVER_SHUTDOWN_TIMEOUT=ten"}, Want: `server.shutdown_timeout "ten" is not valid: use a duration such as 10s`},
		{Name: "zero duration", Env: []string{"HEALTHCARE_SERVER_SHUTDOWN_TIMEOUT=0s"}, Want: "server.shutdown_timeout must be a positive duration"},
		{Name: "bad query timeout", Env: []string{"HEALTHCARE_DATABASE_QUERY_TIMEOUT=-1s"}, Want: "database.query_timeout must be a positive duration"},
		{Name: "bad connect timeout", Env: []string{"HEALTHCARE_DATABASE_CONNECT_TIMEOUT=0s"}, Want: "database.connect_timeout must be a positive duration"},
		{Name: "bad number", Env: []string{"HEALTHCARE_SERVER_BODY_LIMIT=lots"}, Want: `server.body_limit "lots" is not valid: use a whole number`},
		{Name: "small body limit", Env: []string{"HEALTHCARE_SERVER_BODY_LIMIT=10"}, Want: "server.body_limit 10 is too small"},
		{Name: "bad bool", Env: []string{"HEALTHCARE_RATE_LIMIT_ENABLED=maybe"}, Want: `rate_limit.enabled "maybe" is not valid: use true or false`},
		{Name: "bad duration in file", Files: map[string]string{"config.yaml": "auth:\n  refresh_token_ttl: 1 day\n"}, Want: `auth.refresh_token_ttl "1 day" is not valid`},
		{Name: "negative max_conns", Env: []string{"HEALTHCARE_DATABASE_MAX_CONNS=-1"}, Want: "database.max_conns must be 0"},
		{Name: "embedded port", Env: []string{"HEALTHCARE_EMBEDDED_PORT=70000"}, Want: "embedded.port 70000 is out of range"},
		{Name: "download version", Env: []string{"HEALTHCARE_EMBEDDED_DOWNLOAD_VERSION=9"}, Want: `embedded.download_version "9" is not supported`},
		{Name: "empty database", Env: []string{"HEALTHCARE_EMBEDDED_DATABASE="}, Want: "embedded.database must name a database"},
		{Name: "short secret", Env: []string{"HEALTHCARE_AUTH_JWT_SECRET=short"}, Want: "auth.jwt_secret is too short"},
		{Name: "missing secret file", Env: []string{"HEALTHCARE_AUTH_JWT_SECRET_FILE=/nonexistent/secret"}, Want: "cannot read auth.jwt_secret_file"},
		{Name: "short secret file", Files: map[string]string{"secret": "abc\n"}, Env: []string{"HEALTHCARE_AUTH_JWT_SECRET_FILE=$DIR/secret"}, Want: "is too short"},
		{Name: "ttl", Env: []string{"HEALTHCARE_AUTH_ACCESS_TOKEN_TTL=0s"}, Want: "auth.access_token_ttl and auth.refresh_token_ttl must be positive"},
		{Name: "issuer", Env: []string{"HEALTHCARE_AUTH_ISSUER="}, Want: "auth.issuer and auth.audience must not be empty"},
		{Name: "registration", Env: []string{"HEALTHCARE_AUTH_REGISTRATION=invite"}, Want: `auth.registration "invite" is not valid`},
		{Name: "idle shorter than access", Env: []string{"HEALTHCARE_AUTH_IDLE_TIMEOUT=1m"}, Want: "auth.idle_timeout 1m0s is shorter than auth.access_token_ttl"},
		{Name: "max age shorter than idle", Env: []string{"HEALTHCARE_AUTH_SESSION_MAX_AGE=10m"}, Want: "auth.session_max_age must be at least auth.idle_timeout"},
		{Name: "grace", Env: []string{"HEALTHCARE_AUTH_REFRESH_GRACE=5m"}, Want: "auth.refresh_grace must be between 0"},
		{Name: "visibility", Env: []string{"HEALTHCARE_PATIENTS_VISIBILITY=all"}, Want: `patients.visibility "all" is not valid`},
		{Name: "clinic with open registration", Env: []string{"HEALTHCARE_PATIENTS_VISIBILITY=clinic"}, Want: "needs auth.registration set to approval or closed"},
		{Name: "doctors writes", Env: []string{"HEALTHCARE_DOCTORS_WRITES=staff"}, Want: `doctors.writes "staff" is not valid`},
		{Name: "admin without password", Env: []string{"HEALTHCARE_ADMIN_USERNAME=boss"}, Want: "admin.username needs a password"},
		{Name: "admin password without username", Env: []string{"HEALTHCARE_ADMIN_PASSWORD=Secret-Pass-1"}, Want: "need admin.username"},
		{Name: "admin password twice", Env: []string{"HEALTHCARE_ADMIN_USERNAME=boss", "HEALTHCARE_ADMIN_PASSWORD=x", "HEALTHCARE_ADMIN_PASSWORD_FILE=/x"}, Want: "not both"},
		{Name: "admin password file missing", Env: []string{"HEALTHCARE_ADMIN_USERNAME=boss", "HEALTHCARE_ADMIN_PASSWORD_FILE=/nonexistent/pw"}, Want: "cannot read admin.password_file"},
		{Name: "argon2", Env: []string{"HEALTHCARE_AUTH_ARGON2_MEMORY_KIB=1024"}, Want: "auth.argon2_* values are too weak"},
		{Name: "rate limit", Env: []string{"HEALTHCARE_RATE_LIMIT_LOGIN_PER_USERNAME=0"}, Want: "rate_limit limits must be at least 1"},
		{Name: "log format", Args: []string{"--log-format", "xml"}, Want: `log.format "xml" is not valid`},
		{Name: "log level", Args: []string{"--log-level", "verbose"}, Want: `log.level "verbose" is not valid`},
		{Name: "binaries", Env: []string{"HEALTHCARE_EMBEDDED_BINARIES=inside"}, Want: `embedded.binaries "inside" is not one of auto, system, bundled, download`},
		{Name: "binaries path unused", Env: []string{"HEALTHCARE_EMBEDDED_BINARIES=bundled", "HEALTHCARE_EMBEDDED_BINARIES_PATH=/usr/lib/postgresql/15"}, Want: `embedded.binaries_path is set but embedded.binaries is "bundled"`},
		{Name: "tls mode", Env: []string{"HEALTHCARE_SERVER_TLS=on"}, Want: `server.tls "on" is not one of off, files, self-signed, acme`},
		{Name: "tls files", Env: []string{"HEALTHCARE_SERVER_TLS=files", "HEALTHCARE_SERVER_TLS_CERT=/x.pem"}, Want: "set server.tls_cert and server.tls_key"},
		{Name: "acme names", Env: []string{"HEALTHCARE_SERVER_TLS=acme"}, Want: "server.tls_domains"},
		{Name: "acme directory", Env: []string{"HEALTHCARE_SERVER_TLS=acme", "HEALTHCARE_SERVER_TLS_DOMAINS=clinic.example.org", "HEALTHCARE_SERVER_ACME_DIRECTORY=http://ca/dir"}, Want: "is not an https:// URL"},
		{Name: "redirect without tls", Env: []string{"HEALTHCARE_SERVER_HTTP_ADDR=0.0.0.0:80"}, Want: "server.http_addr is set but server.tls is off"},
		{Name: "redirect address", Env: []string{"HEALTHCARE_SERVER_TLS=self-signed", "HEALTHCARE_SERVER_HTTP_ADDR=eighty"}, Want: `server.http_addr "eighty" is not a valid listen address`},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			s := src(t, tc.Files, nil, tc.Args...)
			for _, e := range tc.Env {
				s.Environ = append(s.Environ, strings.ReplaceAll(e, "$DIR", s.WorkDir))
			}
			_, err := Load(s)
			if err == nil {
				t.Fatalf("Load succeeded, want an error containing %q", tc.Want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.Want) {
				t.Errorf("error %q does not contain %q", msg, tc.Want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is more than one line: %q", msg)
			}
		})
	}
}

func TestSecretFile(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("f", 48)
	s := src(t, map[string]string{"secret": secret + "\n"}, nil)
	s.Environ = []string{"HEALTHCARE_AUTH_JWT_SECRET_FILE=" + filepath.Join(s.WorkDir, "secret")}
	c, err := Load(s)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.JWTSecret != secret {
		t.Errorf("jwt secret not read from file (trailing newline must be trimmed)")
	}
}

func TestRedacted(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("x", 40)
	c, err := Load(src(t, nil, []string{"HEALTHCARE_AUTH_JWT_SECRET=" + secret, "DATABASE_URL=postgres://app:hunter2@db:5432/hc?sslmode=require"}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if r.Auth.JWTSecret != "[redacted]" || strings.Contains(r.Database.URL, "hunter2") || !strings.Contains(r.Database.URL, "app:redacted@db:5432/hc") {
		t.Errorf("not redacted: secret %q url %q", r.Auth.JWTSecret, r.Database.URL)
	}
	if c.Auth.JWTSecret != secret || !strings.Contains(c.Database.URL, "hunter2") {
		t.Error("Redacted changed the original")
	}
}

// TestRedactURLKnownKeys: every connection parameter libpq (PostgreSQL 17/18) and pgx know is
// either a secret, whose value never appears in the redacted URL, or kept as is; the user part's
// password is always replaced (issue 16, item 3).
func TestRedactURLKnownKeys(t *testing.T) {
	t.Parallel()
	secrets := []string{"password", "sslpassword", "oauth_client_secret"}
	plain := []string{
		// libpq
		"host", "hostaddr", "port", "dbname", "user", "passfile", "require_auth", "channel_binding", "connect_timeout",
		"client_encoding", "options", "application_name", "fallback_application_name", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout", "replication", "gssencmode", "sslmode",
		"requiressl", "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslkeylogfile", "sslcertmode",
		"sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer", "ssl_min_protocol_version",
		"ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service", "target_session_attrs",
		"load_balance_hosts", "oauth_issuer", "oauth_client_id", "oauth_scope", "max_protocol_version", "min_protocol_version",
		// pgx and pgxpool
		"pool_max_conns", "pool_min_conns", "pool_min_idle_conns", "pool_max_conn_lifetime", "pool_max_conn_idle_time",
		"pool_health_check_period", "pool_max_conn_lifetime_jitter", "statement_cache_capacity",
		"description_cache_capacity", "default_query_exec_mode", "servicefile", "search_path",
	}
	for _, k := range secrets {
		if !SecretParam(k) {
			t.Errorf("%s is not treated as a secret", k)
		}
	}
	for _, k := range plain {
		if SecretParam(k) {
			t.Errorf("%s is treated as a secret", k)
		}
	}
	// Spellings no driver knows are still hidden when their name says what they hold.
	secrets = append(secrets, "Password", "SSLPASSWORD", "db_password", "api_token", "client_secret")
	for _, k := range append(secrets, plain...) {
		raw := "postgres://app:userinfo-Secret-1@db.example:5432/hc?sslmode=require&" + url.QueryEscape(k) + "=value-of-" + k
		got := RedactURL(raw)
		if strings.Contains(got, "userinfo-Secret-1") || !strings.Contains(got, "app:redacted@db.example:5432/hc") {
			t.Errorf("%s: the user's password is not redacted: %s", k, got)
		}
		hidden := !strings.Contains(got, "value-of-"+k)
		if want := slices.Contains(secrets, k); hidden != want {
			t.Errorf("%s: hidden=%v, want %v: %s", k, hidden, want, got)
		}
		if !strings.Contains(got, "sslmode=require") {
			t.Errorf("%s: other parameters lost: %s", k, got)
		}
	}
	for raw, bad := range map[string]string{
		"postgres://db/hc?password=a&password=b-Secret": "b-Secret",
		"postgres://db/hc?sslpassword=%zz-Secret":       "zz-Secret", // unparsable query
		"::not a url sslpassword=x-Secret":              "x-Secret",
		"postgres://db/hc#password=frag-Secret":         "frag-Secret",
	} {
		if got := RedactURL(raw); strings.Contains(got, bad) {
			t.Errorf("%q → %q", raw, got)
		}
	}
}

// TestConfigRedactsQuerySecrets: the configuration the config command prints hides password= and
// sslpassword= in database.url (issue 16, item 3).
func TestConfigRedactsQuerySecrets(t *testing.T) {
	t.Parallel()
	c, err := Load(src(t, nil, []string{"DATABASE_URL=postgres://app@db:5432/hc?sslmode=verify-full&password=query-Secret-1&sslpassword=key-Secret-2"}))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if strings.Contains(r.Database.URL, "Secret") || !strings.Contains(r.Database.URL, "sslmode=verify-full") {
		t.Errorf("not redacted: %s", r.Database.URL)
	}
}
