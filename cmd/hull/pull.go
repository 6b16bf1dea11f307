package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/progress"
	"github.com/hull-project/hull/reference"
	"github.com/hull-project/hull/registry"
	"github.com/spf13/cobra"
)

// registryOptions returns the registry options for a command: progress
// to rep, the platform, registries allowed over plain HTTP from
// HULL_INSECURE_REGISTRIES (comma-separated host:port list), and the
// docker config directory from DOCKER_CONFIG (read on every call: the
// docker config library caches it for the whole process otherwise).
func registryOptions(rep progress.Reporter, platform v1.Platform) registry.Options {
	var insecure []string
	for _, h := range strings.Split(os.Getenv("HULL_INSECURE_REGISTRIES"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			insecure = append(insecure, h)
		}
	}
	return registry.Options{Platform: platform, Insecure: insecure, Reporter: rep, ConfigDir: os.Getenv("DOCKER_CONFIG")}
}

// parseRemote parses a pull or push argument, reporting whether it named
// only a repository (so the default tag was added).
func parseRemote(name string, all bool) (reference.Reference, bool, error) {
	n, err := reference.ParseNormalized(name)
	if err != nil {
		return reference.Reference{}, false, err
	}
	nameOnly := n.NameOnly()
	if all && !nameOnly {
		return reference.Reference{}, false, errors.New("tag can't be used with --all-tags/-a")
	}
	ref, err := reference.Parse(name)
	return ref, nameOnly, err
}

type pullOptions struct {
	all      bool
	quiet    bool
	platform string
}

func newPullCommand(c *cli) *cobra.Command {
	var opts pullOptions
	cmd := &cobra.Command{
		Use:                   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short:                 "Download an image from a registry",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(c, cmd, args[0], opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.all, "all-tags", "a", false, "Download all tagged images in the repository")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	flags.StringVar(&opts.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	flags.Bool("disable-content-trust", true, "Skip image verification (deprecated)")
	_ = flags.MarkHidden("disable-content-trust")
	return cmd
}

func runPull(c *cli, cmd *cobra.Command, name string, opts pullOptions) error {
	ref, nameOnly, err := parseRemote(name, opts.all)
	if err != nil {
		return err
	}
	var platform v1.Platform
	if opts.platform != "" {
		if platform, err = image.ParsePlatform(opts.platform); err != nil {
			return err
		}
	}
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	if opts.all {
		return pullAllTags(c, cmd, s, ref, platform, opts.quiet)
	}
	if nameOnly && !opts.quiet {
		fmt.Fprintln(c.out, "Using default tag:", ref.Tag())
	}
	res, err := registry.Pull(cmd.Context(), s, ref, registryOptions(newReporter(c.out, opts.quiet), platform))
	if err != nil {
		return err
	}
	if !opts.quiet {
		fmt.Fprintln(c.out, "Digest:", res.Digest)
		if res.UpToDate {
			fmt.Fprintln(c.out, "Status: Image is up to date for", ref.Familiar())
		} else {
			fmt.Fprintln(c.out, "Status: Downloaded newer image for", ref.Familiar())
		}
	}
	fmt.Fprintln(c.out, ref.String())
	return nil
}

// pullAllTags pulls every tag of ref's repository, as `docker pull -a`.
func pullAllTags(c *cli, cmd *cobra.Command, s *image.Store, ref reference.Reference, platform v1.Platform, quiet bool) error {
	rep := newReporter(c.out, quiet)
	opts := registryOptions(rep, platform)
	tags, err := registry.ListTags(cmd.Context(), ref, opts)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return fmt.Errorf("no tags found in repository %s", ref.FamiliarRepository())
	}
	upToDate := true
	for _, tag := range tags {
		tref, err := ref.WithTag(tag)
		if err != nil {
			return err
		}
		res, err := registry.Pull(cmd.Context(), s, tref, opts)
		if err != nil {
			return err
		}
		upToDate = upToDate && res.UpToDate
		if !quiet {
			fmt.Fprintln(c.out, "Digest:", res.Digest)
		}
	}
	if !quiet {
		if upToDate {
			fmt.Fprintln(c.out, "Status: Image is up to date for", ref.FamiliarRepository())
		} else {
			fmt.Fprintln(c.out, "Status: Downloaded newer image for", ref.FamiliarRepository())
		}
	}
	fmt.Fprintln(c.out, ref.Repository())
	return nil
}

type pushOptions struct {
	all   bool
	quiet bool
}

func newPushCommand(c *cli) *cobra.Command {
	var opts pushOptions
	cmd := &cobra.Command{
		Use:                   "push [OPTIONS] NAME[:TAG]",
		Short:                 "Upload an image to a registry",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(c, cmd, args[0], opts)
		},
	}
	flags := cmd.Flags()
	flags.BoolVarP(&opts.all, "all-tags", "a", false, "Push all tags of an image to the repository")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress verbose output")
	flags.Bool("disable-content-trust", true, "Skip image verification (deprecated)")
	_ = flags.MarkHidden("disable-content-trust")
	return cmd
}

func runPush(c *cli, cmd *cobra.Command, name string, opts pushOptions) error {
	ref, nameOnly, err := parseRemote(name, opts.all)
	if err != nil {
		return err
	}
	if ref.Digest() != "" && ref.Tag() == "" {
		return fmt.Errorf("cannot push a digest reference (%s): push a tag", ref.Familiar())
	}
	s, err := c.imageStore()
	if err != nil {
		return err
	}
	if opts.all {
		return pushAllTags(c, cmd, s, ref, opts.quiet)
	}
	if nameOnly && !opts.quiet {
		fmt.Fprintln(c.out, "Using default tag:", ref.Tag())
	}
	if !opts.quiet {
		fmt.Fprintf(c.out, "The push refers to repository [%s]\n", ref.Repository())
	}
	if _, err := s.Resolve(ref.String()); err != nil {
		if errors.Is(err, image.ErrNotFound) {
			//lint:ignore ST1005 docker's message
			return fmt.Errorf("An image does not exist locally with the tag: %s", ref.FamiliarRepository())
		}
		return err
	}
	res, err := registry.Push(cmd.Context(), s, ref, registryOptions(newReporter(c.out, opts.quiet), v1.Platform{}))
	if err != nil {
		return err
	}
	if opts.quiet {
		fmt.Fprintln(c.out, ref.String())
		return nil
	}
	fmt.Fprintf(c.out, "%s: digest: %s size: %d\n", ref.Tag(), res.Digest, res.Size)
	return nil
}

// pushAllTags pushes every local tag of ref's repository, as
// `docker push -a`.
func pushAllTags(c *cli, cmd *cobra.Command, s *image.Store, ref reference.Reference, quiet bool) error {
	imgs, err := s.List()
	if err != nil {
		return err
	}
	var tags []reference.Reference
	for _, img := range imgs {
		for _, t := range img.Tags {
			r, err := reference.Parse(t)
			if err == nil && r.Repository() == ref.Repository() {
				tags = append(tags, r)
			}
		}
	}
	if len(tags) == 0 {
		//lint:ignore ST1005 docker's message
		return fmt.Errorf("An image does not exist locally with the tag: %s", ref.FamiliarRepository())
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Tag() < tags[j].Tag() })
	if !quiet {
		fmt.Fprintf(c.out, "The push refers to repository [%s]\n", ref.Repository())
	}
	for _, t := range tags {
		res, err := registry.Push(cmd.Context(), s, t, registryOptions(newReporter(c.out, quiet), v1.Platform{}))
		if err != nil {
			return err
		}
		if quiet {
			fmt.Fprintln(c.out, t.String())
		} else {
			fmt.Fprintf(c.out, "%s: digest: %s size: %d\n", t.Tag(), res.Digest, res.Size)
		}
	}
	return nil
}
