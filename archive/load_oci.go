package archive

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// planOCIArchive reads oci-layout, index.json and the manifests, nested
// indexes and configs they point at.
func planOCIArchive(ix *tarIndex) ([]*loadPlan, []*layerJob, error) {
	lb, err := ix.readFile(ociLayoutFileName, 1<<16)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid oci-archive: %w", err)
	}
	var layout struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(lb, &layout); err != nil {
		return nil, nil, fmt.Errorf("invalid oci-archive: malformed oci-layout: %w", err)
	}
	if !strings.HasPrefix(layout.Version, "1.") {
		return nil, nil, fmt.Errorf("invalid oci-archive: unsupported image layout version %q in oci-layout", layout.Version)
	}
	ib, err := ix.readFile(ociIndexFileName, maxJSONSize)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid oci-archive: %w", err)
	}
	top, err := image.ParseIndex(ib, "")
	if err != nil {
		return nil, nil, fmt.Errorf("invalid oci-archive: index.json: %w", err)
	}
	descs := preferPlatform(top.Manifests, image.DefaultPlatform())

	var plans []*loadPlan
	var jobs []*layerJob
	seen := map[jobKey]*layerJob{}
	byManifest := map[digest.Digest]*loadPlan{}
	var skipped []string
	for i, d := range descs {
		what := fmt.Sprintf("index.json entry %d", i+1)
		mt := string(d.MediaType)
		var mb []byte
		if mt == "" {
			if mb, err = readBlob(ix, d, what); err != nil {
				return nil, nil, err
			}
			if mt, err = image.SniffMediaType(mb); err != nil {
				return nil, nil, fmt.Errorf("invalid oci-archive: %s: %w", what, err)
			}
		}
		var indexID digest.Digest
		var indexBytes []byte
		if image.IsIndexMediaType(mt) {
			indexBytes, err = readBlob(ix, d, what)
			if err != nil {
				return nil, nil, err
			}
			nested, err := image.ParseIndex(indexBytes, mt)
			if err != nil {
				return nil, nil, fmt.Errorf("invalid oci-archive: %s: %w", what, err)
			}
			sel, err := image.SelectManifest(nested, image.DefaultPlatform())
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", what, err)
			}
			indexID = digest.Digest(d.Digest.String())
			annotations := d.Annotations
			d, mt, mb = sel, string(sel.MediaType), nil
			d.Annotations = annotations
		}
		if !image.IsManifestMediaType(mt) {
			skipped = append(skipped, mt)
			continue
		}
		tags, err := tagsFromAnnotations(d.Annotations)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid oci-archive: %s: %w", what, err)
		}
		mid := digest.Digest(d.Digest.String())
		if p := byManifest[mid]; p != nil && p.indexID == indexID {
			p.tags = appendTags(p.tags, tags)
			continue
		}
		if mb == nil {
			if mb, err = readBlob(ix, d, what); err != nil {
				return nil, nil, err
			}
		}
		p, err := planOCIImage(ix, what, mb, mt, seen, &jobs)
		if err != nil {
			return nil, nil, err
		}
		p.manifestID, p.indexID, p.index = mid, indexID, indexBytes
		p.tags = appendTags(nil, tags)
		byManifest[mid] = p
		plans = append(plans, p)
	}
	if len(plans) == 0 && len(skipped) > 0 {
		return nil, nil, fmt.Errorf("invalid oci-archive: index.json lists no container images (only %s)", strings.Join(skipped, ", "))
	}
	return plans, jobs, nil
}

func planOCIImage(ix *tarIndex, what string, mb []byte, mt string, seen map[jobKey]*layerJob, jobs *[]*layerJob) (*loadPlan, error) {
	m, err := image.ParseManifest(mb, mt)
	if err != nil {
		return nil, fmt.Errorf("invalid oci-archive: %s: %w", what, err)
	}
	p := &loadPlan{what: what, manifest: mb}
	p.config, err = readBlob(ix, m.Config, what+": config")
	if err != nil {
		return nil, err
	}
	p.configID = digest.Digest(m.Config.Digest.String())
	cfg, err := image.ParseConfig(p.config)
	if err != nil {
		return nil, fmt.Errorf("invalid oci-archive: %s: config: %w", what, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("invalid oci-archive: %s: the manifest lists %d layers but the config lists %d diff_ids", what, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	for j, l := range m.Layers {
		lp := blobPath(l.Digest)
		e, err := ix.lookup(lp)
		if err != nil {
			return nil, fmt.Errorf("invalid oci-archive: %s: layer %d: %w", what, j+1, err)
		}
		if e.size != l.Size {
			return nil, fmt.Errorf("invalid oci-archive: %s: layer %d: %s has %d bytes but the manifest says %d", what, j+1, lp, e.size, l.Size)
		}
		diffID := digest.Digest(cfg.RootFS.DiffIDs[j].String())
		k := jobKey{entry: e, diffID: diffID}
		job := seen[k]
		if job == nil {
			job = &layerJob{path: lp, entry: e, desc: image.LayerDesc{
				Digest:    digest.Digest(l.Digest.String()),
				Size:      l.Size,
				MediaType: string(l.MediaType),
				DiffID:    diffID,
			}}
			seen[k] = job
			*jobs = append(*jobs, job)
		} else if job.desc.MediaType != string(l.MediaType) {
			return nil, fmt.Errorf("invalid oci-archive: %s: layer %d: blob %s is listed with media types %q and %q", what, j+1, l.Digest, job.desc.MediaType, l.MediaType)
		}
		p.layers = append(p.layers, job)
	}
	return p, nil
}

// blobPath is where an OCI layout keeps blob h.
func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// readBlob reads the small blob d (a manifest, index or config) from the
// layout and verifies its size and digest.
func readBlob(ix *tarIndex, d v1.Descriptor, what string) ([]byte, error) {
	if d.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("invalid oci-archive: %s: unsupported digest %q", what, d.Digest)
	}
	want := digest.Digest(d.Digest.String())
	if err := want.Validate(); err != nil {
		return nil, fmt.Errorf("invalid oci-archive: %s: %w", what, err)
	}
	b, err := ix.readFile(blobPath(d.Digest), maxJSONSize)
	if err != nil {
		return nil, fmt.Errorf("invalid oci-archive: %s: %w", what, err)
	}
	if got := digest.FromBytes(b); got != want {
		return nil, fmt.Errorf("invalid oci-archive: %s: digest mismatch: blob %s has content with digest %s", what, want, got)
	}
	if d.Size != int64(len(b)) {
		return nil, fmt.Errorf("invalid oci-archive: %s: size mismatch: blob %s has %d bytes but its descriptor says %d", what, want, len(b), d.Size)
	}
	return b, nil
}

// tagsFromAnnotations returns the tag an index.json entry names. Docker and
// buildkit put the full name in io.containerd.image.name; podman and skopeo
// put a full name ("docker.io/library/busybox:latest") or just a tag
// ("latest") in org.opencontainers.image.ref.name. A bare tag names no
// repository, so such an image is loaded untagged, as Docker does.
func tagsFromAnnotations(a map[string]string) ([]reference.Reference, error) {
	name := a[annotationImageName]
	if name == "" {
		name = a[annotationRefName]
		if name == "" || !strings.ContainsAny(name, "/:@") {
			return nil, nil
		}
	}
	ref, err := reference.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("invalid image name annotation %q: %w", name, err)
	}
	if ref.Digest() != "" {
		// A digest names no tag to record.
		return nil, nil
	}
	return []reference.Reference{ref}, nil
}

func appendTags(have, add []reference.Reference) []reference.Reference {
	for _, t := range add {
		dup := false
		for _, h := range have {
			if h.String() == t.String() {
				dup = true
			}
		}
		if !dup {
			have = append(have, t)
		}
	}
	return have
}

// preferPlatform drops index.json entries for other platforms when an
// entry with the same name matches platform p, so that a layout holding one
// image per platform loads the right one.
func preferPlatform(descs []v1.Descriptor, p v1.Platform) []v1.Descriptor {
	name := func(d v1.Descriptor) string {
		if n := d.Annotations[annotationImageName]; n != "" {
			return n
		}
		return d.Annotations[annotationRefName]
	}
	matched := map[string]bool{}
	for _, d := range descs {
		if d.Platform != nil && image.PlatformMatches(*d.Platform, p) {
			matched[name(d)] = true
		}
	}
	var out []v1.Descriptor
	for _, d := range descs {
		if d.Platform != nil && !image.PlatformMatches(*d.Platform, p) && matched[name(d)] {
			continue
		}
		out = append(out, d)
	}
	return out
}
