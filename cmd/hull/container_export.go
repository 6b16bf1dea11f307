package main

import (
	"errors"
	"github.com/hull-project/hull/internal/atomicfile"
	"io"

	"github.com/spf13/cobra"
)

// newExportCommand is `export` (and `container export`).
func newExportCommand(c *cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:                   "export [OPTIONS] CONTAINER",
		Short:                 "Export a container's filesystem as a tar archive",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runExport(args[0], output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func (c *cli) runExport(ref, output string) error {
	if output == "" && isTerminal(c.out) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	cs, err := c.containerStore()
	if err != nil {
		return err
	}
	is, err := c.imageStore()
	if err != nil {
		return err
	}
	rec, err := cs.Get(ref)
	if err != nil {
		return err
	}
	if output == "" {
		return cs.Export(is.Snapshots(), rec.ID, c.out)
	}
	// Written next to the target and renamed into place, so a failed
	// export leaves no partial archive behind.
	return atomicfile.WriteFunc(output, 0o600, func(w io.Writer) error {
		return cs.Export(is.Snapshots(), rec.ID, w)
	})
}
