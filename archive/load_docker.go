package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// dockerManifestItem is one entry of a docker-archive's manifest.json.
type dockerManifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
	// Parent and LayerSources are written by Docker; Load ignores them.
	Parent       string                     `json:",omitempty"`
	LayerSources map[string]json.RawMessage `json:",omitempty"`
}

// planDockerArchive reads manifest.json and every image config it names,
// and checks that every layer file exists.
func planDockerArchive(ix *tarIndex) ([]*loadPlan, []*layerJob, error) {
	b, err := ix.readFile(manifestFileName, maxJSONSize)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid archive: %w", err)
	}
	var items []dockerManifestItem
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&items); err != nil {
		return nil, nil, fmt.Errorf("invalid archive: malformed manifest.json: %w", err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("invalid archive: malformed manifest.json: trailing data after the JSON document")
	}
	var plans []*loadPlan
	var jobs []*layerJob
	seen := map[jobKey]*layerJob{}
	for i, it := range items {
		p, err := planDockerImage(ix, i, it, seen, &jobs)
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, p)
	}
	return plans, jobs, nil
}

func planDockerImage(ix *tarIndex, i int, it dockerManifestItem, seen map[jobKey]*layerJob, jobs *[]*layerJob) (*loadPlan, error) {
	p := &loadPlan{what: fmt.Sprintf("image %d of manifest.json", i+1)}
	if err := checkRefPath(it.Config, p.what+": config"); err != nil {
		return nil, err
	}
	cb, err := ix.readFile(it.Config, maxJSONSize)
	if err != nil {
		return nil, fmt.Errorf("invalid archive: %s: config: %w", p.what, err)
	}
	p.config, p.configID = cb, digest.FromBytes(cb)
	if named := digestFromPath(it.Config); named != "" && named != p.configID {
		return nil, fmt.Errorf("invalid archive: %s: config digest mismatch: %s should have digest %s but has %s", p.what, it.Config, named, p.configID)
	}
	cfg, err := image.ParseConfig(cb)
	if err != nil {
		return nil, fmt.Errorf("invalid archive: %s: config %s: %w", p.what, it.Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(it.Layers) {
		return nil, fmt.Errorf("invalid archive: %s: the config lists %d diff_ids but manifest.json lists %d layer files", p.what, len(cfg.RootFS.DiffIDs), len(it.Layers))
	}
	for j, lp := range it.Layers {
		what := fmt.Sprintf("%s: layer %d", p.what, j+1)
		if err := checkRefPath(lp, what); err != nil {
			return nil, err
		}
		e, err := ix.lookup(lp)
		if err != nil {
			return nil, fmt.Errorf("invalid archive: %s: %w", what, err)
		}
		diffID := digest.Digest(cfg.RootFS.DiffIDs[j].String())
		k := jobKey{entry: e, diffID: diffID}
		job := seen[k]
		if job == nil {
			job = &layerJob{path: lp, entry: e, desc: image.LayerDesc{DiffID: diffID}, namedDigest: digestFromPath(lp)}
			seen[k] = job
			*jobs = append(*jobs, job)
		}
		p.layers = append(p.layers, job)
	}
	for _, t := range it.RepoTags {
		ref, err := reference.Parse(t)
		if err != nil || ref.Tag() == "" || ref.Digest() != "" {
			return nil, fmt.Errorf("invalid archive: %s: invalid RepoTags entry %q: want a name:tag reference", p.what, t)
		}
		p.tags = append(p.tags, ref)
	}
	return p, nil
}

// digestFromPath returns the digest an archive path names by convention
// ("blobs/sha256/<hex>" or "<hex>.json"), or "".
func digestFromPath(p string) digest.Digest {
	dir, base := path.Split(p)
	switch {
	case dir == "blobs/sha256/":
	case dir == "" && strings.HasSuffix(base, ".json"):
		base = strings.TrimSuffix(base, ".json")
	default:
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, base)
	if d.Validate() != nil {
		return ""
	}
	return d
}
