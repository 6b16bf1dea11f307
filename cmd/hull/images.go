package main

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

// nowFunc is the clock used for "… ago" columns; tests replace it.
var nowFunc = time.Now

const (
	defaultImageTableFormat           = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
	defaultImageTableFormatWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}"
)

// imageHeader maps image placeholders to column titles.
var imageHeader = map[string]string{
	"ID":           "IMAGE ID",
	"Repository":   "REPOSITORY",
	"Tag":          "TAG",
	"Digest":       "DIGEST",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"Size":         "SIZE",
	"Containers":   "CONTAINERS",
	"SharedSize":   "SHARED SIZE",
	"UniqueSize":   "UNIQUE SIZE",
}

type imagesOptions struct {
	matchName   string
	quiet       bool
	all         bool
	noTrunc     bool
	showDigests bool
	format      string
	filter      *filterArgs
}

func newImagesCommand(c *cli) *cobra.Command {
	opts := imagesOptions{filter: newFilterArgs()}
	cmd := &cobra.Command{
		Use:                   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short:                 "List images",
		Args:                  requiresMaxArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.matchName = args[0]
			}
			n, err := runImages(c, opts)
			if err != nil {
				return err
			}
			if n == 0 && opts.matchName != "" && cmd.CalledAs() == "images" {
				printAmbiguousHint(c, opts.matchName)
			}
			return nil
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVarP(&opts.all, "all", "a", false, "Show all images (default hides intermediate images)")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.BoolVar(&opts.showDigests, "digests", false, "Show digests")
	flags.StringVar(&opts.format, "format", "", formatHelp)
	flags.VarP(opts.filter, "filter", "f", "Filter output based on conditions provided")
	return cmd
}

// formatHelp is the --format flag's help text.
const formatHelp = `Format output using a custom template:
'table':            Print output in table format with column headers (default)
'table TEMPLATE':   Print output in table format using the given Go template
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.`

// printAmbiguousHint helps users who typed `hull images ls`.
func printAmbiguousHint(c *cli, name string) {
	switch name {
	case "build", "history", "import", "inspect", "list", "load", "ls", "prune", "pull", "push", "rm", "save", "tag":
		fmt.Fprintf(c.err, "No images found matching %q: did you mean \"hull image %[1]s\"?\n", name)
	}
}

func runImages(c *cli, opts imagesOptions) (int, error) {
	if opts.matchName != "" {
		opts.filter.add("reference", opts.matchName)
	}
	s, err := c.imageStore()
	if err != nil {
		return 0, err
	}
	images, err := listImages(s, opts.all, opts.filter)
	if err != nil {
		return 0, err
	}
	format := opts.format
	if format == "" {
		format = tableFormatKey
	}
	return len(images), writeImages(c, images, format, opts.quiet, opts.showDigests, !opts.noTrunc)
}

// writeImages renders image summaries in docker's `images` formats.
func writeImages(c *cli, images []imageSummary, format string, quiet, digests, trunc bool) error {
	switch {
	case format == tableFormatKey && quiet:
		format = quietFormat
	case format == tableFormatKey && digests:
		format = defaultImageTableFormatWithDigest
	case format == tableFormatKey:
		format = defaultImageTableFormat
	case strings.HasPrefix(format, tableFormatKey) && digests && !strings.Contains(format, "{{.Digest}}"):
		format += "\t{{.Digest}}"
	}
	needDigest := digests || strings.Contains(format, "{{.Digest}}")
	var rows []any
	for _, img := range images {
		for _, r := range imageRows(img, digests, needDigest, trunc) {
			rows = append(rows, r)
		}
	}
	return formatter{out: c.out, format: format, header: imageHeader}.write(rows)
}

// imageSummary is one image as the image list shows it; RepoTags and
// RepoDigests are in familiar form.
type imageSummary struct {
	ID          digest.Digest
	RepoTags    []string
	RepoDigests []string
	// Created is Unix seconds, 0 if the config has no creation time.
	Created int64
	Size    int64
	// SharedSize is -1 when not computed.
	SharedSize int64
	Containers int64
	Labels     map[string]string
	diffIDs    []digest.Digest
}

func (s imageSummary) dangling() bool { return len(s.RepoTags) == 0 && len(s.RepoDigests) == 0 }

// familiarMatch matches a reference filter pattern as docker does:
// against the familiar reference, then the familiar repository name.
func familiarMatch(pattern, ref string) (bool, error) {
	ok, err := path.Match(pattern, reference.FamiliarString(ref))
	if err != nil {
		return false, err
	}
	if !ok {
		ok, _ = path.Match(pattern, reference.FamiliarName(ref))
	}
	return ok, nil
}

// createdTime returns the creation time of the image a filter names.
func createdTime(s *image.Store, name string) (time.Time, error) {
	img, err := s.Resolve(name)
	if err != nil {
		return time.Time{}, storeError(name, err)
	}
	cfg, err := loadConfig(img)
	if err != nil {
		return time.Time{}, err
	}
	if cfg.Created == nil {
		return time.Time{}, nil
	}
	return *cfg.Created, nil
}

// listImages returns the images that pass the filters, newest first, with
// the daemon's rules: intermediate images only with all, dangling ones
// unless filtered out.
func listImages(s *image.Store, all bool, filter *filterArgs) ([]imageSummary, error) {
	if err := filter.validate("dangling", "label", "before", "since", "reference", "until"); err != nil {
		return nil, err
	}
	danglingOnly, err := filter.boolOr("dangling", false)
	if err != nil {
		return nil, err
	}
	var before, after time.Time
	for _, v := range filter.get("before") {
		t, err := createdTime(s, v)
		if err != nil {
			return nil, err
		}
		if before.IsZero() || before.After(t) {
			before = t
		}
	}
	until, err := filter.untilTime(nowFunc())
	if err != nil {
		return nil, err
	}
	if !until.IsZero() && (before.IsZero() || before.After(until)) {
		before = until
	}
	for _, v := range filter.get("since") {
		t, err := createdTime(s, v)
		if err != nil {
			return nil, err
		}
		if after.Before(t) {
			after = t
		}
	}
	stored, err := s.List()
	if err != nil {
		return nil, err
	}
	children := map[digest.Digest]int{}
	for _, img := range stored {
		if img.Parent != "" && img.Parent != img.ID {
			children[img.Parent]++
		}
	}
	patterns := filter.get("reference")
	var out []imageSummary
	for _, img := range stored {
		cfg, err := loadConfig(img)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.ShortID(), err)
		}
		if !before.IsZero() && (cfg.Created == nil || !cfg.Created.Before(before)) {
			continue
		}
		if !after.IsZero() && (cfg.Created == nil || !cfg.Created.After(after)) {
			continue
		}
		if filter.contains("label") && (cfg.Config == nil || !filter.matchKVList("label", cfg.Config.Labels)) {
			continue
		}
		sum := summarize(img, cfg)
		if len(patterns) > 0 {
			match := func(refs []string) ([]string, error) {
				var kept []string
				for _, r := range refs {
					for _, p := range patterns {
						ok, err := familiarMatch(p, r)
						if err != nil {
							return nil, err
						}
						if ok {
							kept = append(kept, r)
							break
						}
					}
				}
				return kept, nil
			}
			if sum.RepoTags, err = match(sum.RepoTags); err != nil {
				return nil, err
			}
			if sum.RepoDigests, err = match(sum.RepoDigests); err != nil {
				return nil, err
			}
		}
		if sum.dangling() {
			intermediate := img.Intermediate || children[img.ID] > 0
			if !all && intermediate {
				continue
			}
			if filter.contains("dangling") && !danglingOnly {
				continue
			}
			if len(patterns) > 0 {
				continue
			}
		} else if danglingOnly && len(sum.RepoTags) > 0 {
			continue
		}
		if danglingOnly && children[img.ID] > 0 {
			continue
		}
		out = append(out, sum)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out, nil
}

// summarize builds the summary of a stored image.
func summarize(img *image.Image, cfg *imageConfig) imageSummary {
	sum := imageSummary{ID: img.ID, Size: img.Size, SharedSize: -1}
	for _, t := range img.Tags {
		sum.RepoTags = append(sum.RepoTags, reference.FamiliarString(t))
	}
	for _, d := range img.RepoDigests {
		sum.RepoDigests = append(sum.RepoDigests, reference.FamiliarString(d))
	}
	if cfg.Created != nil {
		sum.Created = cfg.Created.Unix()
	}
	if cfg.Config != nil {
		sum.Labels = cfg.Config.Labels
	}
	for _, d := range cfg.RootFS.DiffIDs {
		sum.diffIDs = append(sum.diffIDs, digest.Digest(d))
	}
	return sum
}

// imageRows expands an image into its table rows: one per tag (and per
// digest of the tag's repository when digests are shown), one per
// repository known only by digest, or a single <none> row.
func imageRows(img imageSummary, showDigests, needDigest, trunc bool) []*imageRow {
	row := func(repo, tag, dgst string) *imageRow {
		return &imageRow{img: img, repo: repo, tag: tag, digest: dgst, trunc: trunc}
	}
	if img.dangling() {
		return []*imageRow{row("<none>", "<none>", "<none>")}
	}
	repoTags := map[string][]string{}
	repoDigests := map[string][]string{}
	var repos []string
	for _, t := range img.RepoTags {
		name, tag, ok := splitTag(t)
		if !ok {
			continue
		}
		if _, seen := repoTags[name]; !seen {
			repos = append(repos, name)
		}
		repoTags[name] = append(repoTags[name], tag)
	}
	var digestRepos []string
	for _, d := range img.RepoDigests {
		name, dg, ok := strings.Cut(d, "@")
		if !ok {
			continue
		}
		if _, seen := repoDigests[name]; !seen {
			digestRepos = append(digestRepos, name)
		}
		repoDigests[name] = append(repoDigests[name], dg)
	}
	sort.Strings(repos)
	sort.Strings(digestRepos)
	var rows []*imageRow
	for _, repo := range repos {
		digests := repoDigests[repo]
		delete(repoDigests, repo)
		if !needDigest {
			digests = nil
		}
		for _, tag := range repoTags[repo] {
			if len(digests) == 0 {
				rows = append(rows, row(repo, tag, "<none>"))
				continue
			}
			for _, d := range digests {
				rows = append(rows, row(repo, tag, d))
			}
		}
	}
	for _, repo := range digestRepos {
		digests, ok := repoDigests[repo]
		if !ok {
			continue
		}
		if showDigests {
			for _, d := range digests {
				rows = append(rows, row(repo, "<none>", d))
			}
		} else {
			rows = append(rows, row(repo, "<none>", ""))
		}
	}
	return rows
}

// splitTag splits a familiar "name:tag" reference.
func splitTag(ref string) (name, tag string, ok bool) {
	if strings.Contains(ref, "@") {
		return "", "", false
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return "", "", false
	}
	return ref[:i], ref[i+1:], true
}

// imageRow is the template context of one `images` row; its methods are
// the --format placeholders.
type imageRow struct {
	img    imageSummary
	repo   string
	tag    string
	digest string
	trunc  bool
}

// MarshalJSON encodes the row's placeholders, for `{{json .}}`.
func (r *imageRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// ID is the image ID.
func (r *imageRow) ID() string {
	if r.trunc {
		return truncateID(r.img.ID.String())
	}
	return r.img.ID.String()
}

// Repository is the familiar repository name.
func (r *imageRow) Repository() string { return r.repo }

// Tag is the tag.
func (r *imageRow) Tag() string { return r.tag }

// Digest is the repository digest.
func (r *imageRow) Digest() string { return r.digest }

// CreatedSince is the image's age.
func (r *imageRow) CreatedSince() string {
	return since(time.Unix(r.img.Created, 0), nowFunc())
}

// CreatedAt is the creation time.
func (r *imageRow) CreatedAt() string { return time.Unix(r.img.Created, 0).String() }

// Size is the image size.
func (r *imageRow) Size() string { return humanSize(r.img.Size) }

// VirtualSize is the image size (docker kept the name for compatibility).
func (r *imageRow) VirtualSize() string { return units.HumanSize(float64(r.img.Size)) }

// Containers is the number of containers using the image.
func (r *imageRow) Containers() string {
	if r.img.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(r.img.Containers, 10)
}

// SharedSize is the size of layers shared with other images.
func (r *imageRow) SharedSize() string {
	if r.img.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.SharedSize))
}

// UniqueSize is the size of layers only this image uses.
func (r *imageRow) UniqueSize() string {
	if r.img.Size == -1 || r.img.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.Size - r.img.SharedSize))
}

// notFoundError is docker's "No such image: busybox:latest".
type notFoundError struct {
	what string
	name string
}

func (e *notFoundError) Error() string { return "No such " + e.what + ": " + e.name }

// Unwrap makes errors.Is(err, image.ErrNotFound) hold.
func (e *notFoundError) Unwrap() error { return image.ErrNotFound }

// storeError turns an image store error about name into the message
// docker prints.
func storeError(name string, err error) error {
	var nf *notFoundError
	if errors.As(err, &nf) {
		return err
	}
	if errors.Is(err, image.ErrNotFound) {
		return &notFoundError{what: "image", name: displayName(name)}
	}
	return err
}

// displayName normalises a name for messages as the daemon does: a
// reference gets its default tag ("foo" → "foo:latest"), a full image ID
// is shown with its algorithm.
func displayName(name string) string {
	hex := strings.TrimPrefix(name, "sha256:")
	if len(hex) == 64 && digest.Digest("sha256:"+hex).Validate() == nil {
		return "sha256:" + hex
	}
	r, err := reference.ParseNormalized(name)
	if err != nil {
		return name
	}
	return r.WithDefaultTag().Familiar()
}
