package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionText is the release, the Go toolchain and, when the build recorded it, the VCS revision.
func versionText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "healthcare %s\n", Version)
	fmt.Fprintf(&b, "go %s %s/%s\n", strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, when, dirty string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = " (modified)"
				}
			}
		}
		if rev != "" {
			fmt.Fprintf(&b, "revision %s%s %s\n", rev, dirty, when)
		}
	}
	return b.String()
}
