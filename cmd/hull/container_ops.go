package main

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/monitor"
	"github.com/hull-project/hull/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// forEachContainer runs fn on each named container, printing the name as
// given on success (docker's style) and collecting the errors; the exit
// status is 1 if any failed.
func (c *cli) forEachContainer(refs []string, fn func(ref string, rec *container.Record) error) error {
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	var errs []error
	for _, ref := range refs {
		rec, err := cs.Get(ref)
		if err == nil {
			err = fn(ref, rec)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(c.out, ref)
	}
	return withStatus(1, errs...)
}

func newStartCommand(c *cli) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:                   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "Start one or more stopped containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			mc, err := c.monitorClient()
			if err != nil {
				return err
			}
			if attach || interactive {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				cs, err := c.containerStore()
				if err != nil {
					return err
				}
				rec, err := cs.Get(args[0])
				if err != nil {
					return err
				}
				rec.Config.AttachStdout, rec.Config.AttachStderr = true, true
				rec.Config.AttachStdin = interactive && rec.Config.OpenStdin
				return c.attachAndStart(mc, rec, true, !rec.Config.Tty, detachKeys)
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				if err := mc.Start(rec.ID); err != nil {
					return fmt.Errorf("failed to start container %s: %w", ref, err)
				}
				return nil
			})
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	fs.BoolVarP(&interactive, "interactive", "i", false, "Attach container's STDIN")
	fs.StringVar(&detachKeys, "detach-keys", "ctrl-p,ctrl-q", "Override the key sequence for detaching a container")
	return cmd
}

// stopContainer stops one container: through its monitor, or, if the
// monitor is gone, through the OCI runtime directly.
func (c *cli) stopContainer(mc *monitor.Client, rec *container.Record, sig syscall.Signal, timeout *int) error {
	cs := mc.Store
	if !rec.State.Status.Alive() {
		return nil
	}
	if cs.Monitored(rec.ID) {
		_, err := mc.Stop(rec.ID, sig, timeout)
		return err
	}
	// Orphaned (its monitor was killed): signal it ourselves and wait
	// for the runtime to report it gone.
	rc, err := cs.Runtime().Load(rec.ID)
	if err != nil {
		_, err = cs.Get(rec.ID) // records the truth
		return err
	}
	if sig == 0 {
		sig = unix.SIGTERM
	}
	_ = rc.Signal(sig, false)
	t := 10
	if timeout != nil {
		t = *timeout
	}
	deadline := time.Now().Add(time.Duration(t) * time.Second)
	for {
		st, err := rc.Status()
		if err != nil || st == runtime.Stopped {
			break
		}
		if time.Now().After(deadline) {
			_ = rc.Signal(unix.SIGKILL, true)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = cs.Get(rec.ID)
	return err
}

func newStopCommand(c *cli) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:                   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "Stop one or more running containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			mc, sig, t, err := c.stopOptions(cmd, signal, timeout)
			if err != nil {
				return err
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				return c.stopContainer(mc, rec, sig, t)
			})
		},
	}
	registerStopFlags(cmd, &signal, &timeout)
	fs := cmd.Flags()
	fs.IntVar(&timeout, "time", 10, "Seconds to wait before killing the container (deprecated)")
	_ = fs.MarkHidden("time")
	return cmd
}

// registerStopFlags adds stop's and restart's -s and -t.
func registerStopFlags(cmd *cobra.Command, signal *string, timeout *int) {
	fs := cmd.Flags()
	fs.IntVarP(timeout, "timeout", "t", 10, "Seconds to wait before killing the container")
	fs.StringVarP(signal, "signal", "s", "", "Signal to send to the container")
}

// stopOptions parses stop's and restart's -s and -t: no signal means the
// container's stop signal, no timeout the container's stop timeout.
func (c *cli) stopOptions(cmd *cobra.Command, signal string, timeout int) (*monitor.Client, syscall.Signal, *int, error) {
	mc, err := c.monitorClient()
	if err != nil {
		return nil, 0, nil, err
	}
	var sig syscall.Signal
	if signal != "" {
		if sig, err = runtime.ParseSignal(signal); err != nil {
			return nil, 0, nil, err
		}
	}
	var t *int
	if cmd.Flags().Changed("time") || cmd.Flags().Changed("timeout") {
		t = &timeout
	}
	return mc, sig, t, nil
}

func newKillCommand(c *cli) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:                   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "Kill one or more running containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := runtime.ParseSignal(signal)
			if err != nil {
				return err
			}
			mc, err := c.monitorClient()
			if err != nil {
				return err
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				if rec.State.Status != container.Running && rec.State.Status != container.Paused && rec.State.Status != container.Restarting {
					return fmt.Errorf("cannot kill container: %s: container %s is not running", ref, rec.ID)
				}
				if !mc.Store.Monitored(rec.ID) {
					rc, err := mc.Store.Runtime().Load(rec.ID)
					if err != nil {
						return fmt.Errorf("cannot kill container: %s: %w", ref, err)
					}
					return rc.Signal(sig, false)
				}
				if err := mc.Kill(rec.ID, sig); err != nil {
					return err
				}
				if sig == unix.SIGKILL {
					// Like docker, return once it is gone.
					_, _, err := mc.Wait(rec.ID)
					return err
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "Signal to send to the container")
	return cmd
}

func newRestartCommand(c *cli) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:                   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "Restart one or more containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			mc, sig, t, err := c.stopOptions(cmd, signal, timeout)
			if err != nil {
				return err
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				if err := c.stopContainer(mc, rec, sig, t); err != nil {
					return err
				}
				if err := mc.Start(rec.ID); err != nil {
					//lint:ignore ST1005 Docker's message
					return fmt.Errorf("Cannot restart container %s: %w", ref, err)
				}
				return nil
			})
		},
	}
	registerStopFlags(cmd, &signal, &timeout)
	return cmd
}

func newRmCommand(c *cli) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:                   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Aliases:               []string{"remove"},
		Short:                 "Remove one or more containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			mc, err := c.monitorClient()
			if err != nil {
				return err
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				return c.removeContainer(mc, rec, force, volumes)
			})
		},
	}
	fs := cmd.Flags()
	shadowGlobalShorthands(fs)
	fs.BoolVarP(&force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	fs.BoolVarP(&volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	fs.BoolP("link", "l", false, "Remove the specified link")
	return cmd
}

// removeContainer removes one container, killing it first with force.
func (c *cli) removeContainer(mc *monitor.Client, rec *container.Record, force, volumes bool) error {
	if rec.State.Status.Alive() {
		if !force {
			what := "running"
			if rec.State.Status == container.Paused {
				what = "paused"
			} else if rec.State.Status == container.Restarting {
				what = "restarting"
			}
			return fmt.Errorf("cannot remove container %q: container is %s: stop the container before removing or force remove", "/"+rec.Name, what)
		}
		zero := 0
		if err := c.stopContainer(mc, rec, unix.SIGKILL, &zero); err != nil {
			return err
		}
	}
	vs, err := c.volumeStore()
	if err != nil {
		return err
	}
	// An --rm container is removed by its monitor as it stops.
	l, err := mc.Store.Lock(rec.ID)
	if errors.Is(err, container.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	fresh, err := mc.Store.Read(rec.ID)
	l.Unlock()
	if errors.Is(err, container.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if fresh.State.Status.Alive() && mc.Store.Monitored(rec.ID) {
		return fmt.Errorf("cannot remove container %q: it was started again meanwhile", "/"+rec.Name)
	}
	if err := monitor.RemoveContainer(mc.Store, vs, fresh, volumes); err != nil && !errors.Is(err, container.ErrNotFound) {
		return err
	}
	return nil
}

func newPauseCommand(c *cli, pause bool) *cobra.Command {
	use, short := "pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers"
	if !pause {
		use, short = "unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers"
	}
	return &cobra.Command{
		Use:                   use,
		Short:                 short,
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			return c.forEachContainer(args, func(ref string, rec *container.Record) error {
				return setPaused(cs, rec, pause)
			})
		},
	}
}

// setPaused freezes or thaws a running container and records it.
func setPaused(cs *container.Store, rec *container.Record, pause bool) error {
	l, err := cs.Lock(rec.ID)
	if err != nil {
		return err
	}
	defer l.Unlock()
	r, err := cs.Read(rec.ID)
	if err != nil {
		return err
	}
	switch {
	case pause && r.State.Status == container.Paused:
		return fmt.Errorf("container %s is already paused", rec.ID)
	case pause && r.State.Status != container.Running:
		return fmt.Errorf("container %s is not running", rec.ID)
	case !pause && r.State.Status != container.Paused:
		return fmt.Errorf("container %s is not paused", rec.ID)
	}
	rc, err := cs.Runtime().Load(rec.ID)
	if err != nil {
		return err
	}
	if pause {
		err = rc.Pause()
	} else {
		err = rc.Resume()
	}
	if err != nil {
		return err
	}
	_, err = cs.UpdateLocked(rec.ID, func(r *container.Record) error {
		if pause {
			r.State.Status = container.Paused
		} else {
			r.State.Status = container.Running
		}
		return nil
	})
	return err
}

func newRenameCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:                   "rename CONTAINER NEW_NAME",
		Short:                 "Rename a container",
		Args:                  exactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			if err := cs.Rename(args[0], args[1]); err != nil {
				return fmt.Errorf("Error when allocating new name: %w", err)
			}
			return nil
		},
	}
}

func newWaitCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:                   "wait CONTAINER [CONTAINER...]",
		Short:                 "Block until one or more containers stop, then print their exit codes",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			mc, err := c.monitorClient()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				code, err := c.waitContainer(mc, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(c.out, code)
			}
			return withStatus(1, errs...)
		},
	}
}

// waitContainer waits for a container to stop and returns its exit code.
func (c *cli) waitContainer(mc *monitor.Client, ref string) (int, error) {
	cs := mc.Store
	rec, err := cs.Get(ref)
	if err != nil {
		return 0, err
	}
	for rec.State.Status.Alive() {
		if cs.Monitored(rec.ID) {
			code, running, err := mc.Wait(rec.ID)
			if err != nil {
				return 0, err
			}
			if running {
				return code, nil
			}
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		if rec, err = cs.Get(rec.ID); err != nil {
			if errors.Is(err, container.ErrNotFound) {
				return 0, nil // removed (--rm) as it stopped
			}
			return 0, err
		}
	}
	return rec.State.ExitCode, nil
}
