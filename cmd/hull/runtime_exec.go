package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/hull-project/hull/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

// execFlags are runc exec's flags.
type execFlags struct {
	consoleSocket string
	cwd           string
	env           []string
	tty           bool
	user          string
	addGids       []int64
	process       string
	detach        bool
	pidFile       string
	noNewPrivs    bool
	caps          []string
	preserveFDs   int
	ignorePaused  bool
	label         string
	apparmor      string
	cgroups       []string
}

func (rc *runtimeCLI) newExecCommand() *cobra.Command {
	var f execFlags
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER [COMMAND [ARG...]]",
		Short: "Run a new process inside a running container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return rc.exec(args[0], args[1:], &f)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false)
	fl.StringVar(&f.consoleSocket, "console-socket", "", "Unix socket that receives the pty master of a terminal process")
	fl.StringVar(&f.cwd, "cwd", "", "Working directory in the container")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "Set an environment variable (KEY=VALUE)")
	fl.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fl.StringVarP(&f.user, "user", "u", "", "User to run as: UID[:GID]")
	fl.Int64SliceVarP(&f.addGids, "additional-gids", "g", nil, "Additional gids")
	fl.StringVarP(&f.process, "process", "p", "", "Path to a process.json (an OCI process) to run instead of COMMAND")
	fl.BoolVarP(&f.detach, "detach", "d", false, "Detach from the process")
	fl.StringVar(&f.pidFile, "pid-file", "", "File to write the process's pid to")
	fl.BoolVar(&f.noNewPrivs, "no-new-privs", false, "Set no_new_privs for the process")
	fl.StringArrayVarP(&f.caps, "cap", "c", nil, "Add a capability to the process's bounding, effective and permitted sets")
	fl.IntVar(&f.preserveFDs, "preserve-fds", 0, "Number of extra fds (from 3 on) passed to the process")
	fl.BoolVar(&f.ignorePaused, "ignore-paused", false, "Allow exec in a paused container")
	fl.StringVar(&f.label, "process-label", "", "Accepted for runc compatibility (no SELinux)")
	fl.StringVar(&f.apparmor, "apparmor", "", "Accepted for runc compatibility (no AppArmor)")
	fl.StringArrayVar(&f.cgroups, "cgroup", nil, "Accepted for runc compatibility (the container's cgroup is used)")
	return cmd
}

// exec is `hull runtime exec`.
func (rc *runtimeCLI) exec(id string, args []string, f *execFlags) error {
	c, err := rc.load(id)
	if err != nil {
		return rc.fail(err)
	}
	p, err := execProcess(c.Config(), args, f)
	if err != nil {
		return rc.fail(err)
	}
	if f.label != "" || f.apparmor != "" {
		return rc.fail(errors.New("--process-label and --apparmor: hull supports neither SELinux nor AppArmor"))
	}
	o := runtime.ExecOptions{
		ConsoleSocket: f.consoleSocket,
		PidFile:       f.pidFile,
		PreserveFDs:   f.preserveFDs,
		IgnorePaused:  f.ignorePaused,
	}
	o.Stdin, _ = rc.c.in.(*os.File)
	o.Stdout, _ = rc.c.out.(*os.File)
	o.Stderr, _ = rc.c.err.(*os.File)
	var relay *ttyRelay
	if !f.detach && f.consoleSocket == "" && p.Terminal {
		if relay, err = newTTYRelay(rc); err != nil {
			return rc.fail(err)
		}
		defer relay.close()
		o.Console = relay.remote
	}
	sigs := make(chan os.Signal, 128)
	if !f.detach {
		signal.Notify(sigs)
		defer signal.Stop(sigs)
	}
	proc, err := c.Exec(p, o)
	if err != nil {
		return rc.fail(err)
	}
	if relay != nil {
		if err := relay.attach(); err != nil {
			return rc.fail(err)
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
		return rc.fail(err)
	}
	if code != 0 {
		return &statusError{code: code}
	}
	return nil
}

// execProcess builds the process to exec: the --process file, or the
// container's process with the command and the flags applied (as runc
// does).
func execProcess(s *specs.Spec, args []string, f *execFlags) (*specs.Process, error) {
	var p specs.Process
	if f.process != "" {
		b, err := os.ReadFile(f.process)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("parse process %s: %w", f.process, err)
		}
		return &p, nil
	}
	if len(args) == 0 {
		return nil, errors.New("exec args cannot be empty")
	}
	if s == nil || s.Process == nil {
		return nil, errors.New("the container has no process to start from")
	}
	cp, err := cloneProcess(s.Process)
	if err != nil {
		return nil, err
	}
	p = *cp
	p.Args = args
	p.Terminal = f.tty
	p.ConsoleSize = nil
	p.Env = append(p.Env, f.env...)
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if f.user != "" {
		uid, gid, hasGid := strings.Cut(f.user, ":")
		u, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("parsing %s as int for uid failed: %w", uid, err)
		}
		p.User.UID = uint32(u)
		if hasGid {
			g, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("parsing %s as int for gid failed: %w", gid, err)
			}
			p.User.GID = uint32(g)
		}
	}
	for _, g := range f.addGids {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if f.noNewPrivs {
		p.NoNewPrivileges = true
	}
	if len(f.caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		c := p.Capabilities
		c.Bounding = append(c.Bounding, f.caps...)
		c.Effective = append(c.Effective, f.caps...)
		c.Permitted = append(c.Permitted, f.caps...)
	}
	return &p, nil
}

// cloneProcess deep-copies a spec process (the base of an exec'd one).
func cloneProcess(p *specs.Process) (*specs.Process, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var c specs.Process
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}
