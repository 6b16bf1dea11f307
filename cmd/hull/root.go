package main

import (
	"fmt"
	"github.com/hull-project/hull/network"
	"io"
	"os"
	"strings"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/image"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Defaults of the global flags, overridden by HULL_ROOT and HULL_RUNROOT.
const (
	defaultRoot    = "/var/lib/hull"
	defaultRunRoot = "/run/hull"
)

// globalOptions are the root command's persistent flags.
type globalOptions struct {
	root     string
	runroot  string
	debug    bool
	logLevel string
}

// cli holds the streams and global options shared by every command, and
// the image store, opened on first use.
type cli struct {
	in   io.Reader
	out  io.Writer
	err  io.Writer
	opts globalOptions

	store      *image.Store
	containers *container.Store
	networks   *network.Store
}

func newCLI(in io.Reader, out, errw io.Writer) *cli {
	return &cli{in: in, out: out, err: errw}
}

// imageStore opens the image store under --root.
func (c *cli) imageStore() (*image.Store, error) {
	if c.store != nil {
		return c.store, nil
	}
	s, err := image.Open(c.opts.root)
	if err != nil {
		return nil, err
	}
	c.store = s
	return s, nil
}

// isTerminal reports whether s is a terminal.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth returns the width of the terminal s, or 200 if unknown
// (docker's default for progress bars).
func terminalWidth(s any) int {
	if f, ok := s.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 200
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newRootCommand builds the hull command tree.
func newRootCommand(c *cli) *cobra.Command {
	root := &cobra.Command{
		Use:                   "hull [OPTIONS] COMMAND",
		Short:                 "A daemonless, Docker-compatible container engine",
		SilenceUsage:          true,
		SilenceErrors:         true,
		DisableFlagsInUseLine: true,
		Version:               versionString(),
		Args:                  cobra.ArbitraryArgs,
		CompletionOptions:     cobra.CompletionOptions{HiddenDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return validateLogLevel(c.opts.logLevel)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				cmd.SetOut(c.err)
				return cmd.Help()
			}
			return &usageError{msg: fmt.Sprintf("%[1]s: unknown command: %[1]s %[2]s\n\nRun '%[1]s --help' for more information", cmd.Root().Name(), args[0])}
		},
	}
	root.SetIn(c.in)
	root.SetOut(c.out)
	root.SetErr(c.err)
	root.SetVersionTemplate("hull version {{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	root.SetHelpTemplate("{{if or .Runnable .HasSubCommands}}{{.UsageString}}{{end}}")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{msg: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information", err, cmd.UseLine(), cmd.CommandPath())}
	})

	pf := root.PersistentFlags()
	pf.BoolP("help", "h", false, "Print usage")
	_ = pf.MarkHidden("help")
	pf.StringVar(&c.opts.root, "root", envOr("HULL_ROOT", defaultRoot), "Root directory of hull's image store (env HULL_ROOT)")
	pf.StringVar(&c.opts.runroot, "runroot", envOr("HULL_RUNROOT", defaultRunRoot), "Directory for runtime state (env HULL_RUNROOT)")
	pf.BoolVarP(&c.opts.debug, "debug", "D", false, "Enable debug mode")
	pf.StringVarP(&c.opts.logLevel, "log-level", "l", "info", `Set the logging level ("debug"|"info"|"warn"|"error"|"fatal")`)
	root.Flags().BoolP("version", "v", false, "Print version information and quit")

	root.AddCommand(
		newImagesCommand(c),
		newPullCommand(c),
		newPushCommand(c),
		newTagCommand(c),
		newRemoveCommand(c),
		newHistoryCommand(c),
		newSaveCommand(c),
		newLoadCommand(c),
		newImportCommand(c),
		newInspectCommand(c),
		newLoginCommand(c),
		newLogoutCommand(c),
		newVersionCommand(c),
		newInfoCommand(c),
		newImageCommand(c),
		newBuildCommand(c),
		newBuilderCommand(c),
		newBuildxCommand(c),
		newSystemCommand(c),
		newRuntimeCommand(c),
		newMonitorCommand(c),
		newRunCommand(c),
		newCreateCommand(c),
		newStartCommand(c),
		newStopCommand(c),
		newKillCommand(c),
		newRestartCommand(c),
		newRmCommand(c),
		newPsCommand(c),
		newLogsCommand(c),
		newWaitCommand(c),
		newRenameCommand(c),
		newPauseCommand(c, true),
		newPauseCommand(c, false),
		newDockerExecCommand(c),
		newAttachCommand(c),
		newContainerCommand(c),
		newVolumeCommand(c),
		newNetworkCommand(c),
		newPortCommand(c),
		newTopCommand(c), newStatsCommand(c), newUpdateCommand(c),
		newDiffCommand(c), newExportCommand(c), newCommitCommand(c), newCpCommand(c),
	)
	return root
}

// usageTemplate lays out help like docker's: usage line, description,
// aliases, commands and options.
const usageTemplate = `Usage:  {{.UseLine}}

{{if ne .Long ""}}{{.Long | trim}}{{else}}{{.Short | trim}}{{end}}
{{- if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}
{{- end}}
{{- if .HasAvailableSubCommands}}

Commands:
{{- range .Commands}}{{if .IsAvailableCommand}}
  {{rpad .Name .NamePadding}} {{.Short}}
{{- end}}{{end}}
{{- end}}
{{- if .HasAvailableLocalFlags}}

Options:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}
{{- end}}
{{- if and .HasAvailableInheritedFlags (not .HasParent)}}

Global Options:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}
{{- end}}
{{- if .HasSubCommands}}

Run '{{.CommandPath}} COMMAND --help' for more information on a command.
{{- end}}
`

// newImageCommand is the `image` management command.
func newImageCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "image COMMAND",
		Short:                 "Manage images",
		Args:                  noArgs,
		RunE:                  showHelp(c),
		DisableFlagsInUseLine: true,
	}
	ls := newImagesCommand(c)
	ls.Use = "ls [OPTIONS] [REPOSITORY[:TAG]]"
	ls.Aliases = []string{"list"}
	rm := newRemoveCommand(c)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	rm.Aliases = []string{"rmi", "remove"}
	cmd.AddCommand(
		newBuildCommand(c),
		newHistoryCommand(c),
		newImportCommand(c),
		newLoadCommand(c),
		newPullCommand(c),
		newPushCommand(c),
		newSaveCommand(c),
		newTagCommand(c),
		ls,
		rm,
		newImageInspectCommand(c),
		newPruneCommand(c),
	)
	return cmd
}

// newSystemCommand is the `system` management command.
func newSystemCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "system COMMAND",
		Short:                 "Manage hull",
		Args:                  noArgs,
		RunE:                  showHelp(c),
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(newDiskUsageCommand(c), newInfoCommand(c))
	return cmd
}

// showHelp prints a management command's help to stderr, as docker does.
func showHelp(c *cli) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SetOut(c.err)
		return cmd.Help()
	}
}

func validateLogLevel(l string) error {
	switch strings.ToLower(l) {
	case "debug", "info", "warn", "warning", "error", "fatal", "panic", "trace":
		return nil
	}
	return &usageError{msg: fmt.Sprintf("Unable to parse logging level: %s", l)}
}

// Argument validators with docker's messages (but hull's usage status).

func pluralize(word string, n int) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// argsError formats an argument count error; verb is "See" or "Run" as in
// the corresponding docker message.
func argsError(cmd *cobra.Command, what, verb string) error {
	return &usageError{msg: fmt.Sprintf("%[1]s: '%[2]s' %[3]s\n\nUsage:  %[4]s\n\n%[5]s '%[2]s --help' for more information",
		cmd.Root().Name(), cmd.CommandPath(), what, cmd.UseLine(), verb)}
}

// noArgs rejects arguments; for management commands an argument is an
// unknown subcommand.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return &usageError{msg: fmt.Sprintf("%[1]s: unknown command: %[2]s %[3]s\n\nUsage:  %[4]s\n\nRun '%[2]s --help' for more information",
			cmd.Root().Name(), cmd.CommandPath(), args[0], cmd.UseLine())}
	}
	return &usageError{msg: fmt.Sprintf("%[1]s: '%[2]s' accepts no arguments\n\nUsage:  %[3]s\n\nRun '%[2]s --help' for more information",
		cmd.Root().Name(), cmd.CommandPath(), cmd.UseLine())}
}

func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", n, pluralize("argument", n)), "See")
	}
}

func requiresMaxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at most %d %s", n, pluralize("argument", n)), "Run")
	}
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires %d %s", n, pluralize("argument", n)), "Run")
	}
}
