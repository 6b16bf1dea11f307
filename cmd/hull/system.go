package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hull-project/hull/image"
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
	if format == "" {
		format = tableFormatKey
	}
	if verbose {
		return writeDiskUsageVerbose(c.out, images, format)
	}
	if format == tableFormatKey {
		format = defaultDiskUsageTableFormat
	}
	rows := []any{
		&usageRow{kind: "Images", total: int64(len(images)), size: total, reclaimable: total, percentReclaimable: true},
		&usageRow{kind: "Containers", percentReclaimable: true},
		&usageRow{kind: "Local Volumes", percentReclaimable: true},
		&usageRow{kind: "Build Cache"},
	}
	return formatter{out: c.out, format: format, header: diskUsageHeader}.write(rows)
}

// diskUsageData is the context of a custom `system df -v` template.
type diskUsageData struct {
	Images     []*imageRow
	Containers []any
	Volumes    []any
	BuildCache []any
}

func writeDiskUsageVerbose(out io.Writer, images []imageSummary, format string) error {
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
	if err := (formatter{out: out, format: defaultDiskUsageContainerFormat, header: containerHeader}).write(nil); err != nil {
		return err
	}
	fmt.Fprint(out, "\nLocal Volumes space usage:\n\n")
	if err := (formatter{out: out, format: defaultDiskUsageVolumeFormat, header: volumeHeader}).write(nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nBuild cache usage: %s\n\n", humanSize4(0))
	return formatter{out: out, format: defaultDiskUsageBuildCacheFormat, header: buildCacheHeader}.write(nil)
}
