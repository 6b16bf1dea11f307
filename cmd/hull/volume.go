package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hull-project/hull/volume"
	"github.com/spf13/cobra"
)

// volumeStore opens the volume store under --root.
func (c *cli) volumeStore() (*volume.Store, error) {
	return volume.Open(c.opts.root)
}

// newVolumeCommand is the `volume` management command.
func newVolumeCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "volume COMMAND",
		Short:                 "Manage volumes",
		Args:                  noArgs,
		RunE:                  showHelp(c),
		DisableFlagsInUseLine: true,
	}
	cmd.AddCommand(
		newVolumeCreateCommand(c),
		newVolumeInspectCommand(c),
		newVolumeListCommand(c),
		newVolumePruneCommand(c),
		newVolumeRemoveCommand(c),
	)
	return cmd
}

// volumeLabelsFlag is a repeatable "key[=value]" flag (docker's ListOpts
// with ValidateLabel).
type volumeLabelsFlag struct{ values []string }

func (f *volumeLabelsFlag) String() string { return fmt.Sprintf("%v", f.values) }

func (f *volumeLabelsFlag) Set(value string) error {
	key, _, _ := strings.Cut(value, "=")
	key = strings.TrimLeft(key, " \t")
	if key == "" {
		return fmt.Errorf("invalid label '%s': empty name", value)
	}
	if strings.ContainsAny(key, " \t") {
		return fmt.Errorf("label '%s' contains whitespaces", key)
	}
	f.values = append(f.values, value)
	return nil
}

func (f *volumeLabelsFlag) Type() string { return "list" }

// toMap converts the labels as docker does: a label without "=" has an
// empty value, and a later label overrides an earlier one.
func (f *volumeLabelsFlag) toMap() map[string]string {
	m := make(map[string]string, len(f.values))
	for _, v := range f.values {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	return m
}

// volumeOptsFlag is a repeatable "key=value" flag collected into a map
// (docker's MapOpts).
type volumeOptsFlag struct{ values map[string]string }

func (f *volumeOptsFlag) String() string { return fmt.Sprintf("%v", f.values) }

func (f *volumeOptsFlag) Set(value string) error {
	k, v, _ := strings.Cut(value, "=")
	f.values[k] = v
	return nil
}

func (f *volumeOptsFlag) Type() string { return "map" }

func newVolumeCreateCommand(c *cli) *cobra.Command {
	var name, driver string
	labels := &volumeLabelsFlag{}
	opts := &volumeOptsFlag{values: map[string]string{}}
	cmd := &cobra.Command{
		Use:                   "create [OPTIONS] [VOLUME]",
		Short:                 "Create a volume",
		Args:                  requiresMaxArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" {
					return errors.New("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
				}
				name = args[0]
			}
			return runVolumeCreate(c, name, volume.CreateOptions{Driver: driver, Labels: labels.toMap(), Options: opts.values})
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&driver, "driver", "d", volume.DefaultDriver, "Specify volume driver name")
	flags.StringVar(&name, "name", "", "Specify volume name")
	_ = flags.MarkHidden("name")
	flags.VarP(opts, "opt", "o", "Set driver specific options")
	flags.Var(labels, "label", "Set metadata for a volume")
	return cmd
}

func runVolumeCreate(c *cli, name string, o volume.CreateOptions) error {
	s, err := c.volumeStore()
	if err != nil {
		return err
	}
	v, err := s.Create(name, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, v.Name)
	return nil
}

// Formats and columns of `volume ls`.
const (
	defaultVolumeQuietFormat = "{{.Name}}"
	defaultVolumeTableFormat = "table {{.Driver}}\t{{.Name}}"
)

var volumeListHeader = map[string]string{
	"Name":         "VOLUME NAME",
	"Group":        "GROUP",
	"Driver":       "DRIVER",
	"Scope":        "SCOPE",
	"Availability": "AVAILABILITY",
	"Mountpoint":   "MOUNTPOINT",
	"Labels":       "LABELS",
	"Links":        "LINKS",
	"Size":         "SIZE",
	"Status":       "STATUS",
}

func newVolumeListCommand(c *cli) *cobra.Command {
	var quiet bool
	var format string
	filter := newFilterArgs()
	cmd := &cobra.Command{
		Use:                   "ls [OPTIONS]",
		Aliases:               []string{"list"},
		Short:                 "List volumes",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeList(c, quiet, format, filter)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	flags.StringVar(&format, "format", "", formatHelp)
	flags.VarP(filter, "filter", "f", `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

func runVolumeList(c *cli, quiet bool, format string, filter *filterArgs) error {
	if err := filter.validate("dangling", "name", "driver", "label"); err != nil {
		return err
	}
	var dangling *bool
	if filter.contains("dangling") {
		d, err := filter.boolOr("dangling", false)
		if err != nil {
			return err
		}
		dangling = &d
	}
	s, err := c.volumeStore()
	if err != nil {
		return err
	}
	vols, err := s.List()
	if err != nil {
		return err
	}
	var users map[string][]string
	if dangling != nil {
		if users, err = c.volumeUsers(); err != nil {
			return err
		}
	}
	var rows []any
	for _, v := range vols {
		if drivers := filter.get("driver"); len(drivers) > 0 && !slices.Contains(drivers, v.Driver) {
			continue
		}
		if filter.contains("name") && !matchVolumeName(filter.get("name"), v.Name) {
			continue
		}
		if !filter.matchKVList("label", v.Labels) {
			continue
		}
		if dangling != nil && *dangling == (len(users[v.Name]) > 0) {
			continue
		}
		rows = append(rows, &volumeRow{v: v})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return volumeNameLess(rows[i].(*volumeRow).v.Name, rows[j].(*volumeRow).v.Name)
	})
	// As docker's volume formatter: -q only changes the default format.
	if format == "" || format == tableFormatKey {
		format = defaultVolumeTableFormat
		if quiet {
			format = defaultVolumeQuietFormat
		}
	}
	return formatter{out: c.out, format: format, header: volumeListHeader}.write(rows)
}

// matchVolumeName is docker's name filter: a value matches if it equals
// the name or, as a regular expression, matches part of it.
func matchVolumeName(patterns []string, name string) bool {
	for _, p := range patterns {
		if p == name {
			return true
		}
		if ok, err := regexp.MatchString(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// volumeNameLess orders names naturally ("vol2" before "vol10"), as
// docker sorts volume lists (fvbommel/sortorder.NaturalLess).
func volumeNameLess(a, b string) bool {
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		da, db := isDigit(ca), isDigit(cb)
		switch {
		case da != db:
			return da
		case !da:
			if ca != cb {
				return ca < cb
			}
			i++
			j++
		default:
			for ; i < len(a) && a[i] == '0'; i++ {
			}
			for ; j < len(b) && b[j] == '0'; j++ {
			}
			nzA, nzB := i, j
			for ; i < len(a) && isDigit(a[i]); i++ {
			}
			for ; j < len(b) && isDigit(b[j]); j++ {
			}
			if la, lb := i-nzA, j-nzB; la != lb {
				return la < lb
			}
			if na, nb := a[nzA:i], b[nzB:j]; na != nb {
				return na < nb
			}
			if nzA != nzB {
				return nzA < nzB
			}
		}
	}
	return len(a) < len(b)
}

// volumeRow is one volume as `volume ls` shows it; its methods are the
// placeholders of docker's volume formatter.
type volumeRow struct{ v *volume.Volume }

// MarshalJSON encodes the row's placeholders.
func (r *volumeRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// Name is the volume name.
func (r *volumeRow) Name() string { return r.v.Name }

// Driver is the volume driver.
func (r *volumeRow) Driver() string { return r.v.Driver }

// Scope is "local".
func (r *volumeRow) Scope() string { return volume.Scope }

// Mountpoint is the volume's data directory.
func (r *volumeRow) Mountpoint() string { return r.v.Mountpoint }

// Labels are the labels as sorted "key=value" pairs.
func (r *volumeRow) Labels() string {
	var out []string
	for k, v := range r.v.Labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// Label returns the value of one label.
func (r *volumeRow) Label(name string) string { return r.v.Labels[name] }

// Links is the number of containers using the volume; `volume ls` does not
// compute it.
func (r *volumeRow) Links() string { return "N/A" }

// Size is the volume's size; `volume ls` does not compute it.
func (r *volumeRow) Size() string { return "N/A" }

// Group is a cluster volume's group.
func (r *volumeRow) Group() string { return "N/A" }

// Availability is a cluster volume's availability.
func (r *volumeRow) Availability() string { return "N/A" }

// Status is a cluster volume's status.
func (r *volumeRow) Status() string { return "N/A" }

// volumeInspect is docker's volume inspect response (API types
// volume.Volume, local volumes).
type volumeInspect struct {
	CreatedAt  string `json:",omitempty"`
	Driver     string
	Labels     map[string]string
	Mountpoint string
	Name       string
	Options    map[string]string
	Scope      string
}

func newVolumeInspectData(v *volume.Volume) *volumeInspect {
	out := &volumeInspect{
		Driver:     v.Driver,
		Labels:     v.Labels,
		Mountpoint: v.Mountpoint,
		Name:       v.Name,
		Options:    v.Options,
		Scope:      volume.Scope,
	}
	if !v.CreatedAt.IsZero() {
		out.CreatedAt = v.CreatedAt.Local().Format(time.RFC3339)
	}
	return out
}

func newVolumeInspectCommand(c *cli) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:                   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short:                 "Display detailed information on one or more volumes",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeInspect(c, args, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", inspectFormatHelp)
	return cmd
}

func runVolumeInspect(c *cli, names []string, format string) error {
	o, err := newInspectOutput(c.out, format)
	if err != nil {
		return err
	}
	s, err := c.volumeStore()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		v, err := s.Get(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		data := newVolumeInspectData(v)
		raw, err := json.Marshal(data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := o.add(data, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if err := o.flush(); err != nil {
		errs = append(errs, err)
	}
	return withStatus(1, errs...)
}

func newVolumeRemoveCommand(c *cli) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:                   "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases:               []string{"remove"},
		Short:                 "Remove one or more volumes",
		Long:                  "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumeRemove(c, args, force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

// runVolumeRemove removes each volume in turn, printing its name; like
// docker it carries on past failures and exits 1 at the end. With -f a
// missing volume counts as removed.
func runVolumeRemove(c *cli, names []string, force bool) error {
	s, err := c.volumeStore()
	if err != nil {
		return err
	}
	users, err := c.volumeUsers()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := s.Remove(name, force, users[name]); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(c.out, name)
	}
	return withStatus(1, errs...)
}

const (
	unusedVolumesWarning = `WARNING! This will remove anonymous local volumes not used by at least one container.
Are you sure you want to continue?`
	allVolumesWarning = `WARNING! This will remove all local volumes not used by at least one container.
Are you sure you want to continue?`
)

func newVolumePruneCommand(c *cli) *cobra.Command {
	var all, force bool
	filter := newFilterArgs()
	cmd := &cobra.Command{
		Use:                   "prune [OPTIONS]",
		Short:                 "Remove unused local volumes",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVolumePrune(c, all, force, filter)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

// runVolumePrune removes the unused volumes that pass the filters:
// anonymous ones, or all with -a (or --filter all=true), as docker 23+.
func runVolumePrune(c *cli, all, force bool, filter *filterArgs) error {
	if all && filter.contains("all") {
		return errors.New("conflicting options: cannot specify both --all and --filter all=1")
	}
	if err := filter.validate("label", "label!", "all"); err != nil {
		return err
	}
	warning := unusedVolumesWarning
	if all {
		warning = allVolumesWarning
	}
	switch vals := filter.get("all"); {
	case len(vals) > 1:
		return fmt.Errorf("invalid filter 'all=%s': only one value is expected", vals)
	case len(vals) == 1:
		b, err := strconv.ParseBool(vals[0])
		if err != nil {
			return fmt.Errorf("invalid filter 'all': %w", err)
		}
		all = b
	}
	if !force && !confirm(c, warning) {
		return errCancelled
	}
	s, err := c.volumeStore()
	if err != nil {
		return err
	}
	users, err := c.volumeUsers()
	if err != nil {
		return err
	}
	labels := volume.LabelFilter{Include: filter.get("label"), Exclude: filter.get("label!")}
	removed, reclaimed, err := s.Prune(all, labels, func(name string) bool { return len(users[name]) > 0 })
	if err != nil {
		return err
	}
	if len(removed) > 0 {
		fmt.Fprintln(c.out, "Deleted Volumes:")
		for _, name := range removed {
			fmt.Fprintln(c.out, name)
		}
		fmt.Fprintln(c.out)
	} else {
		reclaimed = 0
	}
	fmt.Fprintln(c.out, "Total reclaimed space:", humanSize4(int64(reclaimed)))
	return nil
}
