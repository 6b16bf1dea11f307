package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

// hostileCase builds a bad archive; wantErr is a substring of the error.
type hostileCase struct {
	name    string
	archive func(t *testing.T) []byte
	wantErr string
}

func manifestArchive(t *testing.T, items []dockerManifestItem, files ...tfile) []byte {
	t.Helper()
	return tarBytes(t, append(files, tfile{name: "manifest.json", body: mustJSON(t, items)})...)
}

func hostileCases() []hostileCase {
	layer := func(t *testing.T) ([]byte, digest.Digest, []byte, string) {
		l := layerTar(t, "evil", "payload")
		d := digest.FromBytes(l)
		cfg := configFor(t, d)
		return l, d, cfg, digest.FromBytes(cfg).Encoded() + ".json"
	}
	return []hostileCase{
		{"layer path escapes", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"../../etc/passwd"}}}, tfile{name: cn, body: cfg})
		}, `layer 1 path "../../etc/passwd" is not a clean relative path inside the archive`},
		{"absolute layer path", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"/etc/passwd"}}}, tfile{name: cn, body: cfg})
		}, "not a clean relative path"},
		{"unclean layer path", func(t *testing.T) []byte {
			l, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"x/../l.tar"}}}, tfile{name: cn, body: cfg}, tfile{name: "l.tar", body: l})
		}, "not a clean relative path"},
		{"config path escapes", func(t *testing.T) []byte {
			return manifestArchive(t, []dockerManifestItem{{Config: "../config.json", RepoTags: []string{"victim:latest"}}})
		}, `config path "../config.json" is not a clean relative path`},
		{"symlink escapes", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"l/layer.tar"}}},
				tfile{name: cn, body: cfg}, tfile{name: "l/layer.tar", typ: tar.TypeSymlink, link: "../../../etc/passwd"})
		}, "points outside the archive"},
		{"absolute symlink", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"l/layer.tar"}}},
				tfile{name: cn, body: cfg}, tfile{name: "l/layer.tar", typ: tar.TypeSymlink, link: "/etc/passwd"})
		}, "absolute path"},
		{"symlink loop", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"a"}}},
				tfile{name: cn, body: cfg}, tfile{name: "a", typ: tar.TypeSymlink, link: "b"}, tfile{name: "b", typ: tar.TypeSymlink, link: "a"})
		}, "too many levels of links"},
		{"missing layer", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"abc/layer.tar"}}}, tfile{name: cn, body: cfg})
		}, "abc/layer.tar is missing from the archive"},
		{"missing config", func(t *testing.T) []byte {
			return manifestArchive(t, []dockerManifestItem{{Config: "nothere.json", RepoTags: []string{"victim:latest"}}})
		}, "nothere.json is missing from the archive"},
		{"config digest mismatch", func(t *testing.T) []byte {
			l, _, cfg, _ := layer(t)
			wrong := "blobs/sha256/" + strings.Repeat("ab", 32)
			return manifestArchive(t, []dockerManifestItem{{Config: wrong, RepoTags: []string{"victim:latest"}, Layers: []string{"l.tar"}}}, tfile{name: wrong, body: cfg}, tfile{name: "l.tar", body: l})
		}, "config digest mismatch"},
		{"layer blob digest mismatch", func(t *testing.T) []byte {
			l, _, cfg, cn := layer(t)
			wrong := "blobs/sha256/" + strings.Repeat("cd", 32)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{wrong}}}, tfile{name: cn, body: cfg}, tfile{name: wrong, body: l})
		}, "digest mismatch"},
		{"diff_id mismatch", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			other := layerTar(t, "evil", "other payload")
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"l.tar"}}}, tfile{name: cn, body: cfg}, tfile{name: "l.tar", body: other})
		}, "diff_id mismatch"},
		{"diff_id mismatch, gzip layer", func(t *testing.T) []byte {
			_, _, cfg, cn := layer(t)
			other := gzipBytes(t, layerTar(t, "evil", "other payload"))
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"l.tar"}}}, tfile{name: cn, body: cfg}, tfile{name: "l.tar", body: other})
		}, "layer digest mismatch"},
		{"layer count mismatch", func(t *testing.T) []byte {
			l, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"l.tar", "l.tar"}}}, tfile{name: cn, body: cfg}, tfile{name: "l.tar", body: l})
		}, "the config lists 1 diff_ids but manifest.json lists 2 layer files"},
		{"bad tag", func(t *testing.T) []byte {
			l, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{{Config: cn, RepoTags: []string{"UPPER:case"}, Layers: []string{"l.tar"}}}, tfile{name: cn, body: cfg}, tfile{name: "l.tar", body: l})
		}, `invalid RepoTags entry "UPPER:case"`},
		{"second image bad", func(t *testing.T) []byte {
			l, _, cfg, cn := layer(t)
			return manifestArchive(t, []dockerManifestItem{
				{Config: cn, RepoTags: []string{"victim:latest"}, Layers: []string{"l.tar"}},
				{Config: cn, RepoTags: []string{"victim:2"}, Layers: []string{"gone.tar"}},
			}, tfile{name: cn, body: cfg}, tfile{name: "l.tar", body: l})
		}, "image 2 of manifest.json: layer 1: gone.tar is missing"},
		{"malformed manifest.json", func(t *testing.T) []byte {
			return tarBytes(t, tfile{name: "manifest.json", body: []byte(`{"not": "a list"}`)})
		}, "malformed manifest.json"},
		{"neither format", func(t *testing.T) []byte {
			return tarBytes(t, tfile{name: "hello.txt", body: []byte("hi")})
		}, "missing manifest.json"},
		{"not a tar", func(t *testing.T) []byte {
			return bytes.Repeat([]byte("garbage!"), 200)
		}, "not a readable tar file"},
		{"empty", func(t *testing.T) []byte { return nil }, "empty input"},
		{"oci missing oci-layout", func(t *testing.T) []byte {
			return tarBytes(t, tfile{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[]}`)})
		}, "oci-layout is missing from the archive"},
		{"oci manifest digest mismatch", func(t *testing.T) []byte {
			b, _ := ociLayout(t, func(m v1.Descriptor, blobs map[digest.Digest][]byte) []v1.Descriptor {
				for d, b := range blobs {
					if strings.Contains(string(b), "schemaVersion") {
						blobs[d] = append([]byte(" "), b[:len(b)-1]...)
					}
				}
				return []v1.Descriptor{m}
			})
			return b
		}, "digest mismatch"},
		{"oci missing layer blob", func(t *testing.T) []byte {
			b, _ := ociLayout(t, func(m v1.Descriptor, blobs map[digest.Digest][]byte) []v1.Descriptor {
				for d, b := range blobs {
					if bytes.HasPrefix(b, []byte("hello")) {
						delete(blobs, d)
					}
				}
				return []v1.Descriptor{m}
			})
			return b
		}, "is missing from the archive"},
	}
}

func TestLoadHostileArchives(t *testing.T) {
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			// An image the bad archive tries to overwrite.
			loadBytes(t, s, smallArchive(t))
			if err := s.Tag("hello:latest", mustRef(t, "victim:latest")); err != nil {
				t.Fatal(err)
			}
			before := storeState(t, s)
			res, err := Load(context.Background(), s, bytes.NewReader(c.archive(t)), nil)
			if err == nil {
				t.Fatalf("load succeeded: %+v", res)
			}
			if !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("error %q does not mention %q", err, c.wantErr)
			}
			if after := storeState(t, s); after != before {
				t.Errorf("store changed:\n%s\nvs\n%s", before, after)
			}
			if left := tmpEntries(t, s); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}
