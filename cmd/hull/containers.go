package main

import (
	"context"
	"debug/elf"
	"github.com/hull-project/hull/build"
	"github.com/hull-project/hull/network"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/monitor"
	digest "github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// containerStore opens the container store under --root and --runroot.
func (c *cli) containerStore() (*container.Store, error) {
	if c.containers != nil {
		return c.containers, nil
	}
	s, err := container.Open(c.opts.root, c.opts.runroot)
	if err != nil {
		return nil, err
	}
	s.OnStopped = func(id string) {
		// A container that died unwatched leaves its addresses and
		// port rules behind: release them.
		if ns, err := c.networkStore(); err == nil {
			_ = ns.Release(id)
		}
	}
	c.containers = s
	return s, nil
}

// networkStore opens the host's network store. Networks are host
// resources (bridges, one nftables table, host ports), so every hull
// root on the host shares one store: two roots never hand out the same
// subnet or port.
func (c *cli) networkStore() (*network.Store, error) {
	if c.networks != nil {
		return c.networks, nil
	}
	dir := os.Getenv("HULL_NETWORK_DIR")
	if dir == "" {
		dir = network.DefaultDir
	}
	s, err := network.Open(dir)
	if err != nil {
		return nil, err
	}
	c.networks = s
	return s, nil
}

// monitorClient is the client of the store's monitor; it starts one (this
// binary's hidden `monitor` command) when none runs.
func (c *cli) monitorClient() (*monitor.Client, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	root, runroot := c.opts.root, c.opts.runroot
	return &monitor.Client{Store: cs, Command: func() *exec.Cmd {
		return exec.Command(exe, "--root", root, "--runroot", runroot, "monitor")
	}}, nil
}

// newMonitorCommand is the hidden `monitor` command the CLI spawns.
func newMonitorCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:    "monitor",
		Short:  "Supervise running containers (started by hull itself)",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.serveMonitor(cmd.Context())
		},
	}
}

// serveMonitor runs the monitor of the store under --root and --runroot
// until it is idle; fd 3, if open, is the spawner's readiness pipe.
func (c *cli) serveMonitor(ctx context.Context) error {
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	is, err := c.imageStore()
	if err != nil {
		return err
	}
	vs, err := c.volumeStore()
	if err != nil {
		return err
	}
	var ready *os.File
	if f := os.NewFile(3, "ready"); f != nil {
		if _, err := f.Stat(); err == nil {
			ready = f
		}
	}
	exe, _ := os.Executable()
	if !staticBinary(exe) {
		exe = "" // it could not run inside the container
	}
	ns, err := c.networkStore()
	if err != nil {
		return err
	}
	return monitor.Serve(ctx, monitor.Config{
		Containers: cs, Images: is, Volumes: vs, Networks: ns,
		Idle: monitorIdle(), InitPath: exe,
	}, ready)
}

// staticBinary reports whether the executable at path is statically
// linked (no ELF interpreter), so it runs in any container as --init.
func staticBinary(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// imageUsers maps image IDs to the containers created from them (for rmi
// and image prune).
func (c *cli) imageUsers() (func(digest.Digest) []string, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	recs, err := cs.List()
	if err != nil {
		return nil, err
	}
	users := map[digest.Digest][]string{}
	for _, r := range recs {
		users[r.ImageID] = append(users[r.ImageID], r.ID)
	}
	return func(id digest.Digest) []string { return users[id] }, nil
}

// containerLayers lists the layers GC must keep besides the images': every
// layer a container uses and the build cache's.
func (c *cli) containerLayers() ([]digest.Digest, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	recs, err := cs.List()
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, r := range recs {
		out = append(out, r.Layers...)
	}
	// The build cache's layers stay until `builder prune`.
	cached, err := build.CacheLayers(filepath.Join(c.buildDir(), "cache"))
	if err != nil {
		return nil, err
	}
	return append(out, cached...), nil
}

// monitorIdle is how long an idle monitor waits (HULL_MONITOR_IDLE, a
// Go duration).
func monitorIdle() time.Duration {
	if v := os.Getenv("HULL_MONITOR_IDLE"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return monitor.DefaultIdle
}

// newContainerCommand is the `container` management command.
func newContainerCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "container COMMAND",
		Short:                 "Manage containers",
		Args:                  noArgs,
		RunE:                  showHelp(c),
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newStopCommand(c),
		newKillCommand(c), newRestartCommand(c), newRmCommand(c), newPsCommand(c),
		newLogsCommand(c), newWaitCommand(c), newRenameCommand(c),
		newPauseCommand(c, true), newPauseCommand(c, false),
		newContainerInspectCommand(c), newTopCommand(c), newStatsCommand(c), newUpdateCommand(c), newContainerPruneCommand(c),
		newDockerExecCommand(c), newAttachCommand(c),
		newDiffCommand(c), newExportCommand(c), newCommitCommand(c), newCpCommand(c), newPortCommand(c),
	)
	return cmd
}
