package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types hull reads and writes.
const (
	MediaTypeDockerManifest     = string(types.DockerManifestSchema2)
	MediaTypeDockerManifestList = string(types.DockerManifestList)
	MediaTypeDockerConfig       = string(types.DockerConfigJSON)
	MediaTypeDockerLayer        = string(types.DockerLayer)
	MediaTypeDockerLayerTar     = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeOCIManifest        = string(types.OCIManifestSchema1)
	MediaTypeOCIIndex           = string(types.OCIImageIndex)
	MediaTypeOCIConfig          = string(types.OCIConfigJSON)
	MediaTypeOCILayer           = string(types.OCILayer)
	MediaTypeOCILayerZstd       = string(types.OCILayerZStd)
	MediaTypeOCILayerTar        = string(types.OCIUncompressedLayer)
)

// maxManifestSize bounds manifests, indexes and configs read from
// untrusted sources.
const maxManifestSize = 8 << 20

// Compression names a layer blob's compression.
type Compression int

// Layer compressions.
const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

// LayerCompression returns the compression of a layer media type, or an
// error naming the media type if hull cannot unpack it.
func LayerCompression(mediaType string) (Compression, error) {
	switch mediaType {
	case MediaTypeDockerLayer, MediaTypeOCILayer, string(types.DockerForeignLayer), string(types.OCIRestrictedLayer):
		return Gzip, nil
	case MediaTypeOCILayerZstd:
		return Zstd, nil
	case MediaTypeOCILayerTar, MediaTypeDockerLayerTar, string(types.OCIUncompressedRestrictedLayer):
		return Uncompressed, nil
	}
	return 0, fmt.Errorf("unsupported layer media type %q", mediaType)
}

// IsIndexMediaType reports whether mt is an OCI index or Docker manifest list.
func IsIndexMediaType(mt string) bool {
	return mt == MediaTypeOCIIndex || mt == MediaTypeDockerManifestList
}

// IsManifestMediaType reports whether mt is an OCI or Docker v2 image manifest.
func IsManifestMediaType(mt string) bool {
	return mt == MediaTypeOCIManifest || mt == MediaTypeDockerManifest
}

// SniffMediaType returns the media type a manifest or index document
// declares, guessing from its shape when the mediaType field is absent (OCI
// allows that).
func SniffMediaType(b []byte) (string, error) {
	var probe struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		Manifests     json.RawMessage   `json:"manifests"`
		Config        json.RawMessage   `json:"config"`
		FSLayers      []json.RawMessage `json:"fsLayers"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", fmt.Errorf("malformed manifest: %w", err)
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.SchemaVersion == 1 || probe.FSLayers != nil:
		return "", errors.New("unsupported manifest: Docker image manifest schema 1 is deprecated; push the image again with a current client")
	case probe.Manifests != nil:
		return MediaTypeOCIIndex, nil
	case probe.Config != nil:
		return MediaTypeOCIManifest, nil
	}
	return "", errors.New("malformed manifest: neither an image manifest nor an index")
}

func decodeStrict(b []byte, v any, what string) error {
	if len(b) > maxManifestSize {
		return fmt.Errorf("malformed %s: %d bytes is larger than the %d byte limit", what, len(b), maxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed %s: %w", what, err)
	}
	if dec.More() {
		return fmt.Errorf("malformed %s: trailing data after the JSON document", what)
	}
	return nil
}

func checkDescriptor(d v1.Descriptor, what string) error {
	if d.Digest.Algorithm != "sha256" || len(d.Digest.Hex) != 64 {
		return fmt.Errorf("%s: invalid or unsupported digest %q", what, d.Digest.String())
	}
	for _, c := range d.Digest.Hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%s: invalid digest %q", what, d.Digest.String())
		}
	}
	if d.Size < 0 {
		return fmt.Errorf("%s %s: negative size %d", what, d.Digest, d.Size)
	}
	return nil
}

// ParseManifest decodes and validates an image manifest of the given media
// type ("" to sniff it).
func ParseManifest(b []byte, mediaType string) (*v1.Manifest, error) {
	if mediaType == "" {
		mt, err := SniffMediaType(b)
		if err != nil {
			return nil, err
		}
		mediaType = mt
	}
	if !IsManifestMediaType(mediaType) {
		return nil, fmt.Errorf("unsupported manifest media type %q", mediaType)
	}
	var m v1.Manifest
	if err := decodeStrict(b, &m, "manifest"); err != nil {
		return nil, err
	}
	if m.SchemaVersion != 2 {
		return nil, fmt.Errorf("malformed manifest: schemaVersion %d, want 2", m.SchemaVersion)
	}
	if m.MediaType != "" && string(m.MediaType) != mediaType {
		return nil, fmt.Errorf("malformed manifest: mediaType %q does not match %q", m.MediaType, mediaType)
	}
	m.MediaType = types.MediaType(mediaType)
	switch string(m.Config.MediaType) {
	case MediaTypeDockerConfig, MediaTypeOCIConfig:
	case "":
		return nil, errors.New("malformed manifest: config descriptor has no media type")
	default:
		return nil, fmt.Errorf("not a container image: config media type %q (an artifact?)", m.Config.MediaType)
	}
	if err := checkDescriptor(m.Config, "manifest config"); err != nil {
		return nil, fmt.Errorf("malformed manifest: %w", err)
	}
	for i, l := range m.Layers {
		if err := checkDescriptor(l, fmt.Sprintf("layer %d", i)); err != nil {
			return nil, fmt.Errorf("malformed manifest: %w", err)
		}
		if _, err := LayerCompression(string(l.MediaType)); err != nil {
			return nil, fmt.Errorf("malformed manifest: layer %d: %w", i, err)
		}
	}
	return &m, nil
}

// ParseIndex decodes and validates an OCI index or Docker manifest list.
func ParseIndex(b []byte, mediaType string) (*v1.IndexManifest, error) {
	if mediaType == "" {
		mt, err := SniffMediaType(b)
		if err != nil {
			return nil, err
		}
		mediaType = mt
	}
	if !IsIndexMediaType(mediaType) {
		return nil, fmt.Errorf("unsupported index media type %q", mediaType)
	}
	var ix v1.IndexManifest
	if err := decodeStrict(b, &ix, "index"); err != nil {
		return nil, err
	}
	if ix.SchemaVersion != 2 {
		return nil, fmt.Errorf("malformed index: schemaVersion %d, want 2", ix.SchemaVersion)
	}
	if ix.MediaType != "" && string(ix.MediaType) != mediaType {
		return nil, fmt.Errorf("malformed index: mediaType %q does not match %q", ix.MediaType, mediaType)
	}
	ix.MediaType = types.MediaType(mediaType)
	for i, m := range ix.Manifests {
		if err := checkDescriptor(m, fmt.Sprintf("index entry %d", i)); err != nil {
			return nil, fmt.Errorf("malformed index: %w", err)
		}
	}
	return &ix, nil
}

// ParseConfig decodes and validates an image config.
func ParseConfig(b []byte) (*v1.ConfigFile, error) {
	var c v1.ConfigFile
	if err := decodeStrict(b, &c, "image config"); err != nil {
		return nil, err
	}
	if c.RootFS.Type != "layers" {
		return nil, fmt.Errorf("malformed image config: rootfs type %q, want \"layers\"", c.RootFS.Type)
	}
	for i, d := range c.RootFS.DiffIDs {
		if err := checkDescriptor(v1.Descriptor{Digest: d}, fmt.Sprintf("diff_id %d", i)); err != nil {
			return nil, fmt.Errorf("malformed image config: %w", err)
		}
	}
	return &c, nil
}

// DefaultPlatform is the platform hull selects from an index when the user
// names none: linux and this machine's architecture.
func DefaultPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// ParsePlatform parses "os/arch[/variant]" as in docker's --platform.
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return DefaultPlatform(), nil
	}
	parts := strings.Split(strings.ToLower(s), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/amd64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	}
	if p.Architecture == "arm64" && p.Variant == "" {
		p.Variant = "v8"
	}
	return p, nil
}

// PlatformString formats p as "os/arch[/variant]".
func PlatformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// PlatformMatches reports whether an image for have runs as want.
func PlatformMatches(have, want v1.Platform) bool {
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	if want.Variant == "" || have.Variant == "" {
		return true
	}
	return have.Variant == want.Variant
}

// SelectManifest picks the manifest for platform p from an index.
func SelectManifest(ix *v1.IndexManifest, p v1.Platform) (v1.Descriptor, error) {
	var avail []string
	for _, m := range ix.Manifests {
		if !IsManifestMediaType(string(m.MediaType)) {
			continue
		}
		if m.Platform == nil {
			continue
		}
		if m.Platform.OS == "unknown" {
			continue // attestations
		}
		if PlatformMatches(*m.Platform, p) {
			return m, nil
		}
		avail = append(avail, PlatformString(*m.Platform))
	}
	return v1.Descriptor{}, fmt.Errorf("no matching manifest for %s in the manifest list entries (available: %s)", PlatformString(p), strings.Join(avail, ", "))
}
