package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newDiffCommand is `diff` (and `container diff`).
func newDiffCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:                   "diff CONTAINER",
		Short:                 "Inspect changes to files or directories on a container's filesystem",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			is, err := c.imageStore()
			if err != nil {
				return err
			}
			rec, err := cs.Get(args[0])
			if err != nil {
				return err
			}
			changes, err := cs.Changes(is.Snapshots(), rec)
			if err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintf(c.out, "%s %s\n", ch.Kind, ch.Path)
			}
			return nil
		},
	}
}
