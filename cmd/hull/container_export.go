package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	// Write next to the target and rename into place, so a failed export
	// leaves no partial archive behind.
	f, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+"-*")
	if err != nil {
		return fmt.Errorf("failed to export container: %w", err)
	}
	tmp := f.Name()
	err = cs.Export(is.Snapshots(), rec.ID, f)
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, output)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
