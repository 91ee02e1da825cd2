package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/flowbot/flowbot/flows"
	"github.com/flowbot/flowbot/runtime/compile"
)

func newValidateCmd(stdout io.Writer) *cobra.Command {
	var previous string
	cmd := &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check flow files and report every problem as file:line:col",
		Long: `Validate compiles flow files without running them and prints every problem
found, one per line, as file:line:col: message (warnings are marked
"warning:"), then a summary line.

A PATH is a flow file or a folder; a folder is checked as serve would load
it: its *.yaml and *.yml files (not subfolders, not *_test.yaml), and no two
flows with the same name. ${env.NAME} references are checked against the
current environment: an unset variable without a default is a warning.

With --previous OLD.yaml and one NEW.yaml, it also lists the states of the
deployed version that the new one neither has nor migrates (with a
"migrate:" entry): conversations waiting in them would restart.

Exit code 0 when there is no error (warnings are allowed), 1 when any flow
has an error.`,
		Example: `  # Check every flow of a folder
  flowbot validate examples/

  # Check two files
  flowbot validate examples/campaign-signup.yaml my-flow.yaml

  # Before a redeploy: which live states would vanish?
  flowbot validate --previous deployed/webshop.yaml examples/webshop.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("validate needs at least one flow file or folder")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if previous != "" {
				return validatePrevious(previous, args, stdout)
			}
			return validate(args, stdout)
		},
	}
	cmd.Flags().StringVar(&previous, "previous", "", "the deployed version of the flow, to list states that disappear without a migration")
	return cmd
}

func validatePrevious(oldPath string, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("--previous compares one flow file: flowbot validate --previous OLD.yaml NEW.yaml")
	}
	if err := validate(args, stdout); err != nil {
		return err
	}
	opts := flows.Options{Env: os.LookupEnv}
	old, err := flows.Load(oldPath, opts)
	if err != nil {
		fmt.Fprintf(stdout, "%s: the previous version does not load: %v\n", oldPath, err)
		return errFailed
	}
	cur, err := flows.Load(args[0], opts)
	if err != nil {
		return errFailed
	}
	gone := flows.Disappeared(old, cur)
	fmt.Fprint(stdout, gone.String())
	if len(gone) > 0 {
		fmt.Fprintf(stdout, "%s of %s disappear without a migration\n", plural(len(gone), "state"), oldPath)
		return errFailed
	}
	fmt.Fprintf(stdout, "every state of %s exists in %s or is migrated\n", oldPath, args[0])
	return nil
}

func validate(paths []string, stdout io.Writer) error {
	opts := compile.Options{Flows: flows.Options{Env: os.LookupEnv}}
	var all flows.Lints
	nflows, unreadable := 0, 0
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(stdout, "%s: cannot read: %v\n", path, err)
			unreadable++
			continue
		}
		if info.IsDir() {
			_, lints, err := compile.Dir(path, opts)
			if err != nil {
				fmt.Fprintf(stdout, "%s: %v\n", path, err)
				unreadable++
				continue
			}
			nflows += countFlowFiles(path)
			all = append(all, lints...)
			continue
		}
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stdout, "%s: cannot read: %v\n", path, err)
			unreadable++
			continue
		}
		nflows++
		_, lints := compile.Source(path, src, opts)
		all = append(all, lints...)
	}
	all.Sort()
	fmt.Fprint(stdout, all.String())
	errs := len(all.Errors())
	warns := len(all) - errs
	fmt.Fprintf(stdout, "%s checked: %s, %s", plural(nflows, "flow"), plural(errs, "error"), plural(warns, "warning"))
	if unreadable > 0 {
		fmt.Fprintf(stdout, ", %s not readable", plural(unreadable, "path"))
	}
	fmt.Fprintln(stdout)
	if errs > 0 || unreadable > 0 || nflows == 0 {
		if nflows == 0 && unreadable == 0 {
			fmt.Fprintln(stdout, "no flow files (*.yaml, *.yml) found")
		}
		return errFailed
	}
	return nil
}

// countFlowFiles counts the flow files LoadDir reads in dir.
func countFlowFiles(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() && flows.IsFlowFile(e.Name()) {
			n++
		}
	}
	return n
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
