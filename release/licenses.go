package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// licenseFile matches the names modules and vendored files keep their license texts under.
var licenseFile = regexp.MustCompile(`(?i)(^(licen[cs]e|copying|notice|unlicense)([-._].*)?$|\.licen[cs]e(\.txt)?$)`)

// thirdPartyNotices is THIRD_PARTY_LICENSES.txt for one platform: the license texts of every Go
// module linked into that platform's binary (from go list -deps, so only what is compiled in),
// the Go toolchain's (its runtime and standard library are linked in too), the vendored UI files',
// and, with PostgreSQL inside, PostgreSQL's, the npm package's and its libraries'. A module
// without a license file stops the release: it must be looked at by a person.
func thirdPartyNotices(repo, goos, goarch string, tags []string, meta bundleMeta, pgLicense []byte) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("Third-party software in healthcare\n==================================\n\n" +
		"This program includes the software below, under the licenses that follow.\n\n")
	section := func(title string, texts ...[]byte) {
		fmt.Fprintf(&b, "\n%s\n%s\n\n", title, strings.Repeat("-", len(title)))
		for _, t := range texts {
			b.Write(bytes.TrimSpace(t))
			b.WriteString("\n\n")
		}
	}

	goroot, err := output(repo, nil, "go", "env", "GOROOT")
	if err != nil {
		return nil, err
	}
	goLicense, err := os.ReadFile(filepath.Join(goroot, "LICENSE"))
	if err != nil {
		return nil, fmt.Errorf("the Go toolchain's LICENSE: %v", err)
	}
	section("The Go programming language (runtime and standard library)", goLicense)

	args := []string{"list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}{{end}}"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, ".")
	list, err := output(repo, []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0"}, "go", args...)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var mods []string
	for _, l := range strings.Split(list, "\n") {
		if l != "" && !seen[l] {
			seen[l] = true
			mods = append(mods, l)
		}
	}
	sort.Strings(mods)
	for _, m := range mods {
		parts := strings.Split(m, "\t")
		if len(parts) != 3 {
			continue
		}
		texts, err := licenseTexts(parts[2], false)
		if err != nil || len(texts) == 0 {
			return nil, fmt.Errorf("Go module %s %s has no license file in %s: check its license before releasing", parts[0], parts[1], parts[2])
		}
		section("Go module "+parts[0]+" "+parts[1], texts...)
	}

	for _, dir := range []string{"web/vendor", "app/api/docsui"} {
		var dirs []string
		filepath.WalkDir(filepath.Join(repo, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range dirs {
			texts, _ := licenseTexts(d, true)
			if len(texts) == 0 {
				continue
			}
			rel, _ := filepath.Rel(repo, d)
			title := "Vendored files in " + filepath.ToSlash(rel)
			if v, err := os.ReadFile(filepath.Join(d, "VERSION")); err == nil {
				title += " (" + strings.TrimSpace(strings.SplitN(string(v), "\n", 2)[0]) + ")"
			}
			section(title, texts...)
		}
	}

	if meta.Version != "" {
		pg, err := os.ReadFile(filepath.Join(repo, "packaging", "licenses", "PostgreSQL.txt"))
		if err != nil {
			return nil, err
		}
		libs, err := os.ReadFile(filepath.Join(repo, "packaging", "licenses", "postgresql-libraries.txt"))
		if err != nil {
			return nil, err
		}
		section("PostgreSQL "+meta.Version+" (from the npm package "+meta.Package+")", pg)
		if len(pgLicense) > 0 {
			section("The npm package "+meta.Package+" (packaging)", pgLicense)
		}
		section("Libraries shipped with PostgreSQL", libs)
	}
	return b.Bytes(), nil
}

// licenseTexts reads the license files directly in dir, each with its name as a heading when
// named is set.
func licenseTexts(dir string, named bool) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range entries {
		if e.IsDir() || !licenseFile.MatchString(e.Name()) {
			continue
		}
		t, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if named {
			t = append([]byte("["+e.Name()+"]\n"), t...)
		}
		out = append(out, t)
	}
	return out, nil
}

func output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(b)), nil
}
