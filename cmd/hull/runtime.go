package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hull-project/hull/runtime"
	"github.com/hull-project/hull/spec"
	"github.com/spf13/cobra"
)

// errConfigExists is runc's error for `spec` over an existing config.json.
var errConfigExists = errors.New("File config.json exists. Remove it first.") //lint:ignore ST1005 runc's message

// runtimeOptions are the global flags of `hull runtime`, runc's.
type runtimeOptions struct {
	root          string
	log           string
	logFormat     string
	systemdCgroup bool
	rootless      string
	criu          string
}

// runtimeCLI is the state shared by the `hull runtime` subcommands.
type runtimeCLI struct {
	c    *cli
	opts runtimeOptions
}

// newRuntimeCommand is `hull runtime`: hull's OCI runtime with runc's
// command line, so that it can stand in for runc (containerd's shim calls
// its runtime binary with runc's global flags: --root, --log,
// --log-format, --systemd-cgroup).
func newRuntimeCommand(c *cli) *cobra.Command {
	rc := &runtimeCLI{c: c}
	cmd := &cobra.Command{
		Use:   "runtime [OPTIONS] COMMAND",
		Short: "Run OCI bundles: a runc-compatible container runtime",
		Long: "Run OCI bundles: a runc-compatible container runtime.\n\n" +
			"It creates containers from a bundle directory (config.json and a root filesystem)\n" +
			"with runc's commands, flags, state output and exit codes.",
		Args:                  noArgs,
		RunE:                  showHelp(c),
		DisableFlagsInUseLine: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := validateLogLevel(c.opts.logLevel); err != nil {
				return err
			}
			if rc.opts.systemdCgroup {
				return rc.fail(errors.New("--systemd-cgroup: hull has no systemd cgroup driver; use a cgroupfs cgroupsPath"))
			}
			switch rc.opts.logFormat {
			case "text", "json":
			default:
				return rc.fail(fmt.Errorf("invalid log-format: %s", rc.opts.logFormat))
			}
			return nil
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&rc.opts.root, "root", runtime.DefaultRoot, "Root directory for storage of container state")
	pf.StringVar(&rc.opts.log, "log", "", "Also write errors to this file (runc's --log)")
	pf.StringVar(&rc.opts.logFormat, "log-format", "text", `Format of the --log file ("text"|"json")`)
	pf.BoolVar(&rc.opts.systemdCgroup, "systemd-cgroup", false, "Use the systemd cgroup driver (not supported)")
	pf.StringVar(&rc.opts.rootless, "rootless", "auto", "Accepted for runc compatibility")
	pf.StringVar(&rc.opts.criu, "criu", "", "Accepted for runc compatibility")
	_ = pf.MarkHidden("rootless")
	_ = pf.MarkHidden("criu")

	cmd.AddCommand(
		rc.newCreateCommand(),
		rc.newRunCommand(),
		rc.newExecCommand(),
		rc.newStartCommand(),
		rc.newStateCommand(),
		rc.newKillCommand(),
		rc.newDeleteCommand(),
		rc.newListCommand(),
		rc.newPsCommand(),
		rc.newPauseCommand(),
		rc.newUpdateCommand(),
		rc.newResumeCommand(),
		rc.newSpecCommand(),
		rc.newFeaturesCommand(),
		rc.newInitCommand(),
	)
	return cmd
}

// rt returns the runtime for --root.
func (rc *runtimeCLI) rt() *runtime.Runtime {
	root, err := filepath.Abs(rc.opts.root)
	if err != nil {
		root = rc.opts.root
	}
	return &runtime.Runtime{Root: root}
}

// fail reports err with runc's exit status 1, also to the --log file.
func (rc *runtimeCLI) fail(err error) error {
	if err == nil {
		return nil
	}
	rc.logLine("error", err.Error())
	return withStatus(1, err)
}

// warn prints a warning to stderr and the --log file.
func (rc *runtimeCLI) warn(msg string) {
	fmt.Fprintln(rc.c.err, "WARNING: "+msg)
	rc.logLine("warning", msg)
}

// logLine appends a line to the --log file in --log-format, as logrus
// writes runc's (containerd reads the last error from it).
func (rc *runtimeCLI) logLine(level, msg string) {
	if rc.opts.log == "" {
		return
	}
	f, err := os.OpenFile(rc.opts.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if rc.opts.logFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		fmt.Fprintf(f, "%s\n", b)
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

// load loads a container, with runc's error for a missing one.
func (rc *runtimeCLI) load(id string) (*runtime.Container, error) {
	return rc.rt().Load(id)
}

func (rc *runtimeCLI) newStartCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "start CONTAINER",
		Short: "Execute the user-defined process in a created container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(c.Start(rc.warn))
		},
	}
}

func (rc *runtimeCLI) newStateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "state CONTAINER",
		Short: "Output the state of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			st, err := c.State()
			if err != nil {
				return rc.fail(err)
			}
			b, err := json.MarshalIndent(st, "", "  ")
			if err != nil {
				return rc.fail(err)
			}
			// runc prints no trailing newline.
			_, err = rc.c.out.Write(b)
			return err
		},
	}
}

func (rc *runtimeCLI) newKillCommand() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [SIGNAL]",
		Short: "Send a signal (default SIGTERM) to a container's init process",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := requiresMinArgs(1)(cmd, args); err != nil {
				return err
			}
			return requiresMaxArgs(2)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := syscall.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = runtime.ParseSignal(args[1]); err != nil {
					return rc.fail(err)
				}
			}
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(c.Signal(sig, all))
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Send the signal to all processes in the container")
	return cmd
}

func (rc *runtimeCLI) newDeleteCommand() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "delete [OPTIONS] CONTAINER",
		Short: "Delete a container and everything it holds",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if errors.Is(err, runtime.ErrNotExist) && force {
				// runc removes a leftover state directory and succeeds.
				if runtime.ValidateID(args[0]) == nil {
					_ = os.RemoveAll(filepath.Join(rc.rt().Root, args[0]))
				}
				return nil
			}
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(c.Delete(force, rc.warn))
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Kill the container first if it is running or paused")
	return cmd
}

// listEntry is one container in `list --format json`.
type listEntry struct {
	runtime.State
}

func (rc *runtimeCLI) newListCommand() *cobra.Command {
	var format string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "list [OPTIONS]",
		Aliases: []string{"ls"},
		Short:   "List the containers under --root",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := rc.rt().List()
			if err != nil {
				return rc.fail(err)
			}
			var states []listEntry
			for _, c := range cs {
				st, err := c.State()
				if err != nil {
					continue
				}
				st.Owner = c.Owner()
				states = append(states, listEntry{*st})
			}
			out := rc.c.out
			if quiet {
				for _, s := range states {
					fmt.Fprintln(out, s.ID)
				}
				return nil
			}
			switch format {
			case "table":
				tw := tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)
				fmt.Fprint(tw, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
				for _, s := range states {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return tw.Flush()
			case "json":
				b, err := json.Marshal(states)
				if err != nil {
					return rc.fail(err)
				}
				_, err = fmt.Fprintf(out, "%s\n", b)
				return err
			}
			return rc.fail(fmt.Errorf("invalid format option %q", format))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", `Output format ("table"|"json")`)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Print only the container IDs")
	return cmd
}

func (rc *runtimeCLI) newPsCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] CONTAINER [PS OPTIONS]",
		Short: "List the processes running in a container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			pids, err := c.Processes()
			if err != nil {
				return rc.fail(err)
			}
			if format == "json" {
				if pids == nil {
					pids = []int{}
				}
				b, _ := json.Marshal(pids)
				_, err := fmt.Fprintf(rc.c.out, "%s\n", b)
				return err
			}
			if format != "table" {
				return rc.fail(fmt.Errorf("invalid format option %q", format))
			}
			psArgs := args[1:]
			if len(psArgs) == 0 {
				psArgs = []string{"-ef"}
			}
			out, err := exec.Command("ps", psArgs...).Output()
			if err != nil {
				return rc.fail(fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err))
			}
			return rc.fail(filterPs(rc.c.out, string(out), pids))
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "table", `Output format ("table"|"json")`)
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// filterPs prints the header of ps output and the lines of pids.
func filterPs(w interface{ Write([]byte) (int, error) }, out string, pids []int) error {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return errors.New("ps printed nothing")
	}
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return errors.New("couldn't find PID field in ps output")
	}
	want := map[string]bool{}
	for _, p := range pids {
		want[strconv.Itoa(p)] = true
	}
	fmt.Fprintln(w, lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) > col && want[f[col]] {
			fmt.Fprintln(w, l)
		}
	}
	return nil
}

func (rc *runtimeCLI) newPauseCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER",
		Short: "Suspend all processes of a container (cgroup freezer)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(c.Pause())
		},
	}
}

func (rc *runtimeCLI) newResumeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "resume CONTAINER",
		Short: "Resume all processes of a paused container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := rc.load(args[0])
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(c.Resume())
		},
	}
}

func (rc *runtimeCLI) newSpecCommand() *cobra.Command {
	var bundle string
	var rootless bool
	cmd := &cobra.Command{
		Use:   "spec [OPTIONS]",
		Short: "Write a new config.json template into the bundle directory",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootless {
				return rc.fail(errors.New("--rootless: rootless containers are not supported yet"))
			}
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				// runc's message, word for word.
				return rc.fail(errConfigExists)
			}
			b, err := json.MarshalIndent(spec.Default(), "", "\t")
			if err != nil {
				return rc.fail(err)
			}
			return rc.fail(os.WriteFile(path, append(b, '\n'), 0o666))
		},
	}
	cmd.Flags().StringVarP(&bundle, "bundle", "b", "", "Directory to write config.json into (default: the current directory)")
	cmd.Flags().BoolVar(&rootless, "rootless", false, "Generate a rootless configuration (not supported)")
	return cmd
}

func (rc *runtimeCLI) newFeaturesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Show the features this runtime supports",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := json.MarshalIndent(runtime.Features(), "", "    ")
			if err != nil {
				return rc.fail(err)
			}
			_, err = fmt.Fprintf(rc.c.out, "%s\n", b)
			return err
		},
	}
}

func (rc *runtimeCLI) newInitCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "init",
		Short:  "Container init (started by create; not for direct use)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// Returns only on failure.
			err := runtime.Init()
			var ie *runtime.InitError
			if errors.As(err, &ie) && ie.Reported {
				return &statusError{code: 1} // the parent prints it
			}
			return withStatus(1, err)
		},
	}
}
