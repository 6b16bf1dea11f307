package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/archive"
	"github.com/hull-project/hull/build"
	"github.com/hull-project/hull/build/buildctx"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/hull-project/hull/registry"
	"github.com/spf13/cobra"
)

// buildFlags are docker build's flags.
type buildFlags struct {
	tags, buildArgs, labels, addHosts, secrets, outputs []string
	file, target, iidfile, progress, network, platform  string
	noCache, pull, quiet                                bool
}

// newBuildCommand is `build` (also `image build` and `buildx build`).
func newBuildCommand(c *cli) *cobra.Command {
	f := &buildFlags{}
	cmd := &cobra.Command{
		Use:                   "build [OPTIONS] PATH | -",
		Short:                 "Build an image from a Dockerfile",
		Args:                  exactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runBuild(cmd.Context(), f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&f.tags, "tag", "t", nil, `Name and optionally a tag in the "name:tag" format`)
	fs.StringVarP(&f.file, "file", "f", "", `Name of the Dockerfile (default: "PATH/Dockerfile")`)
	fs.StringArrayVar(&f.buildArgs, "build-arg", nil, "Set build-time variables")
	fs.StringVar(&f.target, "target", "", "Set the target build stage to build")
	fs.BoolVar(&f.noCache, "no-cache", false, "Do not use cache when building the image")
	fs.BoolVar(&f.pull, "pull", false, "Always attempt to pull all referenced images")
	fs.StringArrayVar(&f.labels, "label", nil, "Set metadata for an image")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	fs.StringVar(&f.iidfile, "iidfile", "", "Write the image ID to a file")
	fs.StringVar(&f.progress, "progress", "auto", `Set type of progress output ("auto", "plain", "tty", "quiet")`)
	fs.StringVar(&f.network, "network", "default", "Set the networking mode for the RUN instructions during build")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	fs.StringArrayVar(&f.secrets, "secret", nil, `Secret to expose to the build (format: "id=mysecret,src=/local/secret")`)
	fs.StringArrayVarP(&f.outputs, "output", "o", nil, `Output destination (format: "type=local,dest=path")`)
	fs.StringVar(&f.platform, "platform", "", "Set target platform for build")
	return cmd
}

// newBuilderCommand is `builder` (prune).
func newBuilderCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "builder COMMAND", Short: "Manage builds", Args: noArgs, RunE: showHelp(c), DisableFlagsInUseLine: true}
	var force, all bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove build cache",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !force && !confirm(c, "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?") {
				return nil
			}
			n, err := build.Prune(filepath.Join(c.buildDir(), "cache"))
			if err != nil {
				return err
			}
			_ = os.RemoveAll(filepath.Join(c.buildDir(), "mounts"))
			fmt.Fprintf(c.out, "Deleted build cache objects: %d\n", n)
			return nil
		},
	}
	prune.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	prune.Flags().BoolVarP(&all, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	cmd.AddCommand(prune)
	build := newBuildCommand(c)
	cmd.AddCommand(build)
	return cmd
}

// newBuildxCommand is `buildx build`, which users type out of habit.
func newBuildxCommand(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "buildx COMMAND", Short: "Build with BuildKit's CLI syntax (alias of build)", Args: noArgs, RunE: showHelp(c), DisableFlagsInUseLine: true}
	cmd.AddCommand(newBuildCommand(c))
	return cmd
}

func (c *cli) buildDir() string { return filepath.Join(c.opts.root, "build") }

func (c *cli) runBuild(ctx context.Context, f *buildFlags, ctxArg string) error {
	if f.platform != "" {
		p, err := image.ParsePlatform(f.platform)
		if err != nil {
			return err
		}
		if host := (v1.Platform{OS: goruntime.GOOS, Architecture: goruntime.GOARCH}); p.OS != host.OS || p.Architecture != host.Architecture {
			return fmt.Errorf("--platform %s: hull builds for this host's platform (%s/%s) only", f.platform, host.OS, host.Architecture)
		}
	}
	switch f.progress {
	case "auto", "plain", "tty", "quiet", "rawjson":
	default:
		return fmt.Errorf("invalid --progress %q: want auto, plain, tty or quiet", f.progress)
	}
	opts := build.Options{NoCache: f.noCache, Pull: f.pull, Target: f.target, Network: f.network, ExtraHosts: f.addHosts}
	for _, t := range f.tags {
		ref, err := reference.Parse(t)
		if err != nil {
			return fmt.Errorf("invalid tag %q: %w", t, err)
		}
		if ref.Digest() != "" {
			return fmt.Errorf("invalid tag %q: a tag cannot have a digest", t)
		}
		opts.Tags = append(opts.Tags, ref)
	}
	opts.BuildArgs = map[string]string{}
	for _, a := range f.buildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			// --build-arg K takes K from the environment, if set.
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		opts.BuildArgs[k] = v
	}
	opts.Labels = parseLabels(f.labels)
	opts.Secrets = map[string]string{}
	for _, s := range f.secrets {
		id, src, err := parseSecret(s)
		if err != nil {
			return err
		}
		opts.Secrets[id] = src
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		var sec int64
		if _, err := fmt.Sscan(v, &sec); err != nil {
			return fmt.Errorf("invalid SOURCE_DATE_EPOCH %q: want seconds since 1970", v)
		}
		t := time.Unix(sec, 0).UTC()
		opts.SourceDateEpoch = &t
	}
	outs, err := parseOutputs(f.outputs)
	if err != nil {
		return err
	}

	// The context and the Dockerfile.
	var bctx *buildctx.Context
	dfName := "Dockerfile"
	switch {
	case ctxArg == "-":
		in := bufio.NewReader(c.in)
		head, _ := in.Peek(512)
		if looksLikeArchive(head) {
			if f.file == "-" {
				return errors.New("the context and the Dockerfile cannot both come from stdin")
			}
			tmp := filepath.Join(c.buildDir(), "tmp")
			if err := os.MkdirAll(tmp, 0o700); err != nil {
				return err
			}
			if f.file != "" {
				dfName = f.file
			}
			if bctx, err = buildctx.FromTar(in, tmp, dfName); err != nil {
				return err
			}
			if opts.Dockerfile, err = os.ReadFile(filepath.Join(bctx.Dir(), filepath.Clean("/"+dfName))); err != nil {
				bctx.Close()
				return fmt.Errorf("the context from stdin has no %s", dfName)
			}
		} else {
			// A Dockerfile on stdin, no context.
			if opts.Dockerfile, err = io.ReadAll(in); err != nil {
				return err
			}
			empty, err := os.MkdirTemp("", "hull-empty-ctx")
			if err != nil {
				return err
			}
			defer os.RemoveAll(empty)
			if bctx, err = buildctx.FromDir(empty, dfName); err != nil {
				return err
			}
		}
	case strings.Contains(ctxArg, "://") || strings.HasPrefix(ctxArg, "git@"):
		return fmt.Errorf("remote build contexts (%s) are not supported: clone or download it and build the directory", ctxArg)
	default:
		fi, err := os.Stat(ctxArg)
		if err != nil {
			return fmt.Errorf("unable to prepare context: path %q not found", ctxArg)
		}
		if !fi.IsDir() {
			return fmt.Errorf("unable to prepare context: path %q is not a directory", ctxArg)
		}
		dfPath := filepath.Join(ctxArg, "Dockerfile")
		if f.file == "-" {
			if opts.Dockerfile, err = io.ReadAll(c.in); err != nil {
				return err
			}
		} else {
			if f.file != "" {
				dfPath = f.file
			}
			dfName = filepath.Base(dfPath)
			if opts.Dockerfile, err = os.ReadFile(dfPath); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("failed to read dockerfile: open %s: no such file or directory", dfPath)
				}
				return fmt.Errorf("failed to read dockerfile: %w", err)
			}
		}
		abs, err := filepath.Abs(dfPath)
		if err != nil {
			return err
		}
		if bctx, err = buildctx.FromDir(ctxArg, abs); err != nil {
			return err
		}
	}
	defer bctx.Close()
	opts.Context = bctx
	opts.DockerfileName = dfName

	is, err := c.imageStore()
	if err != nil {
		return err
	}
	b := &build.Builder{Images: is, Dir: c.buildDir()}
	if f.network != "none" {
		if ns, err := c.networkStore(); err == nil {
			b.Networks = ns
		}
	}
	quiet := f.quiet || f.progress == "quiet"
	b.Pull = func(ctx context.Context, name string) (*image.Image, error) {
		ref, _, err := parseRemote(name, false)
		if err != nil {
			return nil, err
		}
		var rep = newReporter(io.Discard, true)
		if !quiet {
			rep = newReporter(c.err, false)
		}
		if _, err := registry.Pull(ctx, is, ref, registryOptions(rep, v1.Platform{})); err != nil {
			return nil, err
		}
		return is.Resolve(ref.String())
	}
	if !quiet {
		opts.Out = c.err
	}
	img, err := b.Build(ctx, opts)
	if err != nil {
		return err
	}
	if f.iidfile != "" {
		if err := os.WriteFile(f.iidfile, []byte(img.ID.String()), 0o644); err != nil {
			return fmt.Errorf("write iidfile: %w", err)
		}
	}
	for _, o := range outs {
		if err := c.writeBuildOutput(ctx, is, img, o); err != nil {
			return err
		}
	}
	if quiet {
		fmt.Fprintln(c.out, img.ID)
	}
	return nil
}

// buildOutput is one --output.
type buildOutput struct{ typ, dest string }

// parseOutputs parses --output type=oci|docker|tar,dest=… (or a bare
// path, Docker's shorthand for type=local; hull writes a tar there).
func parseOutputs(vals []string) ([]buildOutput, error) {
	var out []buildOutput
	for _, v := range vals {
		o := buildOutput{}
		if !strings.Contains(v, "=") {
			o = buildOutput{typ: "tar", dest: v}
		}
		for _, kv := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "type":
				o.typ = val
			case "dest":
				o.dest = val
			case "name", "tag":
				// The image is tagged with -t already.
			default:
				if strings.Contains(v, "=") {
					return nil, fmt.Errorf("invalid --output %q: unknown key %q", v, k)
				}
			}
		}
		switch o.typ {
		case "oci", "docker", "tar":
		case "image", "registry", "local":
			return nil, fmt.Errorf("--output type=%s is not supported: use type=oci, docker or tar (images are stored in hull's store anyway)", o.typ)
		default:
			return nil, fmt.Errorf("invalid --output %q: want type=oci|docker|tar,dest=PATH", v)
		}
		if o.dest == "" {
			return nil, fmt.Errorf("invalid --output %q: dest=PATH is required (- for stdout)", v)
		}
		out = append(out, o)
	}
	return out, nil
}

// writeBuildOutput writes the built image as --output asks.
func (c *cli) writeBuildOutput(ctx context.Context, is *image.Store, img *image.Image, o buildOutput) error {
	var w io.Writer = c.out
	var f *os.File
	if o.dest != "-" {
		var err error
		if f, err = os.Create(o.dest); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer f.Close()
		w = f
	}
	var err error
	switch o.typ {
	case "oci", "docker":
		// hull's archives are both: an OCI layout with Docker's
		// manifest.json.
		err = archive.Save(ctx, is, []string{img.ID.String()}, w)
	case "tar":
		err = build.ExportFilesystem(is, img, filepath.Join(c.buildDir(), "tmp"), w)
	}
	if err == nil && f != nil {
		err = f.Close()
	}
	return err
}

// parseSecret parses --secret id=…,src=… (or env=…).
func parseSecret(s string) (id, src string, err error) {
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "id":
			id = v
		case "src", "source":
			src = v
		case "type":
			if v != "file" {
				return "", "", fmt.Errorf("invalid --secret %q: only type=file is supported", s)
			}
		default:
			return "", "", fmt.Errorf("invalid --secret %q: unknown key %q", s, k)
		}
	}
	if id == "" {
		return "", "", fmt.Errorf("invalid --secret %q: id= is required", s)
	}
	if src == "" {
		src = id
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", "", fmt.Errorf("secret %s: %w", id, err)
	}
	return id, abs, nil
}

// looksLikeArchive reports whether stdin starts with a tar (maybe
// compressed) rather than a Dockerfile.
func looksLikeArchive(b []byte) bool {
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}), bytes.HasPrefix(b, []byte("BZh")),
		bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}), bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return true
	}
	return len(b) >= 262 && string(b[257:262]) == "ustar"
}
