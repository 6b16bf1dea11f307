package main

import (
	"errors"
	"fmt"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/reference"
	"github.com/spf13/cobra"
)

// newCommitCommand is `commit` (and `container commit`).
func newCommitCommand(c *cli) *cobra.Command {
	var opts container.CommitOptions
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "Create a new image from a container's changes",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return argsError(cmd, "requires at least 1 and at most 2 arguments", "See")
			}
			return nil
		},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				ref, err := reference.Parse(args[1])
				if err != nil {
					return err
				}
				if ref.Digest() != "" {
					return errors.New("refusing to create a tag with a digest reference")
				}
				opts.Tag = ref
			}
			cs, err := c.containerStore()
			if err != nil {
				return err
			}
			is, err := c.imageStore()
			if err != nil {
				return err
			}
			img, err := cs.Commit(cmd.Context(), is, args[0], opts)
			if err != nil {
				return friendlyError(err)
			}
			fmt.Fprintln(c.out, img.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fs.StringArrayVarP(&opts.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fs.StringVarP(&opts.Comment, "message", "m", "", "Commit message")
	fs.BoolVarP(&opts.Pause, "pause", "p", true, "Pause container during commit")
	return cmd
}
