package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/hull-project/hull/internal/atomicfile"
	"io"
	"net/http"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/archive"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/spf13/cobra"
)

// friendlyError rewrites a not-found error from below the CLI into
// docker's "No such image: name:latest" form.
func friendlyError(err error) error {
	var nf *image.NotFoundError
	if errors.As(err, &nf) {
		return &notFoundError{what: "image", name: displayName(nf.Name)}
	}
	return err
}

func newSaveCommand(c *cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:                   "save [OPTIONS] IMAGE [IMAGE...]",
		Short:                 "Save one or more images to a tar archive (streamed to STDOUT by default)",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSave(cmd.Context(), c, args, output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

func runSave(ctx context.Context, c *cli, names []string, output string) error {
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	if output == "" {
		if isTerminal(c.out) {
			return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
		}
		return friendlyError(archive.Save(ctx, s, names, c.out))
	}
	// Written next to the target and renamed into place, so a failed
	// save leaves no partial archive behind.
	return friendlyError(atomicfile.WriteFunc(output, 0o600, func(w io.Writer) error {
		return archive.Save(ctx, s, names, w)
	}))
}

func newLoadCommand(c *cli) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:                   "load [OPTIONS]",
		Short:                 "Load an image from a tar archive or STDIN",
		Args:                  noArgs,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLoad(cmd.Context(), c, input, quiet)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	flags.BoolVarP(&quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

func runLoad(ctx context.Context, c *cli, input string, quiet bool) error {
	r := c.in
	if input == "" {
		if isTerminal(c.in) {
			return errors.New("requested load from stdin, but stdin is empty")
		}
	} else {
		f, err := os.Open(input)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	// Like docker, layer progress is shown only on a terminal.
	rep := progress.Discard
	if !quiet && isTerminal(c.out) {
		rep = newReporter(c.out, false)
	}
	loaded, err := archive.Load(ctx, s, r, rep)
	if err != nil {
		return friendlyError(err)
	}
	for _, l := range loaded {
		if l.Tag != "" {
			fmt.Fprintln(c.out, "Loaded image:", reference.FamiliarString(l.Tag))
		} else {
			fmt.Fprintln(c.out, "Loaded image ID:", l.ID)
		}
	}
	return nil
}

type importOptions struct {
	changes  []string
	message  string
	platform string
}

func newImportCommand(c *cli) *cobra.Command {
	var opts importOptions
	cmd := &cobra.Command{
		Use:                   "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
		Short:                 "Import the contents from a tarball to create a filesystem image",
		Args:                  requiresMinArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			var target string
			if len(args) > 1 {
				target = args[1]
			}
			return runImport(cmd.Context(), c, args[0], target, opts)
		},
	}
	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	flags.StringVarP(&opts.message, "message", "m", "", "Set commit message for imported image")
	flags.StringVar(&opts.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	return cmd
}

// openImportSource opens an import source: "-" is stdin, an http(s) URL
// is downloaded, anything else is a file.
func openImportSource(ctx context.Context, c *cli, source string) (io.ReadCloser, error) {
	switch {
	case source == "-":
		return io.NopCloser(c.in), nil
	case strings.HasPrefix(source, "http://"), strings.HasPrefix(source, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, source, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("download %s: %s", source, resp.Status)
		}
		return resp.Body, nil
	default:
		return os.Open(source)
	}
}

func runImport(ctx context.Context, c *cli, source, target string, opts importOptions) error {
	var ref reference.Reference
	if target != "" {
		var err error
		if ref, err = reference.Parse(target); err != nil {
			return err
		}
		if ref.Digest() != "" {
			return errors.New("refusing to create a tag with a digest reference")
		}
	}
	var platform v1.Platform
	if opts.platform != "" {
		var err error
		if platform, err = image.ParsePlatform(opts.platform); err != nil {
			return err
		}
	}
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	r, err := openImportSource(ctx, c, source)
	if err != nil {
		return err
	}
	defer r.Close()
	img, err := archive.Import(ctx, s, r, ref, archive.ImportOptions{
		Changes:  opts.changes,
		Message:  opts.message,
		Platform: platform,
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, img.ID)
	return nil
}
