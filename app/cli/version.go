package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"healthcare/app/database"
)

// versionText is the release, its commit and build date, the Go toolchain and platform, and the
// PostgreSQL carried inside. Commit and date come from the release build's -ldflags, else from
// what the Go toolchain recorded of the source checkout.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "healthcare %s\n", Version)
	commit, date, dirty := Commit, BuildDate, ""
	if info, ok := debug.ReadBuildInfo(); ok && commit == "" {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.time":
				if date == "" {
					date = s.Value
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
	}
	if commit != "" {
		fmt.Fprintf(&b, "commit %s%s\n", commit, dirty)
	}
	if date != "" {
		fmt.Fprintf(&b, "built %s\n", date)
	}
	fmt.Fprintf(&b, "go %s %s/%s\n", strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
	if v := database.BundledVersion(); v != "" {
		fmt.Fprintf(&b, "postgresql %s (inside)\n", v)
	}
	return b.String()
}
