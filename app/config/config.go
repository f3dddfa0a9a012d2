// Package config loads the appliance's settings with viper, in this order of precedence (lowest
// first): the embedded config.yaml defaults, a config file (--config or ./config.yaml), a .env file
// in the working directory, the environment (HEALTHCARE_*), and command-line flags.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// Config is the effective configuration. Field tags name the keys of config.yaml.
type Config struct {
	Server    Server    `mapstructure:"server"`
	DataDir   string    `mapstructure:"data_dir"`
	Database  Database  `mapstructure:"database"`
	Embedded  Embedded  `mapstructure:"embedded"`
	Auth      Auth      `mapstructure:"auth"`
	Patients  Patients  `mapstructure:"patients"`
	Doctors   Doctors   `mapstructure:"doctors"`
	Admin     Admin     `mapstructure:"admin"`
	RateLimit RateLimit `mapstructure:"rate_limit"`
	Backup    Backup    `mapstructure:"backup"`
	Audit     Audit     `mapstructure:"audit"`
	Log       Log       `mapstructure:"log"`

	// DatabaseSource says which setting chose the database (database.url's source, or why the
	// embedded server runs), for the start-up log. Not a setting.
	DatabaseSource string `mapstructure:"-"`
	// Warnings are problems of the sources that did not stop start-up (ignored DB_* variables),
	// for the start-up log. Not a setting.
	Warnings []string `mapstructure:"-"`
}

// Audit configures the audit trail.
type Audit struct {
	Reads     bool          `mapstructure:"reads"`     // record reads of patient data (changes are always recorded)
	Retention time.Duration `mapstructure:"retention"` // rows older than this are removed (at least a year)
}

// MinAuditRetention is the shortest audit.retention (PostgreSQL's audit_purge refuses less too).
const MinAuditRetention = 366 * 24 * time.Hour

// Backup configures the embedded mode's automatic backups.
type Backup struct {
	Schedule time.Duration `mapstructure:"schedule"` // 0: off
	Keep     int           `mapstructure:"keep"`
}

// Server holds the HTTP listener settings.
type Server struct {
	Addr            string        `mapstructure:"addr"`
	BodyLimit       int           `mapstructure:"body_limit"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	TrustedProxies  []string      `mapstructure:"trusted_proxies"`
	// Bounds: what one client, or all of them, can hold of the server.
	ReadTimeout              time.Duration `mapstructure:"read_timeout"`
	MaxConnections           int           `mapstructure:"max_connections"`
	MaxConnectionsPerAddress int           `mapstructure:"max_connections_per_address"`
	AllowedHosts             []string      `mapstructure:"allowed_hosts"`
	// TLS is off, files, self-signed or acme (see package certs).
	TLS           string   `mapstructure:"tls"`
	TLSCert       string   `mapstructure:"tls_cert"`
	TLSKey        string   `mapstructure:"tls_key"`
	TLSDomains    []string `mapstructure:"tls_domains"`
	HTTPAddr      string   `mapstructure:"http_addr"` // with TLS: plain HTTP here only redirects
	ACMEDirectory string   `mapstructure:"acme_directory"`
	ACMEEmail     string   `mapstructure:"acme_email"`
	ACMECAFile    string   `mapstructure:"acme_ca_file"`
}

// TLSOn reports whether the server speaks HTTPS.
func (s Server) TLSOn() bool { return s.TLS != "" && s.TLS != "off" }

// Database selects an external PostgreSQL (URL set) or the embedded one (URL empty).
type Database struct {
	URL            string        `mapstructure:"url"`
	MaxConns       int           `mapstructure:"max_conns"`
	QueryTimeout   time.Duration `mapstructure:"query_timeout"`
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	SearchTimeout  time.Duration `mapstructure:"search_timeout"`
}

// Embedded configures the embedded PostgreSQL server.
type Embedded struct {
	Binaries        string `mapstructure:"binaries"`
	BinariesPath    string `mapstructure:"binaries_path"`
	Download        bool   `mapstructure:"download"`
	DownloadVersion string `mapstructure:"download_version"`
	Port            int    `mapstructure:"port"`
	RunAs           string `mapstructure:"run_as"`
	Database        string `mapstructure:"database"`
	LogMaxSizeMB    int    `mapstructure:"log_max_size_mb"` // PostgreSQL starts a new log file at this size
	LogKeep         int    `mapstructure:"log_keep"`        // older PostgreSQL log files kept
}

// Patients holds the patients policy; empty leaves it to administrators (see app/policy).
type Patients struct {
	Visibility string `mapstructure:"visibility"` // "", owner or clinic
}

// Doctors holds the doctors policy; empty leaves it to administrators (see app/policy).
type Doctors struct {
	Writes string `mapstructure:"writes"` // "", any or admin
}

// Admin names the administrator created at start when none exists (Docker's first start).
type Admin struct {
	Username     string `mapstructure:"username"`
	Email        string `mapstructure:"email"`
	Password     string `mapstructure:"password"`
	PasswordFile string `mapstructure:"password_file"`
}

// Auth configures tokens, sessions, registration and password hashing.
type Auth struct {
	JWTSecret           string        `mapstructure:"jwt_secret"`
	JWTSecretFile       string        `mapstructure:"jwt_secret_file"`
	Issuer              string        `mapstructure:"issuer"`
	Audience            string        `mapstructure:"audience"`
	AccessTokenTTL      time.Duration `mapstructure:"access_token_ttl"`
	RefreshTokenTTL     time.Duration `mapstructure:"refresh_token_ttl"`
	RotateRefreshTokens bool          `mapstructure:"rotate_refresh_tokens"`
	RefreshGrace        time.Duration `mapstructure:"refresh_grace"`
	IdleTimeout         time.Duration `mapstructure:"idle_timeout"`
	SessionMaxAge       time.Duration `mapstructure:"session_max_age"`
	Registration        string        `mapstructure:"registration"` // "", open, approval or closed
	Argon2MemoryKiB     uint32        `mapstructure:"argon2_memory_kib"`
	Argon2Iterations    uint32        `mapstructure:"argon2_iterations"`
	Argon2Parallelism   uint8         `mapstructure:"argon2_parallelism"`
}

// RateLimit configures login and registration throttling.
type RateLimit struct {
	Enabled            bool          `mapstructure:"enabled"`
	LoginPerUsername   int           `mapstructure:"login_per_username"`
	LoginPerAddress    int           `mapstructure:"login_per_address"`
	LoginSlowUsername  int           `mapstructure:"login_slow_per_username"`
	LoginWindow        time.Duration `mapstructure:"login_window"`
	RegisterPerAddress int           `mapstructure:"register_per_address"`
	RegisterWindow     time.Duration `mapstructure:"register_window"`
}

// Log configures log/slog output.
type Log struct {
	Format        string `mapstructure:"format"`
	Level         string `mapstructure:"level"`
	File          string `mapstructure:"file"`             // serve's log goes here instead of stderr
	FileMaxSizeMB int    `mapstructure:"file_max_size_mb"` // size at which File is rotated
	FileKeep      int    `mapstructure:"file_keep"`        // rotated files kept
}

// Embedded reports whether the embedded PostgreSQL server is used.
func (c *Config) EmbeddedMode() bool { return c.Database.URL == "" }

// Flags are the command-line flags that override configuration keys, by key.
var Flags = map[string]string{
	"addr":         "server.addr",
	"data-dir":     "data_dir",
	"database-url": "database.url",
	"log-format":   "log.format",
	"log-level":    "log.level",
}

// AddFlags registers the configuration flags (and --config) on fs.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "configuration file (default ./config.yaml when present)")
	fs.String("addr", "", "listen address, e.g. 127.0.0.1:8080 (server.addr)")
	fs.String("data-dir", "", "data directory (data_dir)")
	fs.String("database-url", "", "external PostgreSQL URL; empty runs the embedded server (database.url)")
	fs.String("log-format", "", "log format: auto, text or json (log.format)")
	fs.String("log-level", "", "log level: debug, info, warn or error (log.level)")
}

// Sources are the inputs of Load. Environ and WorkDir are explicit so tests can drive every source.
type Sources struct {
	Defaults []byte         // the embedded config.yaml
	Flags    *pflag.FlagSet // may be nil
	Environ  []string       // os.Environ() form
	WorkDir  string         // where ./config.yaml and .env are looked for
}

// Load builds the effective configuration from all sources and validates it. Its errors are one
// sentence a user can act on.
func Load(src Sources) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(src.Defaults)); err != nil {
		return nil, fmt.Errorf("the embedded default configuration is invalid: %w", err)
	}
	known := map[string]bool{}
	for _, k := range v.AllKeys() {
		known[k] = true
	}

	// Config file: --config, else ./config.yaml when present.
	file := ""
	if src.Flags != nil {
		if f := src.Flags.Lookup("config"); f != nil && f.Changed {
			file = f.Value.String()
			if _, err := os.Stat(file); err != nil {
				return nil, fmt.Errorf("cannot read the configuration file %s: %v", file, errors.Unwrap(err))
			}
		}
	}
	if file == "" {
		if p := filepath.Join(src.WorkDir, "config.yaml"); fileExists(p) {
			file = p
		}
	}
	if file != "" {
		fv := viper.New()
		fv.SetConfigFile(file)
		fv.SetConfigType("yaml")
		if err := fv.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("cannot read the configuration file %s: %v", file, err)
		}
		// viper drops empty sections ("logging: {}") from its key lists: check the raw YAML.
		raw := map[string]any{}
		if b, err := os.ReadFile(file); err == nil {
			_ = yaml.Unmarshal(b, &raw)
		}
		if err := checkKeys(append(leafKeys("", raw), fv.AllKeys()...), known, "in "+file); err != nil {
			return nil, err
		}
		if err := v.MergeConfigMap(fv.AllSettings()); err != nil {
			return nil, fmt.Errorf("cannot merge the configuration file %s: %v", file, err)
		}
	}

	dbSource := ""
	if file != "" && v.GetString("database.url") != "" {
		dbSource = "database.url in " + file
	}

	// .env then the real environment: the environment wins over .env.
	env, err := loadEnvironment(src.WorkDir, src.Environ)
	if err != nil {
		return nil, err
	}
	envSource, warnings, err := applyEnv(v, env, known)
	if err != nil {
		return nil, err
	}
	if envSource != "" {
		dbSource = envSource
	}

	if src.Flags != nil {
		for flag, key := range Flags {
			if f := src.Flags.Lookup(flag); f != nil && f.Changed {
				v.Set(key, f.Value.String())
				if key == "database.url" {
					dbSource = "--database-url"
				}
			}
		}
	}

	var c Config
	dec := viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	))
	if err := v.Unmarshal(&c, dec, func(dc *mapstructure.DecoderConfig) { dc.ErrorUnused = true }); err != nil {
		return nil, decodeError(v, err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	c.Warnings = warnings
	switch {
	case c.Database.URL != "":
		c.DatabaseSource = dbSource
	case dbSource != "":
		c.DatabaseSource = dbSource + " is empty"
	default:
		c.DatabaseSource = "no database.url is set"
	}
	return &c, nil
}

// environment is the merged .env and process environment.
type environment struct {
	vars   map[string]string
	dotenv map[string]bool // names whose value came from .env (not overridden by the environment)
}

// origin names where variable k came from, for messages.
func (e environment) origin(names ...string) string {
	for _, k := range names {
		if e.dotenv[k] {
			return " (from .env)"
		}
	}
	return ""
}

// The original system's variables. They select an external database only all together: a stray
// DB_NAME in an environment must not switch the appliance away from its own data.
var (
	dbRequired = []string{"DB_NAME", "DB_USER", "DB_PASSWORD", "DB_HOST"} // DB_PASSWORD may be empty
	dbOptional = []string{"DB_PORT"}                                      // default 5432
)

// loadEnvironment reads a .env file in workDir, overridden by environ (os.Environ() form).
func loadEnvironment(workDir string, environ []string) (environment, error) {
	env := environment{vars: map[string]string{}, dotenv: map[string]bool{}}
	if p := filepath.Join(workDir, ".env"); fileExists(p) {
		dotenv, err := readDotEnv(p)
		if err != nil {
			return env, err
		}
		for k, val := range dotenv {
			env.vars[k] = val
			env.dotenv[k] = true
		}
	}
	for _, kv := range environ {
		if k, val, ok := strings.Cut(kv, "="); ok {
			env.vars[k] = val
			delete(env.dotenv, k)
		}
	}
	return env, nil
}

// Environment is the variables the program sees: those of a .env file in workDir, overridden by
// environ (os.Environ() form), as the original system read its DB_* settings too.
func Environment(workDir string, environ []string) (map[string]string, error) {
	env, err := loadEnvironment(workDir, environ)
	return env.vars, err
}

// applyEnv maps HEALTHCARE_* variables onto keys, then the conventional DATABASE_URL and the original
// system's DB_* variables onto database.url (HEALTHCARE_DATABASE_URL wins over both). It returns the
// variable that set database.url ("" when none did) and the warnings to log.
func applyEnv(v *viper.Viper, env environment, known map[string]bool) (source string, warnings []string, err error) {
	var unknown []string
	for k, val := range env.vars {
		rest, ok := strings.CutPrefix(k, "HEALTHCARE_")
		if !ok {
			continue
		}
		key := envKey(rest, known)
		if key == "" {
			unknown = append(unknown, k)
			continue
		}
		v.Set(key, val)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return "", nil, fmt.Errorf("unknown environment variable %s: remove it or use one of the settings listed in config.yaml", strings.Join(unknown, ", "))
	}
	var set, missing []string
	for _, k := range append(dbRequired, dbOptional...) {
		if _, ok := env.vars[k]; ok {
			set = append(set, k)
		}
	}
	for _, k := range dbRequired {
		if val, ok := env.vars[k]; !ok || (val == "" && k != "DB_PASSWORD") {
			missing = append(missing, k)
		}
	}
	dbURL := ""
	switch {
	case len(set) == 0:
	case len(missing) > 0:
		warnings = append(warnings, fmt.Sprintf("ignoring %s%s: the original system's DB_* variables select an external "+
			"PostgreSQL only when %s are all set (%s missing or empty); set them all, or set database.url, or remove them",
			strings.Join(set, ", "), env.origin(set...), strings.Join(dbRequired, ", "), strings.Join(missing, ", ")))
	default:
		host, port := env.vars["DB_HOST"], env.vars["DB_PORT"]
		if port == "" {
			port = "5432"
		}
		u := url.URL{Scheme: "postgres", Host: net.JoinHostPort(host, port), Path: "/" + env.vars["DB_NAME"],
			User: url.UserPassword(env.vars["DB_USER"], env.vars["DB_PASSWORD"])}
		if env.vars["DB_PASSWORD"] == "" {
			u.User = url.User(env.vars["DB_USER"])
		}
		dbURL = u.String()
	}
	if _, ok := env.vars["HEALTHCARE_DATABASE_URL"]; ok {
		return "HEALTHCARE_DATABASE_URL" + env.origin("HEALTHCARE_DATABASE_URL"), warnings, nil
	}
	if u := env.vars["DATABASE_URL"]; u != "" {
		v.Set("database.url", u)
		return "DATABASE_URL" + env.origin("DATABASE_URL"), warnings, nil
	}
	if dbURL != "" {
		v.Set("database.url", dbURL)
		return "the original system's variables " + strings.Join(set, ", ") + env.origin(set...), warnings, nil
	}
	return "", warnings, nil
}

// envKey finds the key whose upper-cased, dots-as-underscores form is name ("SERVER_ADDR" ->
// "server.addr"); keys may themselves contain underscores, so it matches against the known keys.
func envKey(name string, known map[string]bool) string {
	for k := range known {
		if strings.ToUpper(strings.ReplaceAll(k, ".", "_")) == name {
			return k
		}
	}
	return ""
}

// leafKeys lists the dotted, lower-cased keys of m's leaves, counting an empty map as a leaf.
func leafKeys(prefix string, m map[string]any) []string {
	var keys []string
	for k, v := range m {
		key := prefix + strings.ToLower(k)
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			keys = append(keys, leafKeys(key+".", sub)...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// decodeError turns mapstructure's multi-line report into one sentence about the first bad key.
func decodeError(v *viper.Viper, err error) error {
	var de *mapstructure.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("invalid configuration: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	msg := de.Error()
	hint := "see config.yaml for the expected form"
	switch {
	case strings.Contains(msg, "duration"):
		hint = "use a duration such as 10s, 5m or 24h"
	case strings.Contains(msg, "'bool'"):
		hint = "use true or false"
	case strings.Contains(msg, "int'"):
		hint = "use a whole number"
	}
	return fmt.Errorf("%s %q is not valid: %s", de.Name(), v.GetString(de.Name()), hint)
}

func checkKeys(keys []string, known map[string]bool, where string) error {
	var unknown []string
	seen := map[string]bool{}
	for _, k := range keys {
		if known[k] || seen[k] || isSection(k, known) {
			continue
		}
		seen[k] = true
		unknown = append(unknown, k)
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("unknown setting %s %s: check the spelling against config.yaml", strings.Join(unknown, ", "), where)
}

// isSection reports whether k names a group of known keys ("server" for server.addr...).
func isSection(k string, known map[string]bool) bool {
	for kk := range known {
		if strings.HasPrefix(kk, k+".") {
			return true
		}
	}
	return false
}

// readDotEnv reads KEY=VALUE lines; # comments, blank lines, "export " prefixes and surrounding
// quotes are accepted, as in the original system's .env files.
func readDotEnv(path string) (map[string]string, error) {
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("env")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, err)
	}
	out := map[string]string{}
	for _, k := range v.AllKeys() {
		// viper lower-cases keys; environment names are upper-case by convention.
		out[strings.ToUpper(k)] = v.GetString(k)
	}
	return out, nil
}

func (c *Config) validate() error {
	if _, port, err := net.SplitHostPort(c.Server.Addr); err != nil {
		return fmt.Errorf("server.addr %q is not a valid listen address: use host:port, e.g. 127.0.0.1:8080", c.Server.Addr)
	} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("server.addr %q has an invalid port: use a number from 1 to 65535", c.Server.Addr)
	}
	if c.Server.BodyLimit < 1024 {
		return fmt.Errorf("server.body_limit %d is too small: use at least 1024 bytes", c.Server.BodyLimit)
	}
	for _, p := range c.Server.TrustedProxies {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return fmt.Errorf("server.trusted_proxies entry %q is not an IP address or CIDR range: use e.g. 10.0.0.1 or 10.0.0.0/8", p)
			}
		}
	}
	if c.Server.ReadTimeout <= 0 {
		return errors.New("server.read_timeout must be a positive duration such as 10s")
	}
	if c.Server.MaxConnections < 1 {
		return errors.New("server.max_connections must be at least 1, e.g. 1024")
	}
	if c.Server.MaxConnectionsPerAddress < 0 {
		return errors.New("server.max_connections_per_address must be 0 (no limit) or a positive number, e.g. 128")
	}
	for _, h := range c.Server.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ ,") {
			return fmt.Errorf("server.allowed_hosts entry %q is not a host name: use e.g. clinic.example.org, .example.org (and its subdomains) or *", h)
		}
	}
	switch c.Server.TLS {
	case "off":
		if c.Server.HTTPAddr != "" {
			return errors.New("server.http_addr is set but server.tls is off: it is the plain-HTTP port that redirects to HTTPS; clear it, or set server.tls")
		}
	case "files":
		if c.Server.TLSCert == "" || c.Server.TLSKey == "" {
			return errors.New("server.tls is files: set server.tls_cert and server.tls_key to the PEM certificate chain and private key")
		}
	case "self-signed":
	case "acme":
		if len(c.Server.TLSDomains) == 0 {
			return errors.New("server.tls is acme: list the public names this server answers to in server.tls_domains")
		}
		if u, err := url.Parse(c.Server.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("server.acme_directory %q is not an https:// URL of an ACME directory", c.Server.ACMEDirectory)
		}
	default:
		return fmt.Errorf("server.tls %q is not one of off, files, self-signed, acme", c.Server.TLS)
	}
	if c.Server.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.Server.HTTPAddr); err != nil {
			return fmt.Errorf("server.http_addr %q is not a valid listen address: use host:port, e.g. 0.0.0.0:80", c.Server.HTTPAddr)
		}
	}
	if c.Server.ShutdownTimeout <= 0 {
		return errors.New("server.shutdown_timeout must be a positive duration such as 10s")
	}
	if c.Database.URL != "" {
		u, err := url.Parse(c.Database.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return errors.New("database.url is not a PostgreSQL URL: use postgres://user:password@host:5432/dbname")
		}
	}
	if c.Database.MaxConns < 0 {
		return errors.New("database.max_conns must be 0 (automatic) or a positive number")
	}
	if c.Database.QueryTimeout <= 0 {
		return errors.New("database.query_timeout must be a positive duration such as 10s")
	}
	if c.Database.SearchTimeout <= 0 {
		return errors.New("database.search_timeout must be a positive duration such as 3s")
	}
	if c.Database.ConnectTimeout <= 0 {
		return errors.New("database.connect_timeout must be a positive duration such as 30s")
	}
	if c.Backup.Schedule < 0 || (c.Backup.Schedule > 0 && c.Backup.Schedule < time.Minute) {
		return errors.New("backup.schedule must be 0 (off) or at least 1m, e.g. 24h")
	}
	if c.Backup.Keep < 1 {
		return errors.New("backup.keep must be at least 1")
	}
	if c.Audit.Retention < MinAuditRetention {
		return errors.New("audit.retention must be at least a year (8784h); the default 52596h is six years, HIPAA's documentation period")
	}
	if c.Embedded.Port < 0 || c.Embedded.Port > 65535 {
		return fmt.Errorf("embedded.port %d is out of range: use 0 (pick a free port) or 1-65535", c.Embedded.Port)
	}
	switch c.Embedded.Binaries {
	case "auto", "system", "bundled", "download":
	default:
		return fmt.Errorf("embedded.binaries %q is not one of auto, system, bundled, download", c.Embedded.Binaries)
	}
	if c.Embedded.BinariesPath != "" && (c.Embedded.Binaries == "bundled" || c.Embedded.Binaries == "download") {
		return fmt.Errorf("embedded.binaries_path is set but embedded.binaries is %q, which does not use it: set embedded.binaries to auto or system, or clear embedded.binaries_path", c.Embedded.Binaries)
	}
	switch c.Embedded.DownloadVersion {
	case "14", "15", "16", "17":
	default:
		return fmt.Errorf("embedded.download_version %q is not supported: use 14, 15, 16 or 17", c.Embedded.DownloadVersion)
	}
	if c.Embedded.Database == "" {
		return errors.New("embedded.database must name a database, e.g. healthcare")
	}
	if c.Embedded.LogMaxSizeMB < 1 || c.Embedded.LogMaxSizeMB > 1024*1024 || c.Embedded.LogKeep < 1 {
		return errors.New("embedded.log_max_size_mb must be from 1 to 1048576 and embedded.log_keep at least 1")
	}
	if c.Auth.JWTSecret != "" && len(c.Auth.JWTSecret) < 32 {
		return errors.New("auth.jwt_secret is too short: use at least 32 random characters, or leave it empty to generate one")
	}
	if c.Auth.JWTSecretFile != "" {
		b, err := os.ReadFile(c.Auth.JWTSecretFile)
		if err != nil {
			return fmt.Errorf("cannot read auth.jwt_secret_file %s: %v", c.Auth.JWTSecretFile, errors.Unwrap(err))
		}
		c.Auth.JWTSecret = strings.TrimSpace(string(b))
		if len(c.Auth.JWTSecret) < 32 {
			return fmt.Errorf("the secret in %s is too short: use at least 32 random characters", c.Auth.JWTSecretFile)
		}
	}
	if c.Auth.AccessTokenTTL <= 0 || c.Auth.RefreshTokenTTL <= 0 {
		return errors.New("auth.access_token_ttl and auth.refresh_token_ttl must be positive durations such as 5m and 24h")
	}
	if c.Auth.Issuer == "" || c.Auth.Audience == "" {
		return errors.New("auth.issuer and auth.audience must not be empty")
	}
	if c.Auth.RefreshGrace < 0 || c.Auth.RefreshGrace > time.Minute {
		return errors.New("auth.refresh_grace must be between 0 (off) and 1m, e.g. 10s")
	}
	if c.Auth.IdleTimeout <= 0 || c.Auth.SessionMaxAge <= 0 {
		return errors.New("auth.idle_timeout and auth.session_max_age must be positive durations such as 15m and 12h")
	}
	if c.Auth.IdleTimeout < c.Auth.AccessTokenTTL {
		return fmt.Errorf("auth.idle_timeout %s is shorter than auth.access_token_ttl %s: a user who is active would be signed out; raise it or shorten the access tokens",
			c.Auth.IdleTimeout, c.Auth.AccessTokenTTL)
	}
	if c.Auth.SessionMaxAge < c.Auth.IdleTimeout {
		return errors.New("auth.session_max_age must be at least auth.idle_timeout")
	}
	switch c.Auth.Registration {
	case "", "open", "approval", "closed":
	default:
		return fmt.Errorf("auth.registration %q is not valid: use open, approval or closed (or leave it empty for administrators to choose)", c.Auth.Registration)
	}
	switch c.Patients.Visibility {
	case "", "owner", "clinic":
	default:
		return fmt.Errorf("patients.visibility %q is not valid: use owner or clinic (or leave it empty for administrators to choose)", c.Patients.Visibility)
	}
	if c.Patients.Visibility == "clinic" && c.Auth.Registration != "approval" && c.Auth.Registration != "closed" {
		return errors.New("patients.visibility clinic lets every account see every patient, so it needs auth.registration set to approval or closed in the configuration too")
	}
	switch c.Doctors.Writes {
	case "", "any", "admin":
	default:
		return fmt.Errorf("doctors.writes %q is not valid: use any or admin (or leave it empty for administrators to choose)", c.Doctors.Writes)
	}
	if err := c.validateAdmin(); err != nil {
		return err
	}
	if c.Auth.Argon2MemoryKiB < 8*1024 || c.Auth.Argon2Iterations < 1 || c.Auth.Argon2Parallelism < 1 {
		return errors.New("auth.argon2_* values are too weak: use at least 8192 KiB memory, 1 iteration and parallelism 1")
	}
	if c.RateLimit.LoginPerUsername < 1 || c.RateLimit.LoginPerAddress < 1 || c.RateLimit.RegisterPerAddress < 1 || c.RateLimit.LoginSlowUsername < 1 ||
		c.RateLimit.LoginWindow <= 0 || c.RateLimit.RegisterWindow <= 0 {
		return errors.New("rate_limit limits must be at least 1 and windows positive durations; set rate_limit.enabled to false to turn limits off")
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		return fmt.Errorf("log.format %q is not valid: use auto, text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level %q is not valid: use debug, info, warn or error", c.Log.Level)
	}
	if c.Log.FileMaxSizeMB < 1 || c.Log.FileKeep < 1 {
		return errors.New("log.file_max_size_mb and log.file_keep must be at least 1")
	}
	if c.Log.File != "" {
		abs, err := filepath.Abs(c.Log.File)
		if err != nil || strings.HasSuffix(c.Log.File, "/") {
			return fmt.Errorf("log.file %q is not a file name: use e.g. /var/log/healthcare/healthcare.log", c.Log.File)
		}
		c.Log.File = abs // the working directory of the command that reads it
	}
	return nil
}

// validateAdmin checks the first-start administrator: a username needs a password (from
// admin.password or admin.password_file, whose contents replace admin.password), and a password
// needs a username. The password policy is checked when the account is created.
func (c *Config) validateAdmin() error {
	a := &c.Admin
	if a.Password != "" && a.PasswordFile != "" {
		return errors.New("set admin.password or admin.password_file, not both")
	}
	if a.PasswordFile != "" {
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return fmt.Errorf("cannot read admin.password_file %s: %v", a.PasswordFile, errors.Unwrap(err))
		}
		a.Password = strings.TrimRight(string(b), "\r\n")
		if a.Password == "" {
			return fmt.Errorf("admin.password_file %s is empty", a.PasswordFile)
		}
	}
	switch {
	case a.Username == "" && (a.Password != "" || a.Email != ""):
		return errors.New("admin.password and admin.email need admin.username (HEALTHCARE_ADMIN_USERNAME): the administrator to create at first start")
	case a.Username != "" && a.Password == "":
		return errors.New("admin.username needs a password: set admin.password_file (HEALTHCARE_ADMIN_PASSWORD_FILE) or admin.password (HEALTHCARE_ADMIN_PASSWORD)")
	}
	return nil
}

// Redacted returns a copy safe to print: secrets and database passwords are replaced.
func (c Config) Redacted() Config {
	if c.Auth.JWTSecret != "" {
		c.Auth.JWTSecret = "[redacted]"
	}
	if c.Admin.Password != "" {
		c.Admin.Password = "[redacted]"
	}
	if c.Database.URL != "" {
		c.Database.URL = RedactURL(c.Database.URL)
	}
	return c
}

// secretParams are the connection parameters (libpq's and pgx's) whose value is a secret.
var secretParams = map[string]bool{"password": true, "sslpassword": true, "oauth_client_secret": true}

// SecretParam reports whether a database URL's query parameter holds a secret: a known one, or
// any whose name says password, secret or token (so a future or misspelt one is not printed).
func SecretParam(name string) bool {
	n := strings.ToLower(name)
	return secretParams[n] || strings.Contains(n, "password") || strings.Contains(n, "secret") || strings.Contains(n, "token")
}

// RedactURL returns a PostgreSQL URL safe to print and log: the password of its user part and the
// value of every secret query parameter (password=, sslpassword=...) become "redacted". A value
// that is not a URL is replaced whole. It is the one redaction of database URLs: the config
// command, start-up logs and error messages all use it.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "[redacted: not a URL]"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
	}
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = "redacted" // unparsable: it may hold anything
		} else {
			for k := range q {
				if SecretParam(k) {
					q[k] = []string{"redacted"}
				}
			}
			u.RawQuery = q.Encode()
		}
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
