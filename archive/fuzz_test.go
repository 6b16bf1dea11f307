package archive

import (
	"bytes"
	"context"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/go-digest"
)

func FuzzLoad(f *testing.F) {
	small := smallArchive(f)
	f.Add(small)
	f.Add(gzipBytes(f, small))
	f.Add(zstdBytes(f, small))
	f.Add(small[:len(small)/2])
	l := layerTar(f, "x", "y")
	f.Add(legacyArchive(f, [][]byte{gzipBytes(f, l)}, []digest.Digest{digest.FromBytes(l)}, []string{"a:b"}))
	oci, _ := ociLayout(f, func(m v1.Descriptor, _ map[digest.Digest][]byte) []v1.Descriptor {
		m.Annotations = map[string]string{annotationRefName: "docker.io/library/x:y"}
		return []v1.Descriptor{m}
	})
	f.Add(oci)
	f.Add([]byte{})
	f.Add([]byte("not a tar"))
	f.Add(tarBytes(f, tfile{name: "manifest.json", body: []byte(`[{"Config":"../x","Layers":["/etc/passwd"]}]`)}))
	f.Add(tarBytes(f, tfile{name: "oci-layout", body: []byte(`{"imageLayoutVersion":"1.0.0"}`)}, tfile{name: "index.json", body: []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2}]}`)}))

	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStore(t)
		res, err := Load(context.Background(), s, bytes.NewReader(b), nil)
		if err == nil {
			// Whatever loaded must be a complete, consistent image.
			for _, r := range res {
				img, err := s.Get(r.ID)
				if err != nil {
					t.Fatalf("loaded image %s not stored: %v", r.ID, err)
				}
				if _, err := img.Config(); err != nil {
					t.Fatalf("loaded image %s: %v", r.ID, err)
				}
			}
		}
		if left := tmpEntries(t, s); len(left) != 0 {
			t.Fatalf("temp files left: %v (err %v)", left, err)
		}
	})
}
