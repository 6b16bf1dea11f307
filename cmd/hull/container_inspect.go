package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hull-project/hull/container"
	mobycontainer "github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/storage"
	"github.com/spf13/cobra"
)

func newContainerInspectCommand(c *cli) *cobra.Command {
	var format string
	var size bool
	cmd := &cobra.Command{
		Use:                   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "Display detailed information on one or more containers",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(c, args, format, "container", size)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&format, "format", "f", "", inspectFormatHelp)
	flags.BoolVarP(&size, "size", "s", false, "Display total file sizes")
	return cmd
}

// inspectContainer returns the inspect response of the container ref
// names, and its API JSON.
func (c *cli) inspectContainer(ref string, size bool) (any, []byte, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, nil, err
	}
	rec, err := cs.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	data := c.containerInspectData(cs, rec, size)
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	return data, raw, nil
}

// dockerTime formats a time as docker's inspect does: RFC 3339 with
// nanoseconds in UTC, "0001-01-01T00:00:00Z" for none.
func dockerTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// containerInspectData builds Docker's inspect response for rec; size
// adds the sizes of its writable layer and root file system.
func (c *cli) containerInspectData(cs *container.Store, rec *container.Record, size bool) *mobycontainer.InspectResponse {
	dir := cs.Dir(rec.ID)
	st := rec.State
	state := &mobycontainer.State{
		Status:     mobycontainer.ContainerState(st.Status),
		Running:    st.Status == container.Running || st.Status == container.Paused,
		Paused:     st.Status == container.Paused,
		Restarting: st.Status == container.Restarting,
		OOMKilled:  st.OOMKilled,
		Dead:       st.Status == container.Dead,
		Pid:        st.Pid,
		ExitCode:   st.ExitCode,
		Error:      st.Error,
		StartedAt:  dockerTime(st.StartedAt),
		FinishedAt: dockerTime(st.FinishedAt),
		Health:     st.Health,
	}
	if state.Status == "" {
		state.Status = mobycontainer.StateCreated
	}
	if !state.Running {
		state.Pid = 0
	}
	out := &mobycontainer.InspectResponse{
		ID:             rec.ID,
		Created:        dockerTime(rec.Created),
		Path:           rec.Path,
		Args:           rec.Args,
		State:          state,
		Image:          rec.ImageID.String(),
		ResolvConfPath: filepath.Join(dir, "resolv.conf"),
		HostnamePath:   filepath.Join(dir, "hostname"),
		HostsPath:      filepath.Join(dir, "hosts"),
		LogPath:        cs.LogPath(rec.ID),
		Name:           "/" + rec.Name,
		RestartCount:   rec.RestartCount,
		Driver:         "overlay2",
		Platform:       "linux",
		HostConfig:     rec.HostConfig,
		GraphDriver: &storage.DriverData{
			Name: "overlay2",
			Data: map[string]string{
				"MergedDir": cs.Rootfs(rec.ID),
				"UpperDir":  filepath.Join(dir, "diff"),
				"WorkDir":   filepath.Join(dir, "work"),
			},
		},
		Mounts:          rec.Mounts,
		Config:          rec.Config,
		NetworkSettings: inspectNetwork(rec),
	}
	if out.Args == nil {
		out.Args = []string{}
	}
	if out.Mounts == nil {
		out.Mounts = []mobycontainer.MountPoint{}
	}
	if out.HostConfig == nil {
		out.HostConfig = &mobycontainer.HostConfig{}
	}
	if out.Config == nil {
		out.Config = &mobycontainer.Config{}
	}
	is, err := c.imageStore()
	var lower []string
	var rootSize int64
	for i := len(rec.Layers) - 1; err == nil && i >= 0; i-- {
		lower = append(lower, is.Snapshots().Path(rec.Layers[i]))
		if size {
			if n, ok := is.LayerSize(rec.Layers[i]); ok {
				rootSize += n
			}
		}
	}
	if len(lower) == 0 {
		lower = []string{filepath.Join(dir, "empty")}
	}
	out.GraphDriver.Data["LowerDir"] = strings.Join(lower, ":")
	if size {
		rw := dirSize(filepath.Join(dir, "diff"))
		rootSize += rw
		out.SizeRw, out.SizeRootFs = &rw, &rootSize
	}
	return out
}

// inspectNetwork is the NetworkSettings inspect shows: the record's, with
// empty maps rather than nulls, as Docker prints them.
func inspectNetwork(rec *container.Record) *mobycontainer.NetworkSettings {
	ns := &mobycontainer.NetworkSettings{Ports: network.PortMap{}, Networks: map[string]*network.EndpointSettings{}}
	if rec.NetworkSettings == nil {
		return ns
	}
	ns.SandboxID = rec.NetworkSettings.SandboxID
	if ns.SandboxID != "" {
		ns.SandboxKey = fmt.Sprintf("/proc/%d/ns/net", rec.State.Pid)
	}
	for k, v := range rec.NetworkSettings.Ports {
		ns.Ports[k] = v
	}
	for k, v := range rec.NetworkSettings.Networks {
		e := v.Copy()
		if e == nil {
			e = &network.EndpointSettings{}
		}
		if e.Aliases == nil {
			e.Aliases = []string{}
		}
		ns.Networks[k] = e
	}
	return ns
}
