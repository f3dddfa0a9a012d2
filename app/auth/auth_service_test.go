//go:build unix

package auth

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"healthcare/app/config"
)

func testConfig(t testing.TB) *config.Config {
	cfg := &config.Config{DataDir: t.TempDir()}
	cfg.Auth = config.Auth{
		JWTSecret: "unit-test-secret-0123456789abcdef0123456789", Issuer: "healthcare", Audience: "healthcare-api",
		AccessTokenTTL: 5 * time.Minute, RefreshTokenTTL: 24 * time.Hour, RotateRefreshTokens: true, Registration: "open",
		Argon2MemoryKiB: 8 * 1024, Argon2Iterations: 1, Argon2Parallelism: 1,
	}
	return cfg
}

func newTestService(t testing.TB, cfg *config.Config) *Service {
	t.Helper()
	s, err := New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPasswordHashing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := newTestService(t, cfg)
	h, err := s.HashPassword("  spaced pw  ")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the configured parameters", h)
	}
	for pw, want := range map[string]bool{"  spaced pw  ": true, "spaced pw": false, "": false} {
		if ok, err := s.VerifyPassword(h, pw); err != nil || ok != want {
			t.Errorf("verify %q = %v, %v; want %v", pw, ok, err, want)
		}
	}
	if s.NeedsRehash(h) {
		t.Error("a fresh hash needs no rehash")
	}
	h2, _ := s.HashPassword("  spaced pw  ")
	if h2 == h {
		t.Error("two hashes of one password must differ (random salt)")
	}

	// Raising the cost: old hashes still verify and are flagged for rehashing.
	cfg2 := testConfig(t)
	cfg2.Auth.Argon2Iterations = 2
	s2 := newTestService(t, cfg2)
	if ok, err := s2.VerifyPassword(h, "  spaced pw  "); !ok || err != nil {
		t.Fatalf("an old-cost hash must verify: %v %v", ok, err)
	}
	if !s2.NeedsRehash(h) {
		t.Error("an old-cost hash needs a rehash")
	}

	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=8192,t=1,p=1$!!$!!"} {
		if ok, err := s.VerifyPassword(bad, "x"); ok || err == nil {
			t.Errorf("malformed hash %q: ok=%v err=%v", bad, ok, err)
		}
	}
}

func TestGeneratedSecret(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Auth.JWTSecret = ""
	// Many services starting at once (two processes in real life) agree on one secret.
	var wg sync.WaitGroup
	secrets := make([]string, 8)
	for i := range secrets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secrets[i] = string(newTestService(t, cfg).secret)
		}()
	}
	wg.Wait()
	for _, s := range secrets {
		if s != secrets[0] {
			t.Fatalf("services disagree on the generated secret")
		}
	}
	if len(secrets[0]) != 64 {
		t.Fatalf("secret is %d hex characters, want 64 (256 bits)", len(secrets[0]))
	}
	st, err := os.Stat(filepath.Join(cfg.DataDir, SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	// A restart reuses it, so tokens survive.
	if got := string(newTestService(t, cfg).secret); got != secrets[0] {
		t.Fatal("the secret changed across restarts")
	}
	entries, _ := os.ReadDir(cfg.DataDir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	// A truncated secret file is refused, not silently used.
	if err := os.WriteFile(filepath.Join(cfg.DataDir, SecretFile), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Fatal("a short secret file must be refused")
	}
}

// TestSecretFileModes: a kept secret readable by others is restricted to its owner, with a
// warning, and still used; one writable by others (it may have been replaced) is refused.
func TestSecretFileModes(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Auth.JWTSecret = ""
	path := filepath.Join(cfg.DataDir, SecretFile)
	secret := strings.Repeat("ab", 32)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	var logged strings.Builder
	s, err := New(cfg, nil, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.secret) != secret {
		t.Error("the kept secret was not used")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o after start, want 0600", st.Mode().Perm())
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "restricted it to its owner") {
		t.Errorf("no warning: %s", logged.String())
	}

	os.Chmod(path, 0o666)
	_, err = New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "is writable by other users") || !strings.Contains(err.Error(), "run 'chmod 600 "+path+"'") {
		t.Fatalf("a world-writable secret: %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o666 {
		t.Errorf("a refused secret was changed: %04o", st.Mode().Perm())
	}
}

func TestTokenParsing(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	s := newTestService(t, cfg)
	access, _ := s.sign(7, typeAccess, "", time.Minute)
	refresh, rt, _ := s.newRefresh(7, "0b6a3c2e-8f47-4d2a-9d8e-3d1f6a2b4c5d")
	// The stored claims sign the very same token again (the refresh grace window relies on it).
	if again, err := s.signRefresh(7, "0b6a3c2e-8f47-4d2a-9d8e-3d1f6a2b4c5d", rt); err != nil || again != refresh ||
		string(hashToken(again)) != string(rt.Hash) {
		t.Fatalf("signing the stored claims again gave another token (%v)", err)
	}

	// The claims simplejwt 5.5 writes, plus iss and aud.
	c, terr := s.parse(access, typeAccess)
	if terr != nil {
		t.Fatal(terr)
	}
	if c.UserID != "7" || len(c.ID) != 32 || c.Issuer != "healthcare" || c.ExpiresAt == nil || c.IssuedAt == nil {
		t.Fatalf("claims %+v", c)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[1])
	if !strings.Contains(string(payload), `"user_id":"7"`) || !strings.Contains(string(payload), `"token_type":"access"`) {
		t.Fatalf("payload %s", payload)
	}

	other := testConfig(t)
	other.Auth.JWTSecret = "another-secret-0123456789abcdef0123456789ab"
	otherIss := testConfig(t)
	otherIss.Auth.Issuer = "someone-else"
	otherAud := testConfig(t)
	otherAud.Auth.Audience = "other-api"
	expired := newTestService(t, cfg)
	expired.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expiredTok, _ := expired.sign(7, typeAccess, "", time.Minute)
	future := newTestService(t, cfg)
	future.now = func() time.Time { return time.Now().Add(time.Hour) }
	futureTok, _ := future.sign(7, typeAccess, "", 2*time.Hour)
	skewed := newTestService(t, cfg)
	skewed.now = func() time.Time { return time.Now().Add(2 * time.Second) }
	skewedTok, _ := skewed.sign(7, typeAccess, "", time.Minute)
	foreign, _ := newTestService(t, other).sign(7, typeAccess, "", time.Minute)
	wrongIss, _ := newTestService(t, otherIss).sign(7, typeAccess, "", time.Minute)
	wrongAud, _ := newTestService(t, otherAud).sign(7, typeAccess, "", time.Minute)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, claims{TokenType: typeAccess, UserID: "7",
		RegisteredClaims: jwt.RegisteredClaims{ID: "x", Issuer: "healthcare", Audience: jwt.ClaimStrings{"healthcare-api"},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(time.Now())}}).SignedString(s.secret)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{TokenType: typeAccess, UserID: "7",
		RegisteredClaims: jwt.RegisteredClaims{ID: "x", Issuer: "healthcare", Audience: jwt.ClaimStrings{"healthcare-api"},
			IssuedAt: jwt.NewNumericDate(time.Now())}}).SignedString(s.secret)
	noType, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{UserID: "7",
		RegisteredClaims: jwt.RegisteredClaims{ID: "x", Issuer: "healthcare", Audience: jwt.ClaimStrings{"healthcare-api"},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(time.Now())}}).SignedString(s.secret)
	noJTI, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{TokenType: typeAccess, UserID: "7",
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "healthcare", Audience: jwt.ClaimStrings{"healthcare-api"},
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(time.Now())}}).SignedString(s.secret)

	// Issue 16, item 5: what the checks were looser about than the code said.
	custom := func(edit func(*jwt.Token, *claims)) string {
		now := time.Now()
		c := claims{TokenType: typeAccess, UserID: "7", RegisteredClaims: jwt.RegisteredClaims{ID: "x", Issuer: "healthcare",
			Audience: jwt.ClaimStrings{"healthcare-api"}, ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}}
		tok := jwt.New(jwt.SigningMethodHS256)
		edit(tok, &c)
		tok.Claims = c
		raw, err := tok.SignedString(s.secret)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	noIat := custom(func(_ *jwt.Token, c *claims) { c.IssuedAt = nil })
	crit := custom(func(tok *jwt.Token, _ *claims) { tok.Header["crit"] = []string{"exp"} })
	noTyp := custom(func(tok *jwt.Token, _ *claims) { delete(tok.Header, "typ") })
	otherTyp := custom(func(tok *jwt.Token, _ *claims) { tok.Header["typ"] = "at+jwt" })
	exactTTL := custom(func(_ *jwt.Token, c *claims) {
		c.ExpiresAt = jwt.NewNumericDate(c.IssuedAt.Add(cfg.Auth.AccessTokenTTL))
	})
	longAccess := custom(func(_ *jwt.Token, c *claims) {
		c.ExpiresAt = jwt.NewNumericDate(c.IssuedAt.Add(cfg.Auth.AccessTokenTTL + time.Second))
	})
	longRefresh := custom(func(_ *jwt.Token, c *claims) {
		c.TokenType = typeRefresh
		c.ExpiresAt = jwt.NewNumericDate(c.IssuedAt.Add(cfg.Auth.RefreshTokenTTL + time.Minute))
	})
	refreshTTLAccess, _ := s.sign(7, typeAccess, "", cfg.Auth.RefreshTokenTTL)

	cases := []struct{ name, token, want, msg string }{
		{"no iat", noIat, typeAccess, MsgTokenInvalid},
		{"crit header", crit, typeAccess, MsgTokenInvalid},
		{"no typ header", noTyp, typeAccess, MsgTokenInvalid},
		{"typ other than JWT", otherTyp, typeAccess, MsgTokenInvalid},
		{"lifetime equal to the TTL", exactTTL, typeAccess, ""},
		{"access lifetime over the TTL", longAccess, typeAccess, MsgTokenInvalid},
		{"refresh lifetime over the TTL", longRefresh, typeRefresh, MsgTokenInvalid},
		{"access token with the refresh lifetime", refreshTTLAccess, typeAccess, MsgTokenInvalid},
		{"non-canonical base64 payload", nonCanonical(t, s.secret), typeAccess, MsgTokenInvalid},
		{"padded base64 payload", padded(t, s.secret), typeAccess, MsgTokenInvalid},
		{"access as access", access, typeAccess, ""},
		{"refresh as refresh", refresh, typeRefresh, ""},
		{"refresh as access", refresh, typeAccess, MsgTokenWrongType},
		{"access as refresh", access, typeRefresh, MsgTokenWrongType},
		{"garbage", "garbage", typeAccess, MsgTokenInvalid},
		{"empty", "", typeAccess, MsgTokenInvalid},
		{"expired", expiredTok, typeAccess, MsgTokenExpired},
		{"issued in the future", futureTok, typeAccess, MsgTokenInvalid},
		{"issued by a replica 2 s ahead", skewedTok, typeAccess, ""},
		{"another key", foreign, typeAccess, MsgTokenInvalid},
		{"another issuer", wrongIss, typeAccess, MsgTokenInvalid},
		{"another audience", wrongAud, typeAccess, MsgTokenInvalid},
		{"HS512 with the right key", hs512, typeAccess, MsgTokenInvalid},
		{"no exp", noExp, typeAccess, MsgTokenInvalid},
		{"no type", noType, typeAccess, MsgTokenNoType},
		{"no jti", noJTI, typeAccess, MsgTokenNoID},
		{"alg none", unsigned(`{"alg":"none","typ":"JWT"}`, payload), typeAccess, MsgTokenInvalid},
		{"truncated signature", access[:len(access)-3], typeAccess, MsgTokenInvalid},
	}
	for _, c := range cases {
		_, terr := s.parse(c.token, c.want)
		got := ""
		if terr != nil {
			got = terr.Message
		}
		if got != c.msg {
			t.Errorf("%s: got %q, want %q", c.name, got, c.msg)
		}
	}
}

// nonCanonical signs, with the right key, a token whose payload's base64url has non-zero unused
// bits in its last character: it decodes to the same bytes as the canonical spelling.
func nonCanonical(t *testing.T, secret []byte) string {
	t.Helper()
	now := time.Now().Unix()
	for pad := 0; pad < 4; pad++ {
		payload := fmt.Sprintf(`{"token_type":"access","user_id":"7","jti":"x","iss":"healthcare","aud":["healthcare-api"],"exp":%d,"iat":%d%s}`,
			now+60, now, strings.Repeat(" ", pad))
		seg := base64.RawURLEncoding.EncodeToString([]byte(payload))
		if len(seg)%4 == 0 {
			continue // no unused bits
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, seg[len(seg)-1])
		seg = seg[:len(seg)-1] + string(alphabet[last^1])
		if b, err := base64.RawURLEncoding.DecodeString(seg); err != nil || string(b) != payload {
			t.Fatalf("the lenient decoding does not give the payload back: %q %v", b, err)
		}
		return signSegments(t, secret, `{"alg":"HS256","typ":"JWT"}`, seg)
	}
	t.Fatal("no payload length with unused bits")
	return ""
}

// padded signs a token whose payload segment carries base64 "=" padding.
func padded(t *testing.T, secret []byte) string {
	t.Helper()
	now := time.Now().Unix()
	for pad := 0; pad < 4; pad++ {
		payload := fmt.Sprintf(`{"token_type":"access","user_id":"7","jti":"x","iss":"healthcare","aud":["healthcare-api"],"exp":%d,"iat":%d%s}`,
			now+60, now, strings.Repeat(" ", pad))
		if seg := base64.URLEncoding.EncodeToString([]byte(payload)); strings.HasSuffix(seg, "=") {
			return signSegments(t, secret, `{"alg":"HS256","typ":"JWT"}`, seg)
		}
	}
	t.Fatal("no payload length that needs padding")
	return ""
}

func signSegments(t *testing.T, secret []byte, header, payloadSeg string) string {
	t.Helper()
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + payloadSeg
	sig, err := jwt.SigningMethodHS256.Sign(signing, secret)
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// unsigned builds an "alg: none" token from a header and a payload.
func unsigned(header string, payload []byte) string {
	return base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// BenchmarkVerifyAccessToken is the CPU cost of checking one access token (signature and claims),
// with the cost of one HMAC-SHA256 over the same bytes as the baseline, reported as a ratio.
func BenchmarkVerifyAccessToken(b *testing.B) {
	s := newTestService(b, testConfig(b))
	tok, _ := s.sign(42, typeAccess, "0b6a3c2e-8f47-4d2a-9d8e-3d1f6a2b4c5d", time.Minute)
	signed := tok[:strings.LastIndexByte(tok, '.')]
	baseline := nsPerOp(10000, func() { _, _ = jwt.SigningMethodHS256.Sign(signed, s.secret) })
	for b.Loop() {
		if _, terr := s.parse(tok, typeAccess); terr != nil {
			b.Fatal(terr)
		}
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/1000, "µs/verify")
	b.ReportMetric(per/baseline, "x_hmac")
}

// BenchmarkLoginHash is the login's hash cost with the shipped config.yaml parameters, reported
// against the cheapest parameters the config accepts (the tests' setting).
func BenchmarkLoginHash(b *testing.B) {
	defaults := testConfig(b)
	defaults.Auth.Argon2MemoryKiB, defaults.Auth.Argon2Iterations, defaults.Auth.Argon2Parallelism = shippedArgon2(b)
	s := newTestService(b, defaults)
	cheap := newTestService(b, testConfig(b))
	hash, _ := s.HashPassword("Str0ng!Passw0rd")
	cheapHash, _ := cheap.HashPassword("Str0ng!Passw0rd")
	baseline := nsPerOp(20, func() { _, _ = cheap.VerifyPassword(cheapHash, "Str0ng!Passw0rd") })
	cpu0 := cpuTime()
	for b.Loop() {
		_, _ = s.VerifyPassword(hash, "Str0ng!Passw0rd")
	}
	per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(per/1e6, "ms/login-hash")
	// CPU time does not grow when other processes compete for the cores, wall time does.
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N)/1e6, "cpu-ms/login-hash")
	b.ReportMetric(per/baseline, "x_min_cost")
	b.Logf("argon2id m=%d KiB t=%d p=%d: %.1f ms per hash (minimum cost: %.1f ms)",
		defaults.Auth.Argon2MemoryKiB, defaults.Auth.Argon2Iterations, defaults.Auth.Argon2Parallelism, per/1e6, baseline/1e6)
}

// nsPerOp times n runs of f: the in-process baseline of a benchmark (testing.Benchmark cannot run
// inside a running benchmark).
func nsPerOp(n int, f func()) float64 {
	start := time.Now()
	for range n {
		f()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestGeneratedSecretWarnsReplicas: with an external database and no configured secret, start-up
// warns that replicas need a shared auth.jwt_secret; the embedded appliance (one copy) does not.
func TestGeneratedSecretWarnsReplicas(t *testing.T) {
	t.Parallel()
	for _, external := range []bool{false, true} {
		cfg := testConfig(t)
		cfg.Auth.JWTSecret = ""
		if external {
			cfg.Database.URL = "postgres://app@db.example/healthcare"
		}
		var logged strings.Builder
		if _, err := New(cfg, nil, slog.New(slog.NewTextHandler(&logged, nil))); err != nil {
			t.Fatal(err)
		}
		if warned := strings.Contains(logged.String(), "auth.jwt_secret"); warned != external {
			t.Errorf("external=%v: warned=%v:\n%s", external, warned, logged.String())
		}
	}
}

// TestAddressGroup: per-address limits count an IPv4 address alone and an IPv6 address by its /64.
func TestAddressGroup(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                   "203.0.113.7",
		"::ffff:203.0.113.7":            "203.0.113.7",
		"2001:db8:1:2::1":               "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ffff:1": "2001:db8:1:2::/64",
		"fe80::1%eth0":                  "fe80::/64",
		"::1":                           "::/64",
		"not an address":                "not an address",
		"":                              "",
	} {
		if got := AddressGroup(in); got != want {
			t.Errorf("AddressGroup(%q) = %q, want %q", in, got, want)
		}
	}
}
