//go:build unix

package cli_test

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInvalidConfiguration: each bad setting stops the binary before it does anything, with exit
// code 2 and one sentence naming the setting and what to do.
func TestInvalidConfiguration(t *testing.T) {
	t.Parallel()
	cases := []struct {
		Name  string
		Args  []string
		Env   []string
		Files map[string]string // in the working directory
		Want  string
	}{
		{Name: "address without port", Args: []string{"--addr", "nonsense"}, Want: `server.addr "nonsense" is not a valid listen address: use host:port`},
		{Name: "port out of range", Env: []string{"HEALTHCARE_SERVER_ADDR=127.0.0.1:70000"}, Want: `server.addr "127.0.0.1:70000" has an invalid port`},
		{Name: "address not on this machine", Args: []string{"--addr", "192.0.2.1:8080"}, Want: "cannot listen on 192.0.2.1:8080: this machine has no such address"},
		{Name: "unknown host", Args: []string{"--addr", "no-such-host.invalid:8080"}, Want: "cannot listen on no-such-host.invalid:8080"},
		{Name: "unknown key in ./config.yaml", Files: map[string]string{"config.yaml": "server:\n  address: 127.0.0.1:1\n"}, Want: "unknown setting server.address in"},
		{Name: "unknown key in --config", Files: map[string]string{"my.yaml": "logging: {}\n"}, Args: []string{"--config", "my.yaml"}, Want: "unknown setting logging in my.yaml"},
		{Name: "missing --config file", Args: []string{"--config", "missing.yaml"}, Want: "cannot read the configuration file missing.yaml"},
		{Name: "unknown HEALTHCARE_ variable", Env: []string{"HEALTHCARE_LISTEN=1"}, Want: "unknown environment variable HEALTHCARE_LISTEN"},
		{Name: "unknown HEALTHCARE_ variable in .env", Files: map[string]string{".env": "HEALTHCARE_DATADIR=/x\n"}, Want: "unknown environment variable HEALTHCARE_DATADIR"},
		{Name: "unparsable database URL", Args: []string{"--database-url", "localhost:5432"}, Want: "database.url is not a PostgreSQL URL"},
		{Name: "unparsable DATABASE_URL", Env: []string{"DATABASE_URL=mysql://u@h/db"}, Want: "database.url is not a PostgreSQL URL"},
		{Name: "bad duration", Env: []string{"HEALTHCARE_SERVER_SHUTDOWN_TIMEOUT=soon"}, Want: `server.shutdown_timeout "soon" is not valid: use a duration such as 10s`},
		{Name: "bad duration in file", Files: map[string]string{"config.yaml": "auth:\n  access_token_ttl: forever\n"}, Want: `auth.access_token_ttl "forever" is not valid`},
		{Name: "bad log level", Args: []string{"--log-level", "loud"}, Want: `log.level "loud" is not valid: use debug, info, warn or error`},
		{Name: "bad log format", Env: []string{"HEALTHCARE_LOG_FORMAT=xml"}, Want: `log.format "xml" is not valid`},
		{Name: "bad boolean", Env: []string{"HEALTHCARE_EMBEDDED_DOWNLOAD=perhaps"}, Want: `embedded.download "perhaps" is not valid: use true or false`},
		{Name: "short secret", Env: []string{"HEALTHCARE_AUTH_JWT_SECRET=abc"}, Want: "auth.jwt_secret is too short"},
		{Name: "unknown flag", Args: []string{"--port", "80"}, Want: "unknown flag: --port"},
		{Name: "unknown command", Args: []string{"start"}, Want: `unknown command "start"`},
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			wd := tempDir(t)
			for name, body := range tc.Files {
				if err := os.WriteFile(filepath.Join(wd, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			code, out := run(t, opts{WorkDir: wd, DataDir: filepath.Join(tempDir(t), "data"), Port: freePort(t), Env: tc.Env}, tc.Args...)
			checkSentence(t, code, 2, out, tc.Want)
		})
	}
}

// checkSentence: the expected exit code, and the output is the one line "healthcare: <sentence>."
func checkSentence(t *testing.T, code, wantCode int, out, want string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d", code, wantCode)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "healthcare: ") || !strings.HasSuffix(last, ".") || !strings.Contains(last, want) {
		t.Errorf("last line %q, want the sentence containing %q; output:\n%s", last, want, out)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "{") { // anything before the sentence is a JSON log line
			t.Errorf("stray output line %q", l)
		}
	}
}

// TestPortInUse: a taken port is found before PostgreSQL starts (exit 1).
func TestPortInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dataDir := filepath.Join(tempDir(t), "data")
	code, out := run(t, opts{DataDir: dataDir, Addr: l.Addr().String()}, "serve")
	checkSentence(t, code, 1, out, "cannot listen on "+l.Addr().String()+": the port is already in use")
	if _, err := os.Stat(filepath.Join(dataDir, "postgres")); err == nil {
		t.Error("PostgreSQL was initialised although the port was taken")
	}
}

// TestDataDirNotWritable: a data directory the (possibly dropped-to) user cannot write, or that
// cannot be created, is refused in one sentence.
func TestDataDirNotWritable(t *testing.T) {
	t.Parallel()
	readOnly := filepath.Join(tempDir(t), "ro")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	giveToServer(t, readOnly) // as root, one of root's would be refused for its owner instead
	code, out := run(t, opts{DataDir: readOnly, Port: freePort(t)}, "serve")
	checkSentence(t, code, 2, out, "data directory "+readOnly+" is not writable by user")

	file := filepath.Join(tempDir(t), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = run(t, opts{DataDir: filepath.Join(file, "data"), Port: freePort(t)}, "serve")
	checkSentence(t, code, 2, out, "cannot create")
}

// TestRunAsMissing: started as root with embedded.run_as naming no user, the binary refuses.
func TestRunAsMissing(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	code, out := run(t, opts{DataDir: filepath.Join(tempDir(t), "data"), Port: freePort(t), Env: []string{"HEALTHCARE_EMBEDDED_RUN_AS=no-such-user"}}, "serve")
	checkSentence(t, code, 2, out, `must switch to user "no-such-user", which does not exist`)
}

// TestConfigCommand: `healthcare config` prints the effective configuration from every source,
// with the secret and the database password redacted.
func TestConfigCommand(t *testing.T) {
	t.Parallel()
	wd := tempDir(t)
	files := map[string]string{
		"config.yaml": "server:\n  addr: 127.0.0.1:7001\n  body_limit: 2048\nlog:\n  level: warn\n",
		".env":        "DB_NAME=clinic\nDB_USER=django\nDB_PASSWORD=hunter2-db\nDB_HOST=db.example\nHEALTHCARE_LOG_FORMAT=text\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(wd, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	secret := "jwt-" + strings.Repeat("Z", 40)
	code, out := run(t, opts{WorkDir: wd, Env: []string{"HEALTHCARE_AUTH_JWT_SECRET=" + secret, "HEALTHCARE_LOG_LEVEL=error"}},
		"config", "--data-dir", "/srv/clinic")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"  addr: 127.0.0.1:7001\n",                          // ./config.yaml
		"  body_limit: 2048\n",                              // ./config.yaml
		"  format: text\n",                                  // .env
		"  level: error\n",                                  // environment over file
		"data_dir: /srv/clinic\n",                           // flag
		"postgres://django:redacted@db.example:5432/clinic", // DB_* from .env, redacted
		"  jwt_secret: '[redacted]'\n",
		"  shutdown_timeout: 6s\n", // defaults, in config.yaml's form
		"  trusted_proxies: []\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2-db", secret} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows the secret %q", secret)
		}
	}
}

// TestStrayDBVariables: a DB_* variable alone does not switch to an external database; the config
// command and every command's log say which database is used, why, and what was ignored (issue
// 16, item 9).
func TestStrayDBVariables(t *testing.T) {
	t.Parallel()
	stray := opts{DataDir: filepath.Join(tempDir(t), "data"), Env: []string{"DB_NAME=clinic", "HEALTHCARE_LOG_FORMAT=text"}}
	code, out := run(t, stray, "config")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"# Database: the embedded PostgreSQL (no database.url is set).\n",
		"# Warning: ignoring DB_NAME: the original system's DB_* variables select an external PostgreSQL only when DB_NAME, DB_USER, DB_PASSWORD, DB_HOST are all set",
		"  url: \"\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config output lacks %q:\n%s", want, out)
		}
	}
	code, out = run(t, stray, "backup", "--list")
	if code != 0 {
		t.Fatalf("backup --list: exit %d:\n%s", code, out)
	}
	for _, want := range []string{`level=WARN msg="configuration: ignoring DB_NAME`, `msg="database: the embedded PostgreSQL in the data directory" because="no database.url is set"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}

	all := opts{Env: []string{"DB_NAME=clinic", "DB_USER=django", "DB_PASSWORD=hunter2-db", "DB_HOST=db.example"}}
	code, out = run(t, all, "config")
	if code != 0 || !strings.Contains(out, "# Database: external, set by the original system's variables DB_NAME, DB_USER, DB_PASSWORD, DB_HOST.\n") ||
		strings.Contains(out, "# Warning") || strings.Contains(out, "hunter2-db") {
		t.Errorf("complete DB_*: exit %d:\n%s", code, out)
	}
}

// TestVersionCommand: the release, then the commit and build time when the toolchain recorded
// them (a build in a git checkout without -buildvcs=false), then the Go toolchain.
func TestVersionCommand(t *testing.T) {
	t.Parallel()
	code, out := run(t, opts{}, "version")
	version := regexp.MustCompile(`^healthcare dev\n(commit [0-9a-f]{40}( \(modified\))?\nbuilt \S+\n)?go 1\.`)
	if code != 0 || !version.MatchString(out) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	code, out := run(t, opts{}, "--help")
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{"serve", "migrate", "import", "config", "healthcheck", "version", "--addr", "--data-dir", "--database-url", "--log-format", "--log-level", "--config"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

// TestHealthcheckWithoutServer: nothing listens, so the healthcheck fails with exit 1.
func TestHealthcheckWithoutServer(t *testing.T) {
	t.Parallel()
	code, out := run(t, opts{Port: freePort(t)}, "healthcheck")
	checkSentence(t, code, 1, out, "/readyz did not answer")
}
