package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hull-project/hull/internal/testutil"
	"github.com/hull-project/hull/progress"
)

type eventLog struct {
	mu     sync.Mutex
	events []progress.Event
}

func (l *eventLog) Report(e progress.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(action string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if strings.HasPrefix(e.Action, action) {
			n++
		}
	}
	return n
}

// TestPushMountsAndRoundTrips runs against Debian's real registry
// (distribution), which keeps blobs per repository and supports mounts.
func TestPushMountsAndRoundTrips(t *testing.T) {
	testutil.RequireBinary(t, "docker-registry")
	tr := &testRegistry{host: testutil.StartRegistry(t)}
	img := randomImage(t, 3)
	tr.push(t, "src/app:1", img)
	s := openStore(t)
	ctx := context.Background()
	if _, err := Pull(ctx, s, mustRef(t, tr.host+"/src/app:1"), testOpts(t)); err != nil {
		t.Fatal(err)
	}
	dst := mustRef(t, tr.host+"/dst/app:2")
	if err := s.Tag(tr.host+"/src/app:1", dst); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{}
	opts := testOpts(t)
	opts.Reporter = log
	res, err := Push(ctx, s, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := img.Digest()
	if res.Digest.String() != md.String() {
		t.Fatalf("pushed digest %s, want unchanged %s", res.Digest, md)
	}
	if n := log.count("Mounted from"); n != 3 {
		t.Fatalf("%d layers mounted, want 3 (events %+v)", n, log.events)
	}
	// Pushing again finds every layer present.
	log2 := &eventLog{}
	opts.Reporter = log2
	if _, err := Push(ctx, s, dst, opts); err != nil {
		t.Fatal(err)
	}
	if n := log2.count("Layer already exists"); n != 3 {
		t.Fatalf("second push: %d layers already existed, want 3", n)
	}
	// The pushed image pulls into a fresh store as the same image.
	s2 := openStore(t)
	r2, err := Pull(ctx, s2, dst, testOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	cn, _ := img.ConfigName()
	if r2.Image.ID.String() != cn.String() {
		t.Fatalf("round trip changed image ID: %s vs %s", r2.Image.ID, cn)
	}
	got, _ := s.Resolve(dst.String())
	found := false
	for _, rd := range got.RepoDigests {
		if rd == dst.Repository()+"@"+md.String() {
			found = true
		}
	}
	if !found {
		t.Fatalf("push did not record the repo digest: %v", got.RepoDigests)
	}
}

func TestPushCompressesUncompressedLayers(t *testing.T) {
	tr := newTestRegistry(t)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := strings.Repeat("uncompressed layer ", 500)
	tw.WriteHeader(&tar.Header{Name: "etc/data", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write([]byte(body))
	tw.Close()
	l := static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)
	base := randomImage(t, 0)
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		t.Fatal(err)
	}
	tr.push(t, "raw:1", img)
	s := openStore(t)
	ctx := context.Background()
	if _, err := Pull(ctx, s, mustRef(t, tr.host+"/raw:1"), testOpts(t)); err != nil {
		t.Fatal(err)
	}
	dst := mustRef(t, tr.host+"/gz:1")
	if err := s.Tag(tr.host+"/raw:1", dst); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, s, dst, testOpts(t)); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(dst.String(), name.Insecure)
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Layers []struct{ MediaType string } `json:"layers"`
	}
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || !strings.HasSuffix(m.Layers[0].MediaType, "gzip") {
		t.Fatalf("pushed layers %+v, want one gzip layer", m.Layers)
	}
	s2 := openStore(t)
	r2, err := Pull(ctx, s2, dst, testOpts(t))
	if err != nil {
		t.Fatal(err)
	}
	cn, _ := img.ConfigName()
	if r2.Image.ID.String() != cn.String() {
		t.Fatalf("image ID changed by compression: %s vs %s", r2.Image.ID, cn)
	}
}

func TestPushMissingTag(t *testing.T) {
	s := openStore(t)
	_, err := Push(context.Background(), s, mustRef(t, "127.0.0.1:1/none:1"), testOpts(t))
	if err == nil || !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("push of a missing image: %v", err)
	}
}

func TestLoginPullLogout(t *testing.T) {
	tr := newTestRegistry(t)
	tr.push(t, "private:1", randomImage(t, 1))
	tr.auth = "alice:s3cret"
	ctx := context.Background()
	opts := testOpts(t)
	s := openStore(t)
	ref := mustRef(t, tr.host+"/private:1")
	if _, err := Pull(ctx, s, ref, opts); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("anonymous pull of a private image: %v", err)
	}
	if err := Login(ctx, tr.host, "alice", "wrong", opts); err == nil || !strings.Contains(err.Error(), "incorrect username or password") {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(opts.ConfigDir, "config.json")); err == nil {
		t.Fatal("failed login wrote credentials")
	}
	if err := Login(ctx, tr.host, "alice", "s3cret", opts); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(opts.ConfigDir, "config.json"))
	if err != nil || !strings.Contains(string(b), tr.host) {
		t.Fatalf("config.json after login: %s %v", b, err)
	}
	if _, err := Pull(ctx, s, ref, opts); err != nil {
		t.Fatalf("pull after login: %v", err)
	}
	found, err := Logout(tr.host, opts)
	if err != nil || !found {
		t.Fatalf("logout: %v %v", found, err)
	}
	b, _ = os.ReadFile(filepath.Join(opts.ConfigDir, "config.json"))
	if strings.Contains(string(b), tr.host) {
		t.Fatalf("credentials left after logout: %s", b)
	}
}

func TestPlainHTTPRefusedForRemoteRegistries(t *testing.T) {
	g := &guardTransport{host: "registry.example.com", allow: false}
	req, _ := httpNewRequest("http://registry.example.com/v2/")
	if _, err := g.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain HTTP") {
		t.Fatalf("plain HTTP to a non-insecure registry: %v", err)
	}
	o := Options{Insecure: []string{"10.0.0.5:5000"}}
	for host, want := range map[string]bool{"localhost:5000": true, "127.0.0.1:80": true, "[::1]:5000": true, "10.0.0.5:5000": true, "10.0.0.6:5000": false, "docker.io": false} {
		if got := o.insecureAllowed(host); got != want {
			t.Errorf("insecureAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func httpNewRequest(u string) (*http.Request, error) { return http.NewRequest(http.MethodGet, u, nil) }
