package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/archive"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	mobycontainer "github.com/moby/moby/api/types/container"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// CommitOptions mirror the flags of `docker commit`.
type CommitOptions struct {
	// Author and Comment go into the image's history entry (and Author
	// into the config's author field).
	Author, Comment string
	// Changes are Dockerfile instructions applied to the new config, as
	// with --change (see archive.ParseChange).
	Changes []string
	// Pause freezes a running container while its writable layer is read.
	Pause bool
	// Tag, unless zero, is pointed at the new image.
	Tag reference.Reference
}

// Commit makes an image of the container id, as `docker commit` does: the
// container's image with one more layer holding the changes of its
// writable layer (overlayfs whiteouts turned into OCI whiteouts, entries
// sorted, stored uncompressed like `import` does), and a config made of
// the image's with the container's own settings (user, environment,
// command, entrypoint, working directory, labels, exposed ports, volumes,
// stop signal, health check) and the changes applied. Like Docker, a
// writable layer without changes adds no layer, only a history entry
// marked empty_layer. The new image's parent is the container's image.
func (s *Store) Commit(ctx context.Context, images *image.Store, id string, opts CommitOptions) (*image.Image, error) {
	if !opts.Tag.IsZero() && (opts.Tag.Tag() == "" || opts.Tag.Digest() != "") {
		return nil, fmt.Errorf("invalid reference %q: want a name:tag reference", opts.Tag.String())
	}
	rec, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	parent, err := images.Get(rec.ImageID)
	if err != nil {
		return nil, fmt.Errorf("image of container %s: %w", rec.ShortID(), err)
	}
	base, err := parent.Config()
	if err != nil {
		return nil, err
	}
	pm, err := parent.ParsedManifest()
	if err != nil {
		return nil, err
	}
	if len(base.RootFS.DiffIDs) != len(rec.Layers) || len(pm.Layers) != len(rec.Layers) {
		return nil, fmt.Errorf("image %s of container %s does not have the container's %d layers", parent.ShortID(), rec.ShortID(), len(rec.Layers))
	}
	cfg := commitConfig(base.Config, rec.Config)
	if err := archive.ApplyChanges(&cfg, opts.Changes); err != nil {
		return nil, err
	}

	release, err := images.Lease()
	if err != nil {
		return nil, err
	}
	defer release()

	resume := func() {}
	if opts.Pause && rec.State.Status == Running {
		if rc, err := s.rt.Load(rec.ID); err == nil {
			if err := rc.Pause(); err != nil {
				return nil, fmt.Errorf("pause container %s: %w", rec.ShortID(), err)
			}
			resumed := false
			resume = func() {
				if !resumed {
					resumed = true
					_ = rc.Resume()
				}
			}
			defer resume()
		}
	}
	layer, err := s.commitLayer(ctx, images, rec, pm.MediaType, resume)
	if err != nil {
		return nil, err
	}

	now := time.Now().UTC()
	cf := *base
	cf.Author = opts.Author
	cf.Created = v1.Time{Time: now}
	cf.Container = ""
	//lint:ignore SA1019 cleared: the parent's is no statement about this image
	cf.DockerVersion = ""
	cf.Config = cfg
	cf.History = append(slices.Clone(base.History), v1.History{
		Created:    v1.Time{Time: now},
		CreatedBy:  strings.Join(commandOf(rec), " "),
		Author:     opts.Author,
		Comment:    opts.Comment,
		EmptyLayer: layer == nil,
	})
	cf.RootFS.DiffIDs = slices.Clone(base.RootFS.DiffIDs)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     pm.MediaType,
		Layers:        slices.Clone(pm.Layers),
	}
	req := image.CommitRequest{Parent: parent.ID}
	if layer != nil {
		h, err := v1.NewHash(layer.diffID.String())
		if err != nil {
			return nil, err
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.MediaType(layer.mediaType), Size: layer.size, Digest: h})
		if layer.unpacked > 0 {
			req.LayerSizes = map[digest.Digest]int64{layer.diffID: layer.unpacked}
		}
	}
	cb, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	configID := digest.FromBytes(cb)
	ch, err := v1.NewHash(configID.String())
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: pm.Config.MediaType, Size: int64(len(cb)), Digest: ch}
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	if err := images.Content().Put(configID, cb); err != nil {
		return nil, fmt.Errorf("store config: %w", err)
	}
	manifestID := digest.FromBytes(mb)
	if err := images.Content().Put(manifestID, mb); err != nil {
		return nil, fmt.Errorf("store manifest: %w", err)
	}
	req.Manifest = manifestID
	if !opts.Tag.IsZero() {
		req.Tags = []reference.Reference{opts.Tag}
	}
	return images.Commit(req)
}

// commandOf is the container's command, entrypoint left out, as Docker
// records it in a commit's created_by.
func commandOf(r *Record) []string {
	if r.Config != nil {
		return r.Config.Cmd
	}
	return r.Args
}

// committedLayer is a layer made of a writable layer.
type committedLayer struct {
	diffID    digest.Digest
	size      int64
	unpacked  int64
	mediaType string
}

// commitLayer stores the writable layer of rec as an uncompressed layer
// (blob and snapshot), or returns nil if it has no changes. It calls
// resume once the writable layer has been read.
func (s *Store) commitLayer(ctx context.Context, images *image.Store, rec *Record, manifestType types.MediaType, resume func()) (*committedLayer, error) {
	d, err := s.diffLayer(images.Snapshots(), rec)
	if err != nil {
		return nil, err
	}
	if len(d.keep) == 0 {
		return nil, nil
	}
	upper, err := openRetry(unix.AT_FDCWD, filepath.Join(s.Dir(rec.ID), upperDir), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return nil, fmt.Errorf("commit %s: open writable layer: %w", rec.ShortID(), err)
	}
	defer unix.Close(upper)
	tmp, err := images.Content().TempFile("commit-")
	if err != nil {
		return nil, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	dg := digest.SHA256.Digester()
	cw := &countWriter{w: io.MultiWriter(tmp, dg.Hash())}
	n, err := d.writeLayer(upper, cw)
	resume()
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", rec.ShortID(), err)
	}
	if n == 0 {
		return nil, nil // everything went away meanwhile
	}
	l := &committedLayer{diffID: dg.Digest(), size: cw.n, mediaType: image.MediaTypeDockerLayerTar}
	if string(manifestType) == image.MediaTypeOCIManifest {
		l.mediaType = image.MediaTypeOCILayerTar
	}
	desc := image.LayerDesc{Digest: l.diffID, Size: l.size, MediaType: l.mediaType, DiffID: l.diffID}
	if !images.HasLayer(desc) {
		res, err := images.IngestLayer(ctx, io.NewSectionReader(tmp, 0, l.size), desc, nil)
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", rec.ShortID(), err)
		}
		l.unpacked = res.UnpackedSize
	}
	return l, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// commitConfig is the image config base with the container's settings.
func commitConfig(base v1.Config, c *mobycontainer.Config) v1.Config {
	cfg := base
	if c == nil {
		return cfg
	}
	cfg.User = c.User
	cfg.Env = slices.Clone(c.Env)
	cfg.Cmd = slices.Clone(c.Cmd)
	cfg.Entrypoint = slices.Clone(c.Entrypoint)
	cfg.WorkingDir = c.WorkingDir
	cfg.StopSignal = c.StopSignal
	cfg.Labels = nil
	if len(c.Labels) > 0 {
		cfg.Labels = maps.Clone(c.Labels)
	}
	cfg.Volumes = nil
	if len(c.Volumes) > 0 {
		cfg.Volumes = maps.Clone(c.Volumes)
	}
	cfg.ExposedPorts = nil
	if len(c.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for p := range c.ExposedPorts {
			cfg.ExposedPorts[p.String()] = struct{}{}
		}
	}
	if h := c.Healthcheck; h != nil {
		cfg.Healthcheck = &v1.HealthConfig{
			Test: slices.Clone(h.Test), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	}
	if len(c.OnBuild) > 0 {
		cfg.OnBuild = slices.Clone(c.OnBuild)
	}
	if len(c.Shell) > 0 {
		cfg.Shell = slices.Clone(c.Shell)
	}
	return cfg
}
