package image

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	hexA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hexB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var validManifest = `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":10,"digest":"sha256:` + hexA + `"},
"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":20,"digest":"sha256:` + hexB + `"}]}`

func TestParseManifest(t *testing.T) {
	tests := []struct {
		name, doc, mt, wantErr string
	}{
		{name: "valid docker", doc: validManifest},
		{name: "valid oci sniffed", doc: strings.Replace(strings.Replace(validManifest, `"mediaType":"application/vnd.docker.distribution.manifest.v2+json",`, "", 1), "application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json", 1)},
		{name: "schema1", doc: `{"schemaVersion":1,"fsLayers":[]}`, wantErr: "schema 1"},
		{name: "not json", doc: `{`, wantErr: "malformed manifest"},
		{name: "trailing", doc: validManifest + `{}`, wantErr: "malformed manifest"},
		{name: "bad schema version", doc: strings.Replace(validManifest, `"schemaVersion":2`, `"schemaVersion":3`, 1), wantErr: "schemaVersion 3"},
		{name: "bad digest", doc: strings.Replace(validManifest, "sha256:"+hexB, "sha256:xyz", 1), wantErr: "malformed manifest"},
		{name: "md5 digest", doc: strings.Replace(validManifest, "sha256:"+hexB, "md5:"+hexB[:32], 1), wantErr: "malformed manifest"},
		{name: "negative size", doc: strings.Replace(validManifest, `"size":20`, `"size":-1`, 1), wantErr: "negative size"},
		{name: "unknown layer type", doc: strings.Replace(validManifest, "rootfs.diff.tar.gzip", "rootfs.diff.tar.lz4", 1), wantErr: "unsupported layer media type"},
		{name: "artifact", doc: strings.Replace(validManifest, "application/vnd.docker.container.image.v1+json", "application/vnd.cncf.helm.config.v1+json", 1), wantErr: "not a container image"},
		{name: "media type disagrees", doc: validManifest, mt: MediaTypeOCIManifest, wantErr: "does not match"},
		{name: "index as manifest", doc: `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, wantErr: "unsupported manifest media type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseManifest([]byte(tt.doc), tt.mt)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Layers) != 1 || m.Config.Digest.Hex != hexA {
				t.Fatalf("parsed %+v", m)
			}
		})
	}
}

func TestSelectManifest(t *testing.T) {
	doc := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:` + hexA + `","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:` + hexB + `","platform":{"os":"linux","architecture":"amd64"}},
{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:` + hexB + `","platform":{"os":"unknown","architecture":"unknown"}}]}`
	ix, err := ParseIndex([]byte(doc), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ p, want string }{{"linux/amd64", hexB}, {"linux/arm64", hexA}, {"linux/aarch64/v8", hexA}} {
		p, err := ParsePlatform(tt.p)
		if err != nil {
			t.Fatal(err)
		}
		d, err := SelectManifest(ix, p)
		if err != nil || d.Digest.Hex != tt.want {
			t.Fatalf("%s: %v %v", tt.p, d.Digest, err)
		}
	}
	_, err = SelectManifest(ix, v1.Platform{OS: "linux", Architecture: "riscv64"})
	if err == nil || !strings.Contains(err.Error(), "linux/arm64/v8, linux/amd64") {
		t.Fatalf("missing platform: %v", err)
	}
	for _, bad := range []string{"linux", "/amd64", "a/b/c/d"} {
		if _, err := ParsePlatform(bad); err == nil {
			t.Fatalf("ParsePlatform(%q) accepted", bad)
		}
	}
}

func TestParseConfig(t *testing.T) {
	if _, err := ParseConfig([]byte(`{"rootfs":{"type":"layers","diff_ids":["sha256:` + hexA + `"]}}`)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"rootfs":{"type":"other"}}`, `{"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}`, `[]`, ``} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Fatalf("ParseConfig(%q) accepted", bad)
		}
	}
}

// FuzzParseManifest feeds arbitrary documents to the manifest, index and
// config decoders: they must never panic, and whatever they accept must
// satisfy the invariants the rest of hull relies on.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(validManifest))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:` + hexA + `","platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`{"rootfs":{"type":"layers","diff_ids":["sha256:` + hexA + `"]}}`))
	f.Add([]byte(`{"schemaVersion":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ParseManifest(b, ""); err == nil {
			if m.SchemaVersion != 2 || len(m.Config.Digest.Hex) != 64 {
				t.Fatalf("accepted a manifest with bad invariants: %+v", m)
			}
			for _, l := range m.Layers {
				if _, err := LayerCompression(string(l.MediaType)); err != nil || l.Size < 0 || len(l.Digest.Hex) != 64 {
					t.Fatalf("accepted bad layer %+v", l)
				}
			}
		}
		if ix, err := ParseIndex(b, ""); err == nil {
			for _, m := range ix.Manifests {
				if len(m.Digest.Hex) != 64 || m.Size < 0 {
					t.Fatalf("accepted bad index entry %+v", m)
				}
			}
			_, _ = SelectManifest(ix, DefaultPlatform())
		}
		if c, err := ParseConfig(b); err == nil {
			for _, d := range c.RootFS.DiffIDs {
				if len(d.Hex) != 64 {
					t.Fatalf("accepted bad diff_id %v", d)
				}
			}
		}
		_, _ = SniffMediaType(b)
	})
}
