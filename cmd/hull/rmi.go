package main

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/spf13/cobra"
)

func newRemoveCommand(c *cli) *cobra.Command {
	var force, noPrune bool
	cmd := &cobra.Command{
		Use:                   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short:                 "Remove one or more images",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRemove(c, args, force)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Force removal of the image")
	flags.BoolVar(&noPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

// runRemove removes each image in turn, printing what it untagged and
// deleted, then collects garbage once. Like docker it carries on past
// failures and exits 1 at the end; with -f, missing images are only
// reported.
func runRemove(c *cli, names []string, force bool) error {
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	inUse, err := c.imageUsers()
	if err != nil {
		return err
	}
	var errs []error
	fatal := false
	removed := false
	for _, name := range names {
		res, err := s.Remove(name, force, inUse)
		if err != nil {
			if !errors.Is(err, image.ErrNotFound) {
				fatal = true
			}
			errs = append(errs, storeError(name, err))
			continue
		}
		printRemoved(c, res, "Untagged: ", "Deleted: ")
		for _, r := range res {
			if r.Deleted != "" {
				removed = true
			}
		}
	}
	if removed {
		if _, err := s.GC(c.containerLayers); err != nil {
			errs = append(errs, err)
			fatal = true
		}
	}
	if len(errs) == 0 {
		return nil
	}
	if !force || fatal {
		return withStatus(1, errs...)
	}
	for _, err := range errs {
		fmt.Fprintln(c.err, errorLine(err))
	}
	return nil
}

func printRemoved(c *cli, res []image.RemoveResult, untagged, deleted string) {
	for _, r := range res {
		if r.Deleted != "" {
			fmt.Fprintln(c.out, deleted+r.Deleted.String())
		} else {
			fmt.Fprintln(c.out, untagged+r.Untagged)
		}
	}
}

func newTagCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short:                 "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:                  exactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTag(c, args[0], args[1])
		},
	}
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func runTag(c *cli, source, target string) error {
	ref, err := reference.Parse(target)
	if err != nil {
		return err
	}
	if ref.Digest() != "" {
		return errors.New("refusing to create a tag with a digest reference")
	}
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	return storeError(source, s.Tag(source, ref))
}

const (
	allImageWarning = `WARNING! This will remove all images without at least one container associated to them.
Are you sure you want to continue?`
	danglingWarning = `WARNING! This will remove all dangling images.
Are you sure you want to continue?`
)

func newPruneCommand(c *cli) *cobra.Command {
	var force, all bool
	filter := newFilterArgs()
	cmd := &cobra.Command{
		Use:                   "prune [OPTIONS]",
		Short:                 "Remove unused images",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(c, all, force, filter)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.BoolVarP(&all, "all", "a", false, "Remove all unused images, not just dangling ones")
	flags.Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// confirm asks a yes/no question on c's streams; only "y" or "Y" is yes,
// and end of input is no.
func confirm(c *cli, message string) bool {
	fmt.Fprint(c.out, message+" [y/N] ")
	sc := bufio.NewScanner(c.in)
	if !sc.Scan() {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(sc.Text()), "y")
}

// runPrune removes dangling images (all unused ones with -a) that pass
// the filters, then collects garbage and reports the space freed.
func runPrune(c *cli, all, force bool, filter *filterArgs) error {
	if err := filter.validate("dangling", "label", "label!", "until"); err != nil {
		return err
	}
	danglingOnly, err := filter.boolOr("dangling", !all)
	if err != nil {
		return err
	}
	until, err := filter.untilTime(nowFunc())
	if err != nil {
		return err
	}
	warning := danglingWarning
	if all {
		warning = allImageWarning
	}
	if !force && !confirm(c, warning) {
		return errCancelled
	}
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	stored, err := s.List()
	if err != nil {
		return err
	}
	inUse, err := c.imageUsers()
	if err != nil {
		return err
	}
	children := map[string]bool{}
	for _, img := range stored {
		if img.Parent != "" {
			children[img.Parent.String()] = true
		}
	}
	var deleted []image.RemoveResult
	for _, img := range stored {
		refs := append(append([]string(nil), img.Tags...), img.RepoDigests...)
		if len(refs) == 0 && children[img.ID.String()] {
			continue
		}
		if danglingOnly && (len(img.Tags) > 0 || children[img.ID.String()]) {
			continue
		}
		cfg, err := loadConfig(img)
		if err != nil {
			continue
		}
		if !until.IsZero() && (cfg.Created == nil || cfg.Created.After(until)) {
			continue
		}
		var labels map[string]string
		if cfg.Config != nil {
			labels = cfg.Config.Labels
		}
		if !filter.matchKVList("label", labels) || (filter.contains("label!") && filter.matchKVList("label!", labels)) {
			continue
		}
		if len(refs) == 0 {
			refs = []string{img.ID.String()}
		}
		for _, ref := range refs {
			res, err := s.Remove(ref, false, inUse)
			if err != nil {
				// Already gone with an earlier reference, or in use:
				// docker skips such images too.
				continue
			}
			deleted = append(deleted, res...)
		}
	}
	var freed int64
	if len(deleted) > 0 {
		rep, err := s.GC(c.containerLayers)
		if err != nil {
			return err
		}
		freed = rep.SpaceFreed
		fmt.Fprintln(c.out, "Deleted Images:")
		printRemoved(c, deleted, "untagged: ", "deleted: ")
		fmt.Fprintln(c.out)
	}
	fmt.Fprintln(c.out, "Total reclaimed space:", humanSize4(freed))
	return nil
}
