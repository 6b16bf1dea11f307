package build

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/internal/atomicfile"
	digest "github.com/opencontainers/go-digest"
)

// state is a stage's image as the build goes: its config (with history
// and diffIDs) and its layers, plus the cache key of everything that
// made it.
type state struct {
	cfg    v1.ConfigFile
	layers []v1.Descriptor
	key    digest.Digest
	// manifestType is the media type of the base image's manifest (the
	// built image keeps it).
	manifestType string
}

func (s *state) clone() *state {
	c := *s
	c.cfg.Config = cloneConfig(s.cfg.Config)
	c.cfg.History = slices.Clone(s.cfg.History)
	c.cfg.RootFS.DiffIDs = slices.Clone(s.cfg.RootFS.DiffIDs)
	c.layers = slices.Clone(s.layers)
	return &c
}

// diffIDs are the state's layers' diffIDs, bottom first.
func (s *state) diffIDs() []digest.Digest {
	out := make([]digest.Digest, len(s.cfg.RootFS.DiffIDs))
	for i, d := range s.cfg.RootFS.DiffIDs {
		out[i] = digest.Digest(d.String())
	}
	return out
}

func cloneConfig(c v1.Config) v1.Config {
	c.Env = slices.Clone(c.Env)
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Shell = slices.Clone(c.Shell)
	c.OnBuild = slices.Clone(c.OnBuild)
	if c.Labels != nil {
		l := make(map[string]string, len(c.Labels))
		for k, v := range c.Labels {
			l[k] = v
		}
		c.Labels = l
	}
	if c.ExposedPorts != nil {
		p := make(map[string]struct{}, len(c.ExposedPorts))
		for k := range c.ExposedPorts {
			p[k] = struct{}{}
		}
		c.ExposedPorts = p
	}
	if c.Volumes != nil {
		v := make(map[string]struct{}, len(c.Volumes))
		for k := range c.Volumes {
			v[k] = struct{}{}
		}
		c.Volumes = v
	}
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	return c
}

// scratchState is FROM scratch: no layers, an empty config for this
// platform.
func scratchState() *state {
	s := &state{key: digest.FromString("scratch"), manifestType: image.MediaTypeDockerManifest}
	s.cfg.OS, s.cfg.Architecture = runtime.GOOS, runtime.GOARCH
	s.cfg.RootFS.Type = "layers"
	s.cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return s
}

// imageState is FROM an image of the store.
func imageState(img *image.Image) (*state, error) {
	cfg, err := img.Config()
	if err != nil {
		return nil, err
	}
	m, err := img.ParsedManifest()
	if err != nil {
		return nil, err
	}
	s := &state{cfg: *cfg, layers: slices.Clone(m.Layers), key: digest.FromString("image:" + img.ID.String()), manifestType: string(m.MediaType)}
	if s.manifestType == "" {
		s.manifestType = image.MediaTypeDockerManifest
	}
	s.cfg.Config = cloneConfig(cfg.Config)
	s.cfg.History = slices.Clone(cfg.History)
	s.cfg.RootFS.DiffIDs = slices.Clone(cfg.RootFS.DiffIDs)
	return s, nil
}

// addHistory records one instruction; layer (if not nil) is its new
// layer.
func (s *state) addHistory(createdBy string, created time.Time, layer *cachedLayer) {
	h := v1.History{Created: v1.Time{Time: created}, CreatedBy: createdBy, Comment: "buildkit.dockerfile.v0", EmptyLayer: layer == nil}
	s.cfg.History = append(s.cfg.History, h)
	if layer != nil {
		hash, _ := v1.NewHash(layer.DiffID.String())
		s.cfg.RootFS.DiffIDs = append(s.cfg.RootFS.DiffIDs, hash)
		bh, _ := v1.NewHash(layer.Digest.String())
		s.layers = append(s.layers, v1.Descriptor{MediaType: types.MediaType(image.MediaTypeDockerLayerTar), Size: layer.Size, Digest: bh})
		if s.manifestType == image.MediaTypeOCIManifest {
			s.layers[len(s.layers)-1].MediaType = types.MediaType(image.MediaTypeOCILayerTar)
		}
	}
}

// cachedLayer is what the build cache keeps for a step that changes the
// file system.
type cachedLayer struct {
	Digest digest.Digest `json:"digest"`
	DiffID digest.Digest `json:"diffID"`
	Size   int64         `json:"size"`
}

// cacheEntry is one step's cached result: its layer (none for a step
// that changed nothing) and when it was made.
type cacheEntry struct {
	Layer   *cachedLayer `json:"layer,omitempty"`
	Created time.Time    `json:"created"`
}

// cache is the build cache: one small file per step key under dir.
type cache struct {
	dir    string
	images *image.Store
}

func (c *cache) path(key digest.Digest) string {
	return filepath.Join(c.dir, key.Encoded()[:2], key.Encoded()+".json")
}

// get returns the entry of key if its layer is still stored.
func (c *cache) get(key digest.Digest) (*cacheEntry, bool) {
	b, err := os.ReadFile(c.path(key))
	if err != nil {
		return nil, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil {
		return nil, false
	}
	if e.Layer != nil && !c.images.HasLayer(image.LayerDesc{Digest: e.Layer.Digest, DiffID: e.Layer.DiffID}) {
		return nil, false
	}
	return &e, true
}

// put records key's result (atomically; a lost entry only costs a
// rebuild).
func (c *cache) put(key digest.Digest, e *cacheEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	p := c.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	return atomicfile.Replace(p, b, 0o600)
}

// Prune empties the build cache under dir (`builder prune`); the layers
// it kept become garbage for the image store's next GC. It returns the
// number of entries removed.
func Prune(dir string) (int, error) {
	n := 0
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("builder prune: %w", err)
	}
	for _, e := range ents {
		sub, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		n += len(sub)
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, fmt.Errorf("builder prune: %w", err)
		}
	}
	return n, nil
}

// CacheLayers lists the layers (diffIDs; their blobs are stored under the
// same digest) the build cache under dir refers to, so that the image
// store's GC keeps them.
func CacheLayers(dir string) ([]digest.Digest, error) {
	var out []digest.Digest
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.IsDir() || filepath.Ext(p) != ".json" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // removed meanwhile
		}
		var e cacheEntry
		if json.Unmarshal(b, &e) == nil && e.Layer != nil {
			out = append(out, e.Layer.DiffID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build cache: %w", err)
	}
	return out, nil
}

// stepKey chains a step's key from its parent's and what describes it.
func stepKey(parent digest.Digest, parts ...string) digest.Digest {
	d := digest.SHA256.Digester()
	h := d.Hash()
	h.Write([]byte(parent))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return d.Digest()
}
