package registry

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/image"
	"github.com/hull-project/hull/reference"
	"github.com/opencontainers/go-digest"
)

// testRegistry is an in-process registry whose requests can be counted
// and tampered with.
type testRegistry struct {
	srv      *httptest.Server
	host     string
	blobGets atomic.Int64
	// corrupt, when set, flips a byte in blob responses for this digest.
	corrupt atomic.Value // string
	// failOnce, when set, cuts the first response for this digest short.
	failOnce atomic.Value // string
	// auth, when set, requires basic auth "user:pass".
	auth string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	tr.corrupt.Store("")
	tr.failOnce.Store("")
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tr.auth != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u+":"+p != tr.auth {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			tr.blobGets.Add(1)
			d := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
			if d == tr.corrupt.Load().(string) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				b := rec.Body.Bytes()
				b[len(b)/2] ^= 0xff
				w.WriteHeader(rec.Code)
				w.Write(b)
				return
			}
			if d == tr.failOnce.Load().(string) {
				tr.failOnce.Store("")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				b := rec.Body.Bytes()
				w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
				w.WriteHeader(rec.Code)
				w.Write(b[:len(b)/2])
				// Abort the connection mid-body.
				panic(http.ErrAbortHandler)
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(tr.srv.URL, "http://")
	return tr
}

// randomImage makes a linux/amd64 image with n gzip layers.
func randomImage(t *testing.T, n int64) v1.Image {
	t.Helper()
	img, err := random.Image(4096, n)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"sh"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (tr *testRegistry) push(t *testing.T, repoTag string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(tr.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T) *image.Store {
	t.Helper()
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustRef(t *testing.T, s string) reference.Reference {
	t.Helper()
	r, err := reference.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testOpts(t *testing.T) Options {
	return Options{ConfigDir: t.TempDir()}
}

func TestPullStoresVerifiedImage(t *testing.T) {
	tr := newTestRegistry(t)
	img := randomImage(t, 3)
	tr.push(t, "app/one:v1", img)
	s := openStore(t)
	ref := mustRef(t, tr.host+"/app/one:v1")
	res, err := Pull(context.Background(), s, ref, testOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	cfgName, _ := img.ConfigName()
	if res.Image.ID.String() != cfgName.String() {
		t.Fatalf("image ID %s, want config digest %s", res.Image.ID, cfgName)
	}
	md, _ := img.Digest()
	if res.Digest.String() != md.String() {
		t.Fatalf("digest %s, want %s", res.Digest, md)
	}
	if res.UpToDate {
		t.Fatal("first pull reported up to date")
	}
	wantRD := ref.Repository() + "@" + md.String()
	if len(res.Image.RepoDigests) != 1 || res.Image.RepoDigests[0] != wantRD {
		t.Fatalf("RepoDigests %v, want [%s]", res.Image.RepoDigests, wantRD)
	}
	cf, _ := img.ConfigFile()
	for _, d := range cf.RootFS.DiffIDs {
		dir := s.Snapshots().Path(digest.Digest(d.String()))
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "random_file_") {
			t.Fatalf("snapshot %s: %v %v", d, ents, err)
		}
	}
	// A second pull fetches no blob.
	before := tr.blobGets.Load()
	res2, err := Pull(context.Background(), s, ref, testOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	if !res2.UpToDate || tr.blobGets.Load() != before {
		t.Fatalf("second pull: upToDate=%v, blob GETs %d -> %d", res2.UpToDate, before, tr.blobGets.Load())
	}
	// By digest resolves to the same image.
	got, err := s.Resolve(wantRD)
	if err != nil || got.ID != res.Image.ID {
		t.Fatalf("resolve %s: %v %v", wantRD, got, err)
	}
}

func TestPullSharedLayersNotRefetched(t *testing.T) {
	tr := newTestRegistry(t)
	base := randomImage(t, 2)
	tr.push(t, "base:1", base)
	l, err := random.Layer(2048, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	child, err := mutate.AppendLayers(base, l)
	if err != nil {
		t.Fatal(err)
	}
	tr.push(t, "child:1", child)
	s := openStore(t)
	if _, err := Pull(context.Background(), s, mustRef(t, tr.host+"/base:1"), testOpts(t)); err != nil {
		t.Fatal(err)
	}
	before := tr.blobGets.Load()
	if _, err := Pull(context.Background(), s, mustRef(t, tr.host+"/child:1"), testOpts(t)); err != nil {
		t.Fatal(err)
	}
	// Only the new layer and the config.
	if n := tr.blobGets.Load() - before; n != 2 {
		t.Fatalf("child pull fetched %d blobs, want 2 (config + new layer)", n)
	}
}

func TestPullDigestMismatchStoresNothing(t *testing.T) {
	tr := newTestRegistry(t)
	img := randomImage(t, 2)
	tr.push(t, "bad:1", img)
	layers, _ := img.Layers()
	ld, _ := layers[1].Digest()
	tr.corrupt.Store(ld.String())
	s := openStore(t)
	_, err := Pull(context.Background(), s, mustRef(t, tr.host+"/bad:1"), testOpts(t))
	if err == nil {
		t.Fatal("pull of a corrupt layer succeeded")
	}
	if !strings.Contains(err.Error(), "digest mismatch") && !strings.Contains(err.Error(), "gzip") && !strings.Contains(err.Error(), "flate") {
		t.Fatalf("unexpected error: %v", err)
	}
	imgs, err := s.List()
	if err != nil || len(imgs) != 0 {
		t.Fatalf("images after failed pull: %v %v", imgs, err)
	}
	if s.Content().Has(digest.Digest(ld.String())) {
		t.Fatal("corrupt blob was stored")
	}
	cfgName, _ := img.ConfigName()
	if s.Content().Has(digest.Digest(cfgName.String())) {
		t.Fatal("config of a failed pull was stored")
	}
	tmp, _ := os.ReadDir(filepath.Join(s.Root(), "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}

func TestPullWrongDigestReference(t *testing.T) {
	tr := newTestRegistry(t)
	tr.push(t, "x:1", randomImage(t, 1))
	s := openStore(t)
	ref := mustRef(t, tr.host+"/x@sha256:"+strings.Repeat("ab", 32))
	if _, err := Pull(context.Background(), s, ref, testOpts(t)); err == nil {
		t.Fatal("pull of an unknown digest succeeded")
	}
}

func TestPullRetriesInterruptedLayer(t *testing.T) {
	tr := newTestRegistry(t)
	img := randomImage(t, 1)
	tr.push(t, "flaky:1", img)
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	tr.failOnce.Store(ld.String())
	s := openStore(t)
	if _, err := Pull(context.Background(), s, mustRef(t, tr.host+"/flaky:1"), testOpts(t)); err != nil {
		t.Fatalf("pull with one interrupted transfer: %v", err)
	}
}

func TestPullIndexSelectsPlatform(t *testing.T) {
	tr := newTestRegistry(t)
	amd := randomImage(t, 1)
	arm := randomImage(t, 1)
	cf, _ := arm.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture, cf.Variant = "arm64", "v8"
	arm, _ = mutate.ConfigFile(arm, cf)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	ref, _ := name.ParseReference(tr.host+"/multi:1", name.Insecure)
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		platform string
		want     v1.Image
	}{{"linux/amd64", amd}, {"linux/arm64", arm}} {
		s := openStore(t)
		p, _ := image.ParsePlatform(tc.platform)
		opts := testOpts(t)
		opts.Platform = p
		res, err := Pull(context.Background(), s, mustRef(t, tr.host+"/multi:1"), opts)
		if err != nil {
			t.Fatal(err)
		}
		cn, _ := tc.want.ConfigName()
		if res.Image.ID.String() != cn.String() {
			t.Fatalf("%s: got image %s, want %s", tc.platform, res.Image.ID, cn)
		}
		idxDigest, _ := idx.Digest()
		if res.Digest.String() != idxDigest.String() {
			t.Fatalf("%s: repo digest %s, want index digest %s", tc.platform, res.Digest, idxDigest)
		}
	}
	s := openStore(t)
	opts := testOpts(t)
	opts.Platform, _ = image.ParsePlatform("linux/s390x")
	_, err := Pull(context.Background(), s, mustRef(t, tr.host+"/multi:1"), opts)
	if err == nil || !strings.Contains(err.Error(), "no matching manifest for linux/s390x") {
		t.Fatalf("pull for a missing platform: %v", err)
	}
}

func TestConcurrentPullsOfOneImage(t *testing.T) {
	tr := newTestRegistry(t)
	img := randomImage(t, 4)
	tr.push(t, "same:1", img)
	root := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := image.Open(root)
			if err == nil {
				_, err = Pull(context.Background(), s, mustRef(t, tr.host+"/same:1"), testOpts(t))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pull %d: %v", i, err)
		}
	}
	s, _ := image.Open(root)
	imgs, _ := s.List()
	if len(imgs) != 1 {
		t.Fatalf("%d images after concurrent pulls, want 1", len(imgs))
	}
}

func TestPullNotFound(t *testing.T) {
	tr := newTestRegistry(t)
	s := openStore(t)
	_, err := Pull(context.Background(), s, mustRef(t, tr.host+"/nope:1"), testOpts(t))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("pull of a missing image: %v", err)
	}
}
