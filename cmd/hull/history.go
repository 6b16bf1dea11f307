package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hull-project/hull/image"
	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
)

const (
	defaultHistoryTableFormat  = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	nonHumanHistoryTableFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

var historyHeader = map[string]string{
	"ID":           "IMAGE",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"CreatedBy":    "CREATED BY",
	"Size":         "SIZE",
	"Comment":      "COMMENT",
}

// historyEpoch: creation times before it are shown as N/A.
var historyEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

type historyOptions struct {
	human   bool
	quiet   bool
	noTrunc bool
	format  string
}

func newHistoryCommand(c *cli) *cobra.Command {
	var opts historyOptions
	cmd := &cobra.Command{
		Use:                   "history [OPTIONS] IMAGE",
		Short:                 "Show the history of an image",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(c, args[0], opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.human, "human", "H", true, "Print sizes and dates in human readable format")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Only show image IDs")
	flags.BoolVar(&opts.noTrunc, "no-trunc", false, "Don't truncate output")
	flags.StringVar(&opts.format, "format", "", formatHelp)
	return cmd
}

// historyItem is one entry of an image's history, newest first.
type historyItem struct {
	ID        string
	Created   int64
	CreatedBy string
	Size      int64
	Comment   string
}

// imageHistory returns img's history as the daemon reports it: newest
// first, each non-empty entry sized by its layer, the top entry (and its
// ancestors', for local builds) named by image ID, others "<missing>".
func imageHistory(s *image.Store, img *image.Image) ([]historyItem, error) {
	cfg, err := loadConfig(img)
	if err != nil {
		return nil, err
	}
	var items []historyItem
	layer := 0
	for _, h := range cfg.History {
		var size int64
		if !h.EmptyLayer {
			if layer >= len(cfg.RootFS.DiffIDs) {
				return nil, errors.New("too many non-empty layers in History section")
			}
			size, err = s.Snapshots().Usage(digest.Digest(cfg.RootFS.DiffIDs[layer]))
			if err != nil {
				return nil, err
			}
			layer++
		}
		var created int64
		if h.Created != nil {
			created = h.Created.Unix()
		}
		items = append([]historyItem{{ID: "<missing>", Created: created, CreatedBy: h.CreatedBy, Size: size, Comment: h.Comment}}, items...)
	}
	cur := img
	for i := range items {
		items[i].ID = cur.ID.String()
		if cur.Parent == "" {
			break
		}
		if cur, err = s.Get(cur.Parent); err != nil {
			break
		}
	}
	return items, nil
}

func runHistory(c *cli, name string, opts historyOptions) error {
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	img, err := s.Resolve(name)
	if err != nil {
		return storeError(name, err)
	}
	items, err := imageHistory(s, img)
	if err != nil {
		return err
	}
	format := opts.format
	if format == "" {
		format = tableFormatKey
	}
	if format == tableFormatKey {
		switch {
		case opts.quiet:
			format = quietFormat
		case !opts.human:
			format = nonHumanHistoryTableFormat
		default:
			format = defaultHistoryTableFormat
		}
	}
	rows := make([]any, len(items))
	for i, h := range items {
		rows[i] = &historyRow{h: h, trunc: !opts.noTrunc, human: opts.human}
	}
	return formatter{out: c.out, format: format, header: historyHeader}.write(rows)
}

// historyRow is the template context of one `history` row.
type historyRow struct {
	h     historyItem
	trunc bool
	human bool
}

// MarshalJSON encodes the row's placeholders.
func (r *historyRow) MarshalJSON() ([]byte, error) { return marshalMethods(r) }

// ID is the image ID of the entry, or "<missing>".
func (r *historyRow) ID() string {
	if r.trunc {
		return truncateID(r.h.ID)
	}
	return r.h.ID
}

// CreatedAt is the creation time in RFC 3339.
func (r *historyRow) CreatedAt() string {
	return time.Unix(r.h.Created, 0).Format(time.RFC3339)
}

// CreatedSince is the entry's age.
func (r *historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	if r.h.Created <= historyEpoch {
		return "N/A"
	}
	return since(time.Unix(r.h.Created, 0), nowFunc())
}

// CreatedBy is the command that created the entry.
func (r *historyRow) CreatedBy() string {
	by := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		return ellipsis(by, 45)
	}
	return by
}

// Size is the entry's layer size.
func (r *historyRow) Size() string {
	if r.human {
		return humanSize(r.h.Size)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

// Comment is the entry's comment.
func (r *historyRow) Comment() string { return r.h.Comment }
