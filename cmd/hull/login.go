package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/registry"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// dockerHubServer is how docker names Docker Hub's credentials.
const dockerHubServer = "https://index.docker.io/v1/"

type loginOptions struct {
	server        string
	user          string
	password      string
	passwordStdin bool
}

func newLoginCommand(c *cli) *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use:                   "login [OPTIONS] [SERVER]",
		Short:                 "Authenticate to a registry",
		Long:                  "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
		Args:                  requiresMaxArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.server = args[0]
			}
			if err := verifyLoginFlags(cmd.Flags(), opts); err != nil {
				return err
			}
			return runLogin(c, cmd, opts)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&opts.user, "username", "u", "", "Username")
	flags.StringVarP(&opts.password, "password", "p", "", `Password or Personal Access Token (PAT), or "-" to read from stdin`)
	flags.BoolVar(&opts.passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

func verifyLoginFlags(flags *pflag.FlagSet, opts loginOptions) error {
	if flags.Changed("password-stdin") || opts.password == "-" {
		if flags.Changed("password") && opts.password != "-" {
			return errors.New("conflicting options: cannot specify both --password and --password-stdin")
		}
		if !flags.Changed("username") {
			return errors.New("the --password-stdin option requires --username to be set")
		}
	}
	if flags.Changed("username") && opts.user == "" {
		return errors.New("username is empty")
	}
	if flags.Changed("password") && opts.password == "" {
		return errors.New("password is empty")
	}
	return nil
}

// readSecret reads all of r and drops one trailing line ending.
func readSecret(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	for _, eol := range [][]byte{[]byte("\r\n"), []byte("\n"), []byte("\r")} {
		var ok bool
		if b, ok = bytes.CutSuffix(b, eol); ok {
			break
		}
	}
	return string(b), nil
}

func runLogin(c *cli, cmd *cobra.Command, opts loginOptions) error {
	if opts.password == "-" {
		opts.password = ""
		opts.passwordStdin = true
	}
	if opts.password != "" {
		fmt.Fprintln(c.err, "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
	}
	if opts.passwordStdin {
		if opts.user == "" {
			return errors.New("username is empty")
		}
		p, err := readSecret(c.in)
		if err != nil {
			return err
		}
		if strings.TrimSpace(p) == "" {
			return errors.New("password is empty")
		}
		opts.password = p
	}
	if opts.user == "" || opts.password == "" {
		if err := promptCredentials(c, &opts); err != nil {
			return err
		}
	}
	server := opts.server
	if server == "docker.io" {
		server = ""
	}
	err := registry.Login(cmd.Context(), server, opts.user, opts.password, registryOptions(progress.Discard, v1.Platform{}))
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, "Login Succeeded")
	return nil
}

// promptCredentials asks for the missing username and password on the
// terminal, the password without echo.
func promptCredentials(c *cli, opts *loginOptions) error {
	if !isTerminal(c.in) {
		//lint:ignore ST1005 docker's message
		return errors.New("Cannot perform an interactive login from a non TTY device")
	}
	in := bufio.NewReader(c.in)
	if strings.TrimSpace(opts.user) == "" {
		fmt.Fprint(c.out, "Username: ")
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return err
		}
		opts.user = strings.TrimSpace(line)
		if opts.user == "" {
			return errors.New("username is required")
		}
	}
	if strings.TrimSpace(opts.password) == "" {
		fmt.Fprint(c.out, "Password: ")
		f := c.in.(*os.File)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.out)
		if err != nil {
			return err
		}
		opts.password = string(b)
		if opts.password == "" {
			return errors.New("password is required")
		}
	}
	return nil
}

func newLogoutCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:                   "logout [SERVER]",
		Short:                 "Log out from a registry",
		Long:                  "Log out from a registry.\nIf no server is specified, the default is Docker Hub.",
		Args:                  requiresMaxArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			var server string
			if len(args) > 0 {
				server = args[0]
			}
			shown := dockerHubServer
			if server != "" {
				shown = registry.ServerKey(server)
				if shown == "docker.io" {
					shown = dockerHubServer
				}
			}
			fmt.Fprintln(c.out, "Removing login credentials for", shown)
			if _, err := registry.Logout(server, registryOptions(progress.Discard, v1.Platform{})); err != nil {
				fmt.Fprintln(c.err, "WARNING: could not erase credentials:")
				fmt.Fprintf(c.err, "%s: %s\n", shown, err)
			}
			return nil
		},
	}
}
