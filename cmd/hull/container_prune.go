package main

import (
	"fmt"
	"path/filepath"

	"github.com/hull-project/hull/container"
	"github.com/spf13/cobra"
)

const stoppedContainersWarning = `WARNING! This will remove all stopped containers.
Are you sure you want to continue?`

func newContainerPruneCommand(c *cli) *cobra.Command {
	var force bool
	filter := newFilterArgs()
	cmd := &cobra.Command{
		Use:                   "prune [OPTIONS]",
		Short:                 "Remove all stopped containers",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.containerPrune(force, filter)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	flags.Var(filter, "filter", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

// containerPrune removes the stopped containers that pass the filters
// (until, label, label!) and reports the space their writable layers took.
func (c *cli) containerPrune(force bool, filter *filterArgs) error {
	if err := filter.validate("until", "label", "label!"); err != nil {
		return err
	}
	until, err := filter.untilTime(nowFunc())
	if err != nil {
		return err
	}
	if !force && !confirm(c, stoppedContainersWarning) {
		return errCancelled
	}
	mc, err := c.monitorClient()
	if err != nil {
		return err
	}
	cs := mc.Store
	recs, err := cs.List()
	if err != nil {
		return err
	}
	var deleted []string
	var reclaimed int64
	for _, r := range recs {
		switch r.State.Status {
		case container.Created, container.Exited, container.Dead:
		default:
			continue
		}
		if !until.IsZero() && r.Created.After(until) {
			continue
		}
		var labels map[string]string
		if r.Config != nil {
			labels = r.Config.Labels
		}
		if !filter.matchKVList("label", labels) || (filter.contains("label!") && filter.matchKVList("label!", labels)) {
			continue
		}
		size := dirSize(filepath.Join(cs.Dir(r.ID), "diff"))
		if err := c.removeContainer(mc, r, false, false); err != nil {
			// Started or removed meanwhile: docker skips it too.
			continue
		}
		deleted = append(deleted, r.ID)
		reclaimed += size
	}
	if len(deleted) > 0 {
		fmt.Fprintln(c.out, "Deleted Containers:")
		for _, id := range deleted {
			fmt.Fprintln(c.out, id)
		}
		fmt.Fprintln(c.out)
	}
	fmt.Fprintln(c.out, "Total reclaimed space:", humanSize4(reclaimed))
	return nil
}
