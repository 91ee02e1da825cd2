package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print flowbot's version, Go version and source revision",
		Long: `Version prints flowbot's version (set at build time with
-ldflags "-X main.version=v1.2.3", or the module version when installed with
go install), the Go version it was built with, and the VCS revision of the
source when the build recorded it.`,
		Example: `  flowbot version`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("version takes no arguments")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(stdout, versionText())
			return nil
		},
	}
}

// versionText describes the build.
func versionText() string {
	v, rev, modified, when := version, "unknown", false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "vcs.time":
				when = s.Value
			}
		}
	}
	if modified {
		rev += " (modified)"
	}
	if when != "" {
		rev += ", " + when
	}
	return fmt.Sprintf("flowbot %s\ngo: %s %s/%s\nrevision: %s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, rev)
}
