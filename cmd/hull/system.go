package main

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/volume"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

const (
	defaultDiskUsageTableFormat      = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
	defaultDiskUsageImageTableFormat = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"
	defaultDiskUsageContainerFormat  = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"
	defaultDiskUsageVolumeFormat     = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
	defaultDiskUsageBuildCacheFormat = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}"
)

var (
	diskUsageHeader = map[string]string{
		"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE",
	}
	containerHeader = map[string]string{
		"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "LocalVolumes": "LOCAL VOLUMES",
		"Size": "SIZE", "RunningFor": "CREATED", "Status": "STATUS", "Names": "NAMES",
	}
	volumeHeader     = map[string]string{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
	buildCacheHeader = map[string]string{
		"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
		"LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED",
	}
)

func newDiskUsageCommand(c *cli) *cobra.Command {
	var verbose bool
	var format string
	cmd := &cobra.Command{
		Use:                   "df [OPTIONS]",
		Short:                 "Show hull disk usage",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDiskUsage(c, verbose, format)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&verbose, "verbose", "v", false, "Show detailed information on space usage")
	flags.StringVar(&format, "format", "", formatHelp)
	return cmd
}

// usageRow is one row of the `system df` summary.
type usageRow struct {
	kind                             string
	total, active, size, reclaimable int64
	percentReclaimable               bool
}

// MarshalJSON encodes the row's placeholders.
func (r *usageRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// Type is the kind of object.
func (r *usageRow) Type() string { return r.kind }

// TotalCount is the number of objects.
func (r *usageRow) TotalCount() string { return strconv.FormatInt(r.total, 10) }

// Active is the number of objects in use.
func (r *usageRow) Active() string { return strconv.FormatInt(r.active, 10) }

// Size is the space used.
func (r *usageRow) Size() string { return humanSize4(r.size) }

// Reclaimable is the space that removing unused objects would free.
func (r *usageRow) Reclaimable() string {
	if r.percentReclaimable && r.size > 0 {
		return fmt.Sprintf("%s (%v%%)", humanSize4(r.reclaimable), r.reclaimable*100/r.size)
	}
	return humanSize4(r.reclaimable)
}

// imageDiskUsage lists all images with shared sizes and returns the
// space their unique layers take.
func imageDiskUsage(s *image.Store) ([]imageSummary, int64, error) {
	images, err := listImages(s, true, newFilterArgs())
	if err != nil {
		return nil, 0, err
	}
	refs := map[digest.Digest]int{}
	for _, img := range images {
		for _, d := range img.diffIDs {
			refs[d]++
		}
	}
	sizes := map[digest.Digest]int64{}
	var total int64
	for d := range refs {
		n, err := s.Snapshots().Usage(d)
		if err != nil {
			return nil, 0, err
		}
		sizes[d] = n
		total += n
	}
	for i := range images {
		images[i].SharedSize = 0
		for _, d := range images[i].diffIDs {
			if refs[d] > 1 {
				images[i].SharedSize += sizes[d]
			}
		}
	}
	return images, total, nil
}

func runDiskUsage(c *cli, verbose bool, format string) error {
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	images, total, err := imageDiskUsage(s)
	if err != nil {
		return err
	}
	containers, err := c.containerDiskUsage()
	if err != nil {
		return err
	}
	// Docker counts the containers of each image (its CONTAINERS column
	// and what is active).
	perImage := map[digest.Digest]int64{}
	for _, r := range containers {
		perImage[r.rec.ImageID]++
	}
	for i := range images {
		images[i].Containers = perImage[images[i].ID]
	}
	volumes, err := c.volumeDiskUsage()
	if err != nil {
		return err
	}
	if format == "" {
		format = tableFormatKey
	}
	if verbose {
		return writeDiskUsageVerbose(c.out, images, containers, volumes, format)
	}
	if format == tableFormatKey {
		format = defaultDiskUsageTableFormat
	}
	ctrRow := &usageRow{kind: "Containers", total: int64(len(containers)), percentReclaimable: true}
	for _, r := range containers {
		ctrRow.size += r.sizeRw
		if r.rec.State.Status.Alive() {
			ctrRow.active++
		} else {
			ctrRow.reclaimable += r.sizeRw
		}
	}
	volRow := &usageRow{kind: "Local Volumes", total: int64(len(volumes)), percentReclaimable: true}
	for _, v := range volumes {
		volRow.size += v.size
		if v.links > 0 {
			volRow.active++
		} else {
			volRow.reclaimable += v.size
		}
	}
	imgRow := &usageRow{kind: "Images", total: int64(len(images)), size: total, reclaimable: total, percentReclaimable: true}
	for _, img := range images {
		if img.Containers > 0 {
			imgRow.active++
			imgRow.reclaimable -= img.Size - img.SharedSize
		}
	}
	imgRow.reclaimable = max(imgRow.reclaimable, 0)
	rows := []any{
		imgRow,
		ctrRow,
		volRow,
		&usageRow{kind: "Build Cache"},
	}
	return formatter{out: c.out, format: format, header: diskUsageHeader}.write(rows)
}

// containerDiskUsage lists every container with the size of its
// writable layer, newest first.
func (c *cli) containerDiskUsage() ([]*psRow, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, err
	}
	recs, err := cs.List()
	if err != nil {
		return nil, err
	}
	now := nowFunc()
	rows := make([]*psRow, 0, len(recs))
	for _, r := range recs {
		rows = append(rows, &psRow{rec: r, trunc: true, now: now, sized: true, sizeRw: dirSize(filepath.Join(cs.Dir(r.ID), "diff"))})
	}
	return rows, nil
}

// volumeDiskUsage lists every volume with its size and the number of
// containers that use it.
func (c *cli) volumeDiskUsage() ([]*dfVolumeRow, error) {
	vs, err := c.volumeStore()
	if err != nil {
		return nil, err
	}
	vols, err := vs.List()
	if err != nil {
		return nil, err
	}
	users, err := c.volumeUsers()
	if err != nil {
		return nil, err
	}
	rows := make([]*dfVolumeRow, 0, len(vols))
	for _, v := range vols {
		size, err := v.Size()
		if err != nil {
			size = 0
		}
		rows = append(rows, &dfVolumeRow{v: v, links: len(users[v.Name]), size: size})
	}
	return rows, nil
}

// dfContainerRow is a container in `system df -v`: ps's columns, the
// size without the virtual size (as docker's df shows it).
type dfContainerRow struct{ *psRow }

// MarshalJSON renders the row's placeholders.
func (r dfContainerRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// Size is the size of the writable layer.
func (r dfContainerRow) Size() string { return humanSize(r.sizeRw) }

// dfVolumeRow is a volume in `system df -v`.
type dfVolumeRow struct {
	v     *volume.Volume
	links int
	size  int64
}

// MarshalJSON renders the row's placeholders.
func (r *dfVolumeRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// Name is the volume's name.
func (r *dfVolumeRow) Name() string { return r.v.Name }

// Driver is the volume driver.
func (r *dfVolumeRow) Driver() string { return r.v.Driver }

// Scope is the volume's scope.
func (r *dfVolumeRow) Scope() string { return volume.Scope }

// Mountpoint is where the volume's data is.
func (r *dfVolumeRow) Mountpoint() string { return r.v.Mountpoint }

// Labels are the labels, k=v comma-separated.
func (r *dfVolumeRow) Labels() string {
	var out []string
	for k, v := range r.v.Labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Links is the number of containers using the volume.
func (r *dfVolumeRow) Links() string { return strconv.Itoa(r.links) }

// Size is the space the volume's data takes.
func (r *dfVolumeRow) Size() string { return humanSize4(r.size) }

// diskUsageData is the context of a custom `system df -v` template.
type diskUsageData struct {
	Images     []*imageRow
	Containers []any
	Volumes    []any
	BuildCache []any
}

func writeDiskUsageVerbose(out io.Writer, images []imageSummary, containers []*psRow, volumes []*dfVolumeRow, format string) error {
	trunc := strings.HasPrefix(format, tableFormatKey)
	data := diskUsageData{Images: []*imageRow{}, Containers: []any{}, Volumes: []any{}, BuildCache: []any{}}
	for _, img := range images {
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 {
			if n, t, ok := splitTag(img.RepoTags[0]); ok {
				repo, tag = n, t
			}
		}
		data.Images = append(data.Images, &imageRow{img: img, repo: repo, tag: tag, trunc: trunc})
	}
	for _, r := range containers {
		r.trunc = trunc
		data.Containers = append(data.Containers, dfContainerRow{r})
	}
	for _, v := range volumes {
		data.Volumes = append(data.Volumes, v)
	}
	if format != tableFormatKey {
		t, err := parseTemplate(templateString(format))
		if err != nil {
			return err
		}
		return t.Execute(out, data)
	}
	rows := make([]any, len(data.Images))
	for i, r := range data.Images {
		rows[i] = r
	}
	fmt.Fprint(out, "Images space usage:\n\n")
	if err := (formatter{out: out, format: defaultDiskUsageImageTableFormat, header: imageHeader}).write(rows); err != nil {
		return err
	}
	fmt.Fprint(out, "\nContainers space usage:\n\n")
	if err := (formatter{out: out, format: defaultDiskUsageContainerFormat, header: containerHeader}).write(data.Containers); err != nil {
		return err
	}
	fmt.Fprint(out, "\nLocal Volumes space usage:\n\n")
	if err := (formatter{out: out, format: defaultDiskUsageVolumeFormat, header: volumeHeader}).write(data.Volumes); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nBuild cache usage: %s\n\n", humanSize4(0))
	return formatter{out: out, format: defaultDiskUsageBuildCacheFormat, header: buildCacheHeader}.write(nil)
}
