// Package build turns Dockerfiles into images, as `docker build` does,
// without a daemon: BuildKit's Dockerfile parser and instruction types,
// RUN steps in hull's own containers, COPY and ADD from the build
// context (package buildctx), and a content-addressed cache: a step's key
// covers its parent's key, the instruction with its arguments expanded,
// and for COPY/ADD the content and metadata of the files it copies. A
// cached step reuses its layer; a rebuild without changes starts no
// container and writes no layer.
//
// Stages the target does not need are skipped; independent stages are
// built concurrently.
package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/build/buildctx"
	"github.com/hull-project/hull/cgroup"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/flock"
	"github.com/hull-project/hull/network"
	"github.com/hull-project/hull/reference"
	"github.com/moby/sys/mountinfo"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// Options are one build's inputs (docker build's flags).
type Options struct {
	// Dockerfile is the Dockerfile's content; DockerfileName its name
	// for messages.
	Dockerfile     []byte
	DockerfileName string
	// Context is the build context COPY and ADD read from.
	Context *buildctx.Context
	// Tags are pointed at the built image.
	Tags []reference.Reference
	// BuildArgs are --build-arg values.
	BuildArgs map[string]string
	// Target is the stage to build (the last one if empty).
	Target string
	// NoCache builds every step again.
	NoCache bool
	// Pull pulls base images even if they are stored.
	Pull bool
	// Labels are added to the image's config.
	Labels map[string]string
	// Network is RUN's network: "default" (the default bridge network),
	// "none" or "host".
	Network string
	// ExtraHosts are --add-host entries for RUN steps.
	ExtraHosts []string
	// Secrets are --secret id=…,src=… files by id.
	Secrets map[string]string
	// SourceDateEpoch, if set, is the time of every history entry and
	// the latest mtime of copied files (SOURCE_DATE_EPOCH).
	SourceDateEpoch *time.Time
	// Out receives progress lines (plain text); nil discards them.
	Out io.Writer
}

// Builder builds images into an image store.
type Builder struct {
	Images *image.Store
	// Networks gives RUN steps the default bridge network; nil runs
	// them without a network.
	Networks *network.Store
	// Pull fetches a base image the store does not have.
	Pull func(ctx context.Context, ref string) (*image.Image, error)
	// Dir holds the build cache and scratch space (under the hull root).
	Dir string
}

// build is one running build.
type build struct {
	*Builder
	opts   Options
	plan   *plan
	cache  *cache
	images *image.Store
	// networks is nil for RUN --network none builds.
	networks *network.Store
	tmp      string

	outMu sync.Mutex
	step  int

	mu     sync.Mutex
	done   map[*stagePlan]chan struct{}
	result map[*stagePlan]*state
}

// Build builds the Dockerfile and records the image (tagged with
// opts.Tags).
func (b *Builder) Build(ctx context.Context, opts Options) (*image.Image, error) {
	if opts.DockerfileName == "" {
		opts.DockerfileName = "Dockerfile"
	}
	if opts.Network == "" {
		opts.Network = "default"
	}
	switch opts.Network {
	case "default", "bridge", "none", "host":
	default:
		return nil, fmt.Errorf("network mode %q not supported by the builder: use default, none or host", opts.Network)
	}
	if opts.Network == "bridge" {
		opts.Network = "default"
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	p, err := parse(opts.Dockerfile, opts.DockerfileName, opts.BuildArgs, opts.Target)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(b.Dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	sweepScratch(tmp)
	// The lock, taken before the directory exists, says the scratch
	// directory is in use; a build killed with -9 leaves it unlocked for
	// the next build to sweep.
	tmp = filepath.Join(tmp, "b"+newID()[:12])
	lock, err := flock.Exclusive(tmp + ".lock")
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("build: %w", err)
	}
	defer func() {
		_ = os.RemoveAll(tmp)
		_ = os.Remove(tmp + ".lock")
		lock.Unlock()
	}()
	release, err := b.Images.Lease()
	if err != nil {
		return nil, err
	}
	defer release()
	bd := &build{
		Builder: b, opts: opts, plan: p, images: b.Images, networks: b.Networks, tmp: tmp,
		cache:  &cache{dir: filepath.Join(b.Dir, "cache"), images: b.Images},
		done:   map[*stagePlan]chan struct{}{},
		result: map[*stagePlan]*state{},
	}
	for _, sp := range p.stages {
		bd.done[sp] = make(chan struct{})
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, sp := range p.stages {
		if !sp.needed {
			continue
		}
		g.Go(func() error {
			defer close(bd.done[sp])
			st, err := bd.runStage(gctx, sp)
			if err != nil {
				return err
			}
			bd.mu.Lock()
			bd.result[sp] = st
			bd.mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for k := range opts.BuildArgs {
		if !p.used[k] && !slices.Contains(proxyArgs, k) {
			bd.printf("[Warning] One or more build-args [%s] were not consumed\n", k)
		}
	}
	return bd.export(p.target)
}

// sweepScratch removes the scratch directories of builds that are gone
// (killed): what is mounted under them is unmounted first.
func sweepScratch(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		name := e.Name()
		// Only builds' scratch directories ("b" and 12 hex digits);
		// the CLI unpacks contexts from stdin here too.
		if !e.IsDir() || len(name) != 13 || name[0] != 'b' {
			continue
		}
		p := filepath.Join(dir, name)
		lock, err := flock.TryExclusive(p + ".lock")
		if err != nil {
			continue // a running build's
		}
		// RUN processes of the killed build: killed, their cgroups
		// removed.
		if b, err := os.ReadFile(filepath.Join(p, "cgroups")); err == nil {
			for _, cg := range strings.Fields(string(b)) {
				endCgroup(cg)
			}
		}
		mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(p))
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
		for _, m := range mounts {
			_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		}
		_ = os.RemoveAll(p)
		_ = os.Remove(p + ".lock")
		lock.Unlock()
	}
}

// endCgroup kills what is left in a cgroup and removes it.
func endCgroup(path string) {
	m, err := cgroup.Load(path)
	if err != nil {
		return
	}
	_ = m.Kill(unix.SIGKILL)
	for i := 0; i < 100; i++ {
		if pids, err := m.Pids(); err != nil || len(pids) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = m.Destroy()
}

// stage waits for an earlier stage's result.
func (bd *build) stage(ctx context.Context, sp *stagePlan) (*state, error) {
	select {
	case <-bd.done[sp]:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	bd.mu.Lock()
	defer bd.mu.Unlock()
	st := bd.result[sp]
	if st == nil {
		return nil, fmt.Errorf("stage %s failed", sp.name())
	}
	return st, nil
}

// printf writes a progress line.
func (bd *build) printf(format string, args ...any) {
	bd.outMu.Lock()
	defer bd.outMu.Unlock()
	fmt.Fprintf(bd.opts.Out, format, args...)
}

// nextStep numbers a progress step (#N, as BuildKit's plain output).
func (bd *build) nextStep() int {
	bd.outMu.Lock()
	defer bd.outMu.Unlock()
	bd.step++
	return bd.step
}

// prefixWriter prefixes each line of a step's output with "#N ".
type prefixWriter struct {
	bd     *build
	prefix string
	mid    bool
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.bd.outMu.Lock()
	defer w.bd.outMu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if !w.mid {
			io.WriteString(w.bd.opts.Out, w.prefix)
			w.mid = true
		}
		i := strings.IndexByte(string(p), '\n')
		if i < 0 {
			_, _ = w.bd.opts.Out.Write(p)
			break
		}
		_, _ = w.bd.opts.Out.Write(p[:i+1])
		w.mid = false
		p = p[i+1:]
	}
	return n, nil
}

// baseState resolves a stage's FROM.
func (bd *build) baseState(ctx context.Context, sp *stagePlan) (*state, error) {
	if sp.baseStage != nil {
		st, err := bd.stage(ctx, sp.baseStage)
		if err != nil {
			return nil, err
		}
		return st.clone(), nil
	}
	if strings.EqualFold(sp.base, "scratch") {
		return scratchState(), nil
	}
	img, err := bd.baseImage(ctx, sp.base)
	if err != nil {
		return nil, err
	}
	return imageState(img)
}

// baseImage finds (or pulls) an image by reference.
func (bd *build) baseImage(ctx context.Context, ref string) (*image.Image, error) {
	if !bd.opts.Pull {
		img, err := bd.images.Resolve(ref)
		if err == nil || !errors.Is(err, image.ErrNotFound) {
			return img, err
		}
	}
	if bd.Pull == nil {
		return nil, fmt.Errorf("base image %s: not in the store", ref)
	}
	img, err := bd.Pull(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("base image %s: %w", ref, err)
	}
	return img, nil
}

// export writes the target's config and manifest and records the image.
func (bd *build) export(sp *stagePlan) (*image.Image, error) {
	bd.mu.Lock()
	st := bd.result[sp]
	bd.mu.Unlock()
	if st == nil {
		return nil, fmt.Errorf("stage %s was not built", sp.name())
	}
	st = st.clone()
	if len(bd.opts.Labels) > 0 && st.cfg.Config.Labels == nil {
		st.cfg.Config.Labels = map[string]string{}
	}
	for k, v := range bd.opts.Labels {
		st.cfg.Config.Labels[k] = v
	}
	if n := len(st.cfg.History); n > 0 {
		st.cfg.Created = st.cfg.History[n-1].Created
	}
	n := bd.nextStep()
	bd.printf("#%d exporting to image\n", n)
	cb, err := json.Marshal(st.cfg)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	configID := digest.FromBytes(cb)
	ch, _ := v1.NewHash(configID.String())
	cfgType := types.DockerConfigJSON
	if st.manifestType == image.MediaTypeOCIManifest {
		cfgType = types.OCIConfigJSON
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.MediaType(st.manifestType), Layers: st.layers,
		Config: v1.Descriptor{MediaType: cfgType, Size: int64(len(cb)), Digest: ch}}
	if m.Layers == nil {
		m.Layers = []v1.Descriptor{}
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if err := bd.images.Content().Put(configID, cb); err != nil {
		return nil, fmt.Errorf("store config: %w", err)
	}
	manifestID := digest.FromBytes(mb)
	if err := bd.images.Content().Put(manifestID, mb); err != nil {
		return nil, fmt.Errorf("store manifest: %w", err)
	}
	img, err := bd.images.Commit(image.CommitRequest{Manifest: manifestID, Tags: bd.opts.Tags})
	if err != nil {
		return nil, err
	}
	bd.printf("#%d writing image %s done\n", n, configID)
	for _, t := range bd.opts.Tags {
		bd.printf("#%d naming to %s done\n", n, t.String())
	}
	return img, nil
}
