package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestMain(m *testing.M) {
	// Helper mode for TestRemoveUnprivileged: remove a snapshot as the
	// unprivileged user this process was started as.
	if root := os.Getenv("SNAPSHOT_TEST_REMOVE_ROOT"); root != "" {
		s, err := Open(root)
		if err == nil {
			err = s.Remove(digest.Digest(os.Getenv("SNAPSHOT_TEST_REMOVE_DIGEST")))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Go's fuzzer minimizes every new input for up to 60s by default, which
	// starves short -fuzz runs of this filesystem-bound target (and trips
	// golang/go#52569 when -fuzztime ends mid-minimization). An explicit
	// -test.fuzzminimizetime still wins.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.fuzzminimizetime" })
	if !explicit {
		_ = flag.Set("test.fuzzminimizetime", "3s")
	}
	os.Exit(m.Run())
}

func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// assertClean fails if root/tmp holds anything or snapshots other than want exist.
func assertClean(t *testing.T, s *Store, root string, want ...digest.Digest) {
	t.Helper()
	if got := names(t, filepath.Join(root, "tmp")); len(got) != 0 {
		t.Errorf("tmp holds %q", got)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("snapshots = %v, want %v", got, want)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestUnpack(t *testing.T) {
	s, root := openStore(t)
	layer := mkTar(t, dir("etc/"), file("etc/hosts", "hosts"), symlink("lnk", "etc/hosts"), hardlink("hl", "etc/hosts"),
		file("etc/.wh.old", ""))
	// Padding after the end-of-archive marker is part of the diffID.
	layer = append(layer, make([]byte, 10240)...)
	d := digest.FromBytes(layer)

	cr := &countingReader{r: bytes.NewReader(layer)}
	info, err := s.Unpack(context.Background(), d, cr)
	if err != nil {
		t.Fatal(err)
	}
	if cr.n != int64(len(layer)) {
		t.Errorf("read %d of %d bytes", cr.n, len(layer))
	}
	if info.Existed || info.DiffID != d || info.Size != int64(len("hosts")+len("etc/hosts")) {
		t.Errorf("info = %+v", info)
	}
	if !s.Has(d) || readFile(t, filepath.Join(s.Path(d), "etc/hosts")) != "hosts" {
		t.Fatal("snapshot missing")
	}
	if s.Path(d) != filepath.Join(root, "snapshots", "sha256", d.Encoded()) {
		t.Errorf("Path = %s", s.Path(d))
	}
	if st := lstat(t, s.Path(d)); st.Mode&0o7777 != 0o755 {
		t.Errorf("snapshot root mode %o", st.Mode)
	}
	if n, err := s.Usage(d); err != nil || n != info.Size {
		t.Errorf("Usage = %d, %v; want %d", n, err, info.Size)
	}
	assertClean(t, s, root, d)

	// Again: the stream is still read (and verified) to the end.
	cr = &countingReader{r: bytes.NewReader(layer)}
	info, err = s.Unpack(context.Background(), d, cr)
	if err != nil || !info.Existed || cr.n != int64(len(layer)) {
		t.Errorf("second Unpack: %+v, %v, read %d", info, err, cr.n)
	}
	if _, err := s.Unpack(context.Background(), d, bytes.NewReader(layer[:len(layer)-1])); err == nil {
		t.Error("existing snapshot: a wrong stream was accepted")
	}
	assertClean(t, s, root, d)

	if err := s.Remove(d); err != nil {
		t.Fatal(err)
	}
	if s.Has(d) {
		t.Error("Has after Remove")
	}
	if err := s.Remove(d); err != nil {
		t.Errorf("Remove of a missing snapshot: %v", err)
	}
	assertClean(t, s, root)
}

func TestUnpackDigestMismatch(t *testing.T) {
	s, root := openStore(t)
	layer := mkTar(t, file("a", "a"), file("b", strings.Repeat("b", 3<<20)))
	wrong := digest.FromString("something else")
	_, err := s.Unpack(context.Background(), wrong, bytes.NewReader(layer))
	if err == nil || !strings.Contains(err.Error(), wrong.String()) || !strings.Contains(err.Error(), digest.FromBytes(layer).String()) {
		t.Fatalf("err = %v, want a mismatch naming both digests", err)
	}
	assertClean(t, s, root)
	if s.Has(wrong) {
		t.Error("snapshot created")
	}
}

func TestUnpackBadLayer(t *testing.T) {
	s, root := openStore(t)
	for _, layer := range [][]byte{
		mkTar(t, file("ok", "x"), file("../escape", "x")),
		mkTar(t, file("big", strings.Repeat("x", 5000)))[:2000],
	} {
		d := digest.FromBytes(layer)
		if _, err := s.Unpack(context.Background(), d, bytes.NewReader(layer)); err == nil {
			t.Error("bad layer accepted")
		} else if !strings.HasPrefix(err.Error(), "unpack "+d.String()+": ") {
			t.Errorf("err = %v, want it to name the diffID", err)
		}
	}
	if _, err := s.Unpack(context.Background(), "sha256:../../x", bytes.NewReader(nil)); err == nil {
		t.Error("invalid diffID accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	layer := mkTar(t, file("a", "a"))
	if _, err := s.Unpack(ctx, digest.FromBytes(layer), bytes.NewReader(layer)); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: err = %v", err)
	}
	assertClean(t, s, root)
	if s.Path("sha256:../../x") != "" || s.Has("bogus") {
		t.Error("invalid digests must have no path")
	}
}

func TestUnpackConcurrent(t *testing.T) {
	s, root := openStore(t)
	var ents []ent
	for i := range 200 {
		ents = append(ents, file(fmt.Sprintf("d%d/f%d", i%10, i), strings.Repeat("x", i*100)))
	}
	layer := mkTar(t, ents...)
	d := digest.FromBytes(layer)
	const n = 8
	var wg sync.WaitGroup
	infos := make([]Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// A second Store on the same root acts as another process.
			st := s
			if i%2 == 1 {
				var err error
				if st, err = Open(root); err != nil {
					errs[i] = err
					return
				}
			}
			infos[i], errs[i] = st.Unpack(context.Background(), d, bytes.NewReader(layer))
		})
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Unpack %d: %v", i, errs[i])
		}
		if !infos[i].Existed {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d Unpacks created the snapshot, want 1", created)
	}
	if got := names(t, s.Path(d)); len(got) != 10 {
		t.Errorf("snapshot holds %q", got)
	}
	assertClean(t, s, root, d)
}

func TestOpenCleansStaleTemp(t *testing.T) {
	s, root := openStore(t)
	stale := filepath.Join(root, "tmp", tmpPrefix+"crashed")
	if err := os.MkdirAll(filepath.Join(stale, "fs", "ro"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "fs", "ro", "f"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(stale, "fs", "ro"), 0o555)
	other := filepath.Join(root, "tmp", "blob-123") // not ours
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := s.newTemp() // held by a live "process"
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	got := names(t, filepath.Join(root, "tmp"))
	if want := []string{"blob-123", filepath.Base(live.path)}; !slices.Equal(got, want) {
		t.Errorf("tmp holds %q, want %q", got, want)
	}
	live.release()
	if _, err := os.Stat(live.path); !errors.Is(err, os.ErrNotExist) {
		t.Error("released temp dir still there")
	}
}

func TestRemoveReadOnly(t *testing.T) {
	s, root := openStore(t)
	layer := mkTar(t, dir("ro/").withMode(0o555), dir("ro/none/").withMode(0), file("ro/none/f", "x").withMode(0o400), dir("ro/x/").withMode(0o500))
	d := digest.FromBytes(layer)
	if _, err := s.Unpack(context.Background(), d, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(d); err != nil {
		t.Fatal(err)
	}
	assertClean(t, s, root)
}

// TestRemoveUnprivileged removes a snapshot full of read-only directories
// as an unprivileged user, for whom permissions are enforced.
func TestRemoveUnprivileged(t *testing.T) {
	requireRoot(t)
	const uid = 65534
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "snapshot.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "root")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	own := func(h *tar.Header) { h.Uid, h.Gid = uid, uid }
	layer := mkTar(t, dir("ro/").with(own).withMode(0o555), dir("ro/none/").with(own).withMode(0),
		file("ro/none/f", "x").with(own).withMode(0o400), dir("ro/x/").with(own).withMode(0o500),
		file("ro/x/y", "y").with(own))
	d := digest.FromBytes(layer)
	if _, err := s.Unpack(context.Background(), d, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	err = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "SNAPSHOT_TEST_REMOVE_ROOT="+root, "SNAPSHOT_TEST_REMOVE_DIGEST="+d.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Remove as uid %d: %v\n%s", uid, err, out)
	}
	assertClean(t, s, root)
}

func TestListIgnoresJunk(t *testing.T) {
	s, root := openStore(t)
	layer := mkTar(t, file("a", "a"))
	d := digest.FromBytes(layer)
	if _, err := s.Unpack(context.Background(), d, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	for _, junk := range []string{"snapshots/sha256/nothex", "snapshots/md5/abc"} {
		if err := os.MkdirAll(filepath.Join(root, junk), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "snapshots/sha256", strings.Repeat("a", 64)), nil, 0o600)
	got, err := s.List()
	if err != nil || !slices.Equal(got, []digest.Digest{d}) {
		t.Errorf("List = %v, %v", got, err)
	}
}

func (e ent) withMode(m int64) ent {
	e.h.Mode = m
	return e
}
