package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/hull-project/hull/container"
	"github.com/spf13/cobra"
)

const defaultPsFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

var psHeader = map[string]string{
	"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
	"RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
	"Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
	"Label": "LABEL", "LocalVolumes": "LOCAL VOLUMES",
}

type psOptions struct {
	all, quiet, size, noTrunc, latest bool
	last                              int
	format                            string
	filter                            *filterArgs
}

func newPsCommand(c *cli) *cobra.Command {
	o := psOptions{filter: newFilterArgs()}
	cmd := &cobra.Command{
		Use:                   "ps [OPTIONS]",
		Aliases:               []string{"list", "ls"},
		Short:                 "List containers",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.ps(&o)
		},
	}
	fs := cmd.Flags()
	shadowGlobalShorthands(fs)
	fs.BoolVarP(&o.all, "all", "a", false, "Show all containers (default shows just running)")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Only display container IDs")
	fs.BoolVarP(&o.size, "size", "s", false, "Display total file sizes")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVarP(&o.latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fs.IntVarP(&o.last, "last", "n", -1, "Show n last created containers (includes all states)")
	fs.StringVar(&o.format, "format", "", "Format output using a custom template")
	fs.VarP(o.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

func (c *cli) ps(o *psOptions) error {
	if err := o.filter.validate("id", "name", "label", "exited", "status", "ancestor", "before", "since", "volume", "health", "network", "publish", "expose", "is-task", "restart-policy"); err != nil {
		return err
	}
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	recs, err := cs.List() // newest first
	if err != nil {
		return err
	}
	if o.latest {
		o.last = 1
	}
	all := o.all || o.last > 0
	recs, err = c.filterContainers(cs, recs, o.filter)
	if err != nil {
		return err
	}
	var rows []any
	for _, r := range recs {
		if !all && r.State.Status != container.Running && r.State.Status != container.Paused && r.State.Status != container.Restarting {
			continue
		}
		if o.last > 0 && len(rows) >= o.last {
			break
		}
		row := &psRow{rec: r, trunc: !o.noTrunc, now: time.Now()}
		if o.size {
			row.sizeRw = dirSize(filepath.Join(cs.Dir(r.ID), "diff"))
			row.sized = true
			if s, err := c.imageStore(); err == nil {
				for _, l := range r.Layers {
					if n, ok := s.LayerSize(l); ok {
						row.sizeRoot += n
					}
				}
			}
			row.sizeRoot += row.sizeRw
		}
		rows = append(rows, row)
	}
	format := o.format
	if o.quiet {
		format = quietFormat
	}
	if format == "" {
		format = defaultPsFormat
		if o.size {
			format += "\t{{.Size}}"
		}
	}
	return formatter{out: c.out, format: format, header: psHeader}.write(rows)
}

// filterContainers applies ps's --filter keys.
func (c *cli) filterContainers(cs *container.Store, recs []*container.Record, f *filterArgs) ([]*container.Record, error) {
	var before, since time.Time
	for _, key := range []string{"before", "since"} {
		for _, ref := range f.get(key) {
			r, err := cs.Get(ref)
			if err != nil {
				return nil, err
			}
			if key == "before" {
				before = r.Created
			} else {
				since = r.Created
			}
		}
	}
	ancestors := map[string]bool{}
	if f.contains("ancestor") {
		if s, err := c.imageStore(); err == nil {
			for _, a := range f.get("ancestor") {
				if img, err := s.Resolve(a); err == nil {
					ancestors[img.ID.String()] = true
				}
			}
		}
	}
	var out []*container.Record
	for _, r := range recs {
		if !before.IsZero() && !r.Created.Before(before) {
			continue
		}
		if !since.IsZero() && !r.Created.After(since) {
			continue
		}
		if !matchAny(f, "id", func(v string) bool { return strings.HasPrefix(r.ID, v) }) ||
			!matchAny(f, "name", func(v string) bool { return matchName(v, r.Name) }) ||
			!matchAny(f, "status", func(v string) bool { return string(r.State.Status) == v }) ||
			!matchAny(f, "exited", func(v string) bool {
				n, err := strconv.Atoi(v)
				return err == nil && r.State.Status == container.Exited && r.State.ExitCode == n
			}) ||
			!matchAny(f, "ancestor", func(v string) bool { return ancestors[r.ImageID.String()] || r.Image == v }) ||
			!matchAny(f, "volume", func(v string) bool {
				for _, m := range r.Mounts {
					if m.Name == v || m.Source == v || m.Destination == v {
						return true
					}
				}
				return false
			}) ||
			!matchAny(f, "health", func(v string) bool {
				h := "none"
				if r.State.Health != nil {
					h = string(r.State.Health.Status)
				}
				return h == v
			}) ||
			!matchAny(f, "network", func(v string) bool { return onNetwork(r, v) }) ||
			!matchAny(f, "publish", func(v string) bool { return matchPort(publishedPorts(r), v) }) ||
			!matchAny(f, "expose", func(v string) bool { return matchPort(exposedPorts(r), v) }) ||
			// restart-policy is Podman's filter (for restarting containers
			// after a reboot).
			!matchAny(f, "restart-policy", func(v string) bool {
				return r.HostConfig != nil && string(r.HostConfig.RestartPolicy.Name) == v
			}) {
			continue
		}
		if f.contains("label") && (r.Config == nil || !f.matchKVList("label", r.Config.Labels)) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// matchAny is true when the filter key is unset or one of its values
// matches.
func matchAny(f *filterArgs, key string, match func(string) bool) bool {
	if !f.contains(key) {
		return true
	}
	for _, v := range f.get(key) {
		if match(v) {
			return true
		}
	}
	return false
}

// psRow is one line of ps; its methods are the --format placeholders.
type psRow struct {
	rec              *container.Record
	trunc            bool
	now              time.Time
	sized            bool
	sizeRw, sizeRoot int64
}

// MarshalJSON renders the row as docker's {{json .}} does.
func (r *psRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// ID is the container ID.
func (r *psRow) ID() string {
	if r.trunc {
		return r.rec.ShortID()
	}
	return r.rec.ID
}

// Image is the image as the user named it.
func (r *psRow) Image() string { return r.rec.Image }

// Command is the quoted command line.
func (r *psRow) Command() string {
	cmd := strings.Join(append([]string{r.rec.Path}, r.rec.Args...), " ")
	if r.trunc {
		cmd = ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt is the creation time.
func (r *psRow) CreatedAt() string {
	return r.rec.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
}

// RunningFor is how long ago the container was created.
func (r *psRow) RunningFor() string { return since(r.rec.Created, r.now) }

// Ports are the published and exposed ports of a running container, as
// docker ps shows them: "0.0.0.0:8080->80/tcp, 443/tcp".
func (r *psRow) Ports() string { return portsText(r.rec) }

// State is the bare status ("running").
func (r *psRow) State() string { return string(r.rec.State.Status) }

// Status is docker's human status ("Up 2 minutes", "Exited (0) 1 second
// ago").
func (r *psRow) Status() string { return statusText(r.rec, r.now) }

// Size is the writable layer's size (and the virtual size).
func (r *psRow) Size() string {
	if !r.sized {
		return "0B"
	}
	return fmt.Sprintf("%s (virtual %s)", humanSize(r.sizeRw), humanSize(r.sizeRoot))
}

// Names is the container's name.
func (r *psRow) Names() string { return r.rec.Name }

// Labels are the labels, k=v comma-separated.
func (r *psRow) Labels() string {
	if r.rec.Config == nil {
		return ""
	}
	var out []string
	for k, v := range r.rec.Config.Labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Label is the value of one label.
func (r *psRow) Label(name string) string {
	if r.rec.Config == nil {
		return ""
	}
	return r.rec.Config.Labels[name]
}

// Mounts are the names or sources of the mounts.
func (r *psRow) Mounts() string {
	var out []string
	for _, m := range r.rec.Mounts {
		n := m.Name
		if n == "" {
			n = m.Source
		}
		if r.trunc && len(n) > 15 {
			n = ellipsis(n, 15)
		}
		out = append(out, n)
	}
	return strings.Join(out, ",")
}

// Networks is the network mode.
func (r *psRow) Networks() string {
	if r.rec.HostConfig == nil {
		return ""
	}
	return string(r.rec.HostConfig.NetworkMode)
}

// LocalVolumes counts the volumes.
func (r *psRow) LocalVolumes() string { return strconv.Itoa(len(r.rec.Volumes)) }

// statusText is docker's Status column.
func statusText(r *container.Record, now time.Time) string {
	st := r.State
	switch st.Status {
	case container.Running, container.Paused:
		s := "Up " + units.HumanDuration(now.Sub(st.StartedAt))
		if st.Status == container.Paused {
			return s + " (Paused)"
		}
		if st.Health != nil {
			switch st.Health.Status {
			case "starting":
				s += " (health: starting)"
			case "healthy", "unhealthy":
				s += " (" + string(st.Health.Status) + ")"
			}
		}
		return s
	case container.Restarting:
		return fmt.Sprintf("Restarting (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case container.Exited:
		if st.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", st.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", st.ExitCode, units.HumanDuration(now.Sub(st.FinishedAt)))
	case container.Removing:
		return "Removal In Progress"
	case container.Dead:
		return "Dead"
	}
	return "Created"
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// matchName is ps's name filter: a regular expression matched against
// the name with and without its leading "/", as docker does (a bad
// expression matches as a plain substring).
func matchName(expr, name string) bool {
	re, err := regexp.Compile(expr)
	if err != nil {
		return strings.Contains(name, strings.TrimPrefix(expr, "/"))
	}
	return re.MatchString(name) || re.MatchString("/"+name)
}
