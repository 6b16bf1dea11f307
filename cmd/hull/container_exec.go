package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/runtime"
	"github.com/hull-project/hull/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

type dockerExecFlags struct {
	detach, interactive, tty, privileged bool
	env, envFile                         []string
	workdir, user, detachKeys            string
}

func newDockerExecCommand(c *cli) *cobra.Command {
	var f dockerExecFlags
	cmd := &cobra.Command{
		Use:                   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short:                 "Execute a command in a running container",
		Args:                  requiresMinArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.execInContainer(args[0], args[1:], &f)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&f.detach, "detach", "d", false, "Detached mode: run command in the background")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&f.privileged, "privileged", false, "Give extended privileges to the command")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "Set environment variables")
	fs.StringArrayVar(&f.envFile, "env-file", nil, "Read in a file of environment variables")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")")
	fs.StringVar(&f.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// execInContainer is `exec`: a new process in a running container,
// started by hull's runtime as a child of this process, with this
// process's stdio (or a relayed terminal).
func (c *cli) execInContainer(ref string, args []string, f *dockerExecFlags) error {
	if f.tty && f.interactive && !f.detach && !isTerminal(c.in) {
		return errors.New("the input device is not a TTY")
	}
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	rec, err := cs.Get(ref)
	if err != nil {
		return err
	}
	switch rec.State.Status {
	case container.Running:
	case container.Paused:
		return fmt.Errorf("container %s is paused, unpause the container before exec", rec.ID)
	default:
		return fmt.Errorf("container %s is not running", rec.ID)
	}
	rc, err := cs.Runtime().Load(rec.ID)
	if err != nil {
		return fmt.Errorf("container %s is not running", rec.ID)
	}
	p, err := dockerExecProcess(rc.Config(), rec, args, f)
	if err != nil {
		return err
	}
	o := runtime.ExecOptions{}
	var closers []func()
	defer func() {
		for _, fn := range closers {
			fn()
		}
	}()
	rcli := &runtimeCLI{c: c}
	var relay *ttyRelay
	if p.Terminal && !f.detach {
		if relay, err = newTTYRelay(rcli); err != nil {
			return err
		}
		defer relay.close()
		o.Console = relay.remote
	} else if !f.detach {
		if f.interactive {
			in, done, err := asFile(c.in, false)
			if err != nil {
				return err
			}
			o.Stdin, closers = in, append(closers, done)
		}
		out, done, err := asFile(c.out, true)
		if err != nil {
			return err
		}
		o.Stdout, closers = out, append(closers, done)
		errf, done, err := asFile(c.err, true)
		if err != nil {
			return err
		}
		o.Stderr, closers = errf, append(closers, done)
	}
	sigs := make(chan os.Signal, 32)
	if !f.detach {
		signal.Notify(sigs)
		defer signal.Stop(sigs)
	}
	proc, err := rc.Exec(p, o)
	if err != nil {
		return withStatus(runtime.StartExitCode(err), fmt.Errorf("OCI runtime exec failed: %w", err))
	}
	if relay != nil {
		if err := relay.attach(); err != nil {
			return err
		}
	}
	if f.detach {
		return nil
	}
	done := forwardSignals(sigs, proc.Pid, relay)
	code, err := proc.Wait()
	close(done)
	if relay != nil {
		relay.drain()
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &statusError{code: code}
	}
	return nil
}

// dockerExecProcess is the container's process with exec's command,
// terminal, environment, directory and user.
func dockerExecProcess(s *specs.Spec, rec *container.Record, args []string, f *dockerExecFlags) (*specs.Process, error) {
	if s == nil || s.Process == nil {
		return nil, errors.New("the container has no process to start from")
	}
	p, err := cloneProcess(s.Process)
	if err != nil {
		return nil, err
	}
	p.Args = args
	p.Terminal = f.tty
	p.ConsoleSize = nil
	envFile, err := readKVFiles(f.envFile, true)
	if err != nil {
		return nil, err
	}
	for _, e := range append(envFile, expandEnv(f.env)...) {
		p.Env = spec.ReplaceOrAppendEnv(p.Env, []string{e})
	}
	if f.tty {
		p.Env = spec.ReplaceOrAppendEnv(p.Env, []string{"TERM=xterm"})
	}
	if f.workdir != "" {
		if !strings.HasPrefix(f.workdir, "/") {
			return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", f.workdir)
		}
		p.Cwd = f.workdir
	}
	if f.user != "" {
		u, home, err := spec.ResolveUser("/proc/"+strconv.Itoa(rec.State.Pid)+"/root", f.user)
		if err != nil {
			return nil, err
		}
		p.User = u
		p.Env = spec.ReplaceOrAppendEnv(p.Env, []string{"HOME=" + home})
	}
	if f.privileged && p.Capabilities != nil {
		all := spec.AllCapabilities()
		p.Capabilities.Bounding, p.Capabilities.Effective, p.Capabilities.Permitted = all, all, all
	}
	return p, nil
}

// asFile returns s as an *os.File for a child process: itself if it is
// one, else a pipe copied to or from s; the returned function closes the
// parent's end and waits for the copy.
func asFile(s any, output bool) (*os.File, func(), error) {
	if f, ok := s.(*os.File); ok {
		return f, func() {}, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	if output {
		go func() {
			defer wg.Done()
			_, _ = io.Copy(s.(io.Writer), r)
			r.Close()
		}()
		return w, func() { w.Close(); wg.Wait() }, nil
	}
	go func() {
		defer wg.Done()
		_, _ = io.Copy(w, s.(io.Reader))
		w.Close()
	}()
	return r, func() { r.Close() }, nil
}

func newAttachCommand(c *cli) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:                   "attach [OPTIONS] CONTAINER",
		Short:                 "Attach local standard input, output, and error streams to a running container",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			rec, err := cs.Get(args[0])
			if err != nil {
				return err
			}
			if rec.State.Status == container.Paused {
				//lint:ignore ST1005 Docker's message
				return errors.New("You cannot attach to a paused container, unpause it first")
			}
			if rec.State.Status != container.Running {
				//lint:ignore ST1005 Docker's message
				return errors.New("You cannot attach to a stopped container, start it first")
			}
			mc, err := c.monitorClient()
			if err != nil {
				return err
			}
			rec.Config.AttachStdin = rec.Config.OpenStdin && !noStdin
			rec.Config.AttachStdout, rec.Config.AttachStderr = true, true
			return c.attachAndStart(mc, rec, false, sigProxy && !rec.Config.Tty, detachKeys)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&noStdin, "no-stdin", false, "Do not attach STDIN")
	fs.BoolVar(&sigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	fs.StringVar(&detachKeys, "detach-keys", "ctrl-p,ctrl-q", "Override the key sequence for detaching a container")
	return cmd
}
