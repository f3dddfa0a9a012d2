// Package packaging holds what ships the program beyond its binary (the systemd unit, the PostgreSQL
// pin, license texts) and the test that builds the Docker image and runs it the README's way.
package packaging

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxImageBytes is the size the image must stay under.
const maxImageBytes = 150 << 20

// podman runs podman (with the runc runtime: crun fails on this kernel's hybrid cgroups) and
// returns its standard output; stderr goes into the error.
func podman(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("podman", append([]string{"--runtime", "runc"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var lines []string
		for _, l := range strings.Split(stderr.String(), "\n") {
			if !strings.Contains(l, "systemd") { // podman's healthcheck timers want systemd; irrelevant here
				lines = append(lines, l)
			}
		}
		err = fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(strings.Join(lines, "\n")))
	}
	return strings.TrimSpace(stdout.String()), err
}

func mustPodman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := podman(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// needPodman skips (fails under CI) with what to run when podman or the base images are missing.
func needPodman(t *testing.T) {
	t.Helper()
	reason := ""
	if _, err := exec.LookPath("podman"); err != nil {
		reason = "podman is not installed"
	} else if _, err := podman(t, "image", "exists", "docker.io/library/golang:1.26-bookworm"); err != nil {
		reason = "the base image golang:1.26-bookworm is not built"
	} else if _, err := podman(t, "image", "exists", "docker.io/library/debian:bookworm-slim"); err != nil {
		reason = "the base image debian:bookworm-slim is not built"
	}
	if reason == "" {
		return
	}
	reason += ": run ../shared/tools/container-base-images.sh as root (installs podman and builds the base images; .ci/run does)"
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestImage builds the image as the README says and runs it that way: it answers /readyz, runs
// nothing as root, passes its HEALTHCHECK, stops within Docker's 10 s grace with exit code 0, and a
// patient written survives stop, rm and a new run on the same volume; a bind-mounted directory
// owned by uid 10001 works too. The image stays under 150 MB.
func TestImage(t *testing.T) {
	needPodman(t)
	root := repoRoot(t)
	id := make([]byte, 4)
	rand.Read(id)
	tag := "localhost/healthcare-test:" + hex.EncodeToString(id)

	// The PostgreSQL payload the Dockerfile needs (npm registry, pinned and checked).
	prep := exec.Command("go", "run", "./release", "-pg-only", "-platforms", "linux/"+runtime.GOARCH)
	prep.Dir = root
	if out, err := prep.CombinedOutput(); err != nil {
		t.Fatalf("go run ./release -pg-only: %v\n%s", err, out)
	}

	commit := git(t, root, "rev-parse", "HEAD")
	date := git(t, root, "log", "-1", "--format=%cI")
	begin := time.Now()
	mustPodman(t, "build", "--format", "docker", "-q", "-t", tag,
		"--build-arg", "VERSION=image-test", "--build-arg", "COMMIT="+commit, "--build-arg", "BUILD_DATE="+date, root)
	t.Logf("image built in %s", time.Since(begin).Round(time.Second))
	t.Cleanup(func() { podman(t, "rmi", "-f", tag) })

	size, _ := strconv.ParseInt(mustPodman(t, "image", "inspect", tag, "--format", "{{.Size}}"), 10, 64)
	t.Logf("image size %.1f MB", float64(size)/1e6)
	if size <= 0 || size >= maxImageBytes {
		t.Errorf("image is %d bytes, want under %d", size, maxImageBytes)
	}
	if hc := mustPodman(t, "image", "inspect", tag, "--format", "{{json .Config.Healthcheck}}"); !strings.Contains(hc, "healthcheck") {
		t.Errorf("no HEALTHCHECK in the image (built without --format docker?): %s", hc)
	}
	version := mustPodman(t, "run", "--rm", tag, "version")
	for _, want := range []string{"healthcare image-test", "commit " + commit, "built " + date, "postgresql 17."} {
		if !strings.Contains(version, want) {
			t.Errorf("healthcare version in the image lacks %q:\n%s", want, version)
		}
	}

	volume := "healthcare-test-" + hex.EncodeToString(id)
	mustPodman(t, "volume", "create", volume)
	t.Cleanup(func() { podman(t, "volume", "rm", "-f", volume) })

	c := &container{t: t, image: tag, name: "healthcare-test-" + hex.EncodeToString(id)}
	c.run("-v", volume+":/data")
	c.waitReady()

	// Nothing runs as root: tini, healthcare and every PostgreSQL process are user healthcare.
	top := mustPodman(t, "top", c.name, "user", "comm")
	lines := strings.Split(top, "\n")[1:]
	if len(lines) < 3 {
		t.Fatalf("podman top: %s", top)
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) < 2 || f[0] != "healthcare" {
			t.Errorf("process not run by healthcare: %q", l)
		}
	}
	if !strings.Contains(top, "postgres") {
		t.Errorf("no PostgreSQL process: %s", top)
	}

	if out, err := podman(t, "healthcheck", "run", c.name); err != nil {
		t.Errorf("HEALTHCHECK failed: %v %s", err, out)
	}

	token := c.signUp("nurse")
	if st, body := c.request("POST", "/api/patients/", token, map[string]any{"name": "Grace Hopper", "age": 85, "gender": "F", "address": "1 Navy Yard", "phone_number": "+15550199"}); st != 201 {
		t.Fatalf("create patient: %d %s", st, body)
	}

	c.stopWithin(10 * time.Second)
	mustPodman(t, "rm", c.name)
	c.run("-v", volume+":/data")
	c.waitReady()
	if strings.Contains(c.logs(), "extracting") {
		t.Error("PostgreSQL was extracted again on the same volume")
	}
	st, body := c.request("GET", "/api/patients/", c.login("nurse"), nil)
	if st != 200 || !strings.Contains(body, "Grace Hopper") {
		t.Fatalf("the patient did not survive stop/rm/run: %d %s", st, body)
	}
	c.stopWithin(10 * time.Second)
	mustPodman(t, "rm", c.name)

	// A bind mount: a host directory owned by uid 10001, as the README says.
	dir := t.TempDir()
	bind := filepath.Join(dir, "data")
	os.Mkdir(bind, 0o700)
	if os.Geteuid() == 0 {
		os.Chmod(dir, 0o755)
		if err := os.Chown(bind, 10001, 10001); err != nil {
			t.Fatal(err)
		}
		c.run("-v", bind+":/data")
		c.waitReady()
		c.stopWithin(10 * time.Second)
		mustPodman(t, "rm", c.name)
		if _, err := os.Stat(filepath.Join(bind, "postgres", "PG_VERSION")); err != nil {
			t.Errorf("no cluster in the bind-mounted directory: %v", err)
		}
	}
}

// container is one run of the image.
type container struct {
	t     *testing.T
	image string
	name  string
	url   string
}

// run starts the container detached, publishing 8080 on a free port of 127.0.0.1.
func (c *container) run(args ...string) {
	c.t.Helper()
	port := freePort(c.t)
	c.url = "http://127.0.0.1:" + strconv.Itoa(port)
	all := append([]string{"run", "-d", "--name", c.name, "-p", "127.0.0.1:" + strconv.Itoa(port) + ":8080"}, args...)
	mustPodman(c.t, append(all, c.image)...)
	c.t.Cleanup(func() {
		if c.t.Failed() {
			c.t.Logf("logs of %s:\n%s", c.name, c.logs())
		}
		podman(c.t, "rm", "-f", "-t", "0", c.name)
	})
}

func (c *container) logs() string {
	out, _ := podman(c.t, "logs", c.name)
	return out
}

func (c *container) waitReady() {
	c.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp, err := client.Get(c.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if state, _ := podman(c.t, "inspect", c.name, "--format", "{{.State.Status}}"); state == "exited" {
			c.t.Fatalf("the container exited:\n%s", c.logs())
		}
	}
	c.t.Fatalf("/readyz did not answer 200 within 2 minutes:\n%s", c.logs())
}

// stopWithin stops the container as docker stop does (SIGTERM, SIGKILL after 10 s) and checks
// that it exited by itself, cleanly, within d.
func (c *container) stopWithin(d time.Duration) {
	c.t.Helper()
	begin := time.Now()
	mustPodman(c.t, "stop", c.name)
	took := time.Since(begin)
	code := mustPodman(c.t, "inspect", c.name, "--format", "{{.State.ExitCode}}")
	c.t.Logf("stop took %s, exit code %s", took.Round(time.Millisecond), code)
	if took >= d || code != "0" {
		c.t.Fatalf("stop took %s with exit code %s; want a clean exit within %s:\n%s", took, code, d, c.logs())
	}
}

func (c *container) request(method, path, token string, body any) (int, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, r)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const password = "Corr3ct-Horse-Battery"

func (c *container) signUp(user string) string {
	c.t.Helper()
	if st, body := c.request("POST", "/api/auth/register/", "", map[string]string{"username": user, "email": user + "@example.org", "password": password, "password2": password}); st != 201 {
		c.t.Fatalf("register: %d %s", st, body)
	}
	return c.login(user)
}

func (c *container) login(user string) string {
	c.t.Helper()
	st, body := c.request("POST", "/api/auth/login/", "", map[string]string{"username": user, "password": password})
	var tok struct{ Access string }
	if st != 200 || json.Unmarshal([]byte(body), &tok) != nil || tok.Access == "" {
		c.t.Fatalf("login: %d %s", st, body)
	}
	return tok.Access
}
