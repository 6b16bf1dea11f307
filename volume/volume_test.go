package volume

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Helper mode for TestKillDuringMutations: create, fill and remove
	// volumes until killed.
	if root := os.Getenv("VOLUME_TEST_CHURN_ROOT"); root != "" {
		churn(root)
		os.Exit(0)
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

func mustCreate(t *testing.T, s *Store, name string, o CreateOptions) *Volume {
	t.Helper()
	v, err := s.Create(name, o)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	return v
}

func names(vols []*Volume) []string {
	var out []string
	for _, v := range vols {
		out = append(out, v.Name)
	}
	return out
}

func listNames(t *testing.T, s *Store) []string {
	t.Helper()
	vols, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	return names(vols)
}

func TestCreateGetListRemove(t *testing.T) {
	s, root := openStore(t)
	before := time.Now().Add(-time.Second)
	v := mustCreate(t, s, "data", CreateOptions{Labels: map[string]string{"a": "1"}})
	want := filepath.Join(root, "volumes", "data", "_data")
	if real, _ := filepath.EvalSymlinks(filepath.Join(root, "volumes")); real != "" {
		want = filepath.Join(real, "data", "_data")
	}
	if v.Name != "data" || v.Driver != "local" || v.Mountpoint != want || v.Anonymous || v.Options != nil ||
		v.Labels["a"] != "1" || v.CreatedAt.Before(before) || v.CreatedAt.After(time.Now()) {
		t.Errorf("created %+v", v)
	}
	fi, err := os.Stat(v.Mountpoint)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Fatalf("data dir: %v %v", fi, err)
	}
	got, err := s.Get("data")
	if err != nil || got.Name != "data" || got.Labels["a"] != "1" || !got.CreatedAt.Equal(v.CreatedAt) {
		t.Errorf("Get = %+v, %v", got, err)
	}
	anon := mustCreate(t, s, "", CreateOptions{})
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon.Name) || !anon.Anonymous {
		t.Errorf("anonymous volume %+v", anon)
	}
	if _, ok := anon.Labels[AnonymousLabel]; !ok {
		t.Errorf("anonymous volume without %s: %v", AnonymousLabel, anon.Labels)
	}
	if l := listNames(t, s); !slices.Equal(l, slices.Sorted(slices.Values([]string{"data", anon.Name}))) {
		t.Errorf("List = %v", l)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := got.Size(); err != nil || n != 5 {
		t.Errorf("Size = %d, %v", n, err)
	}

	err = s.Remove("data", false, []string{"c1", "c2"})
	if !errors.Is(err, ErrInUse) || err.Error() != "remove data: volume is in use - [c1, c2]" {
		t.Errorf("Remove in use: %v", err)
	}
	if err := s.Remove("data", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("data"); !errors.Is(err, ErrNotFound) || err.Error() != "get data: no such volume" {
		t.Errorf("Get removed: %v", err)
	}
	if err := s.Remove("data", false, nil); !errors.Is(err, ErrNotFound) || err.Error() != "get data: no such volume" {
		t.Errorf("Remove missing: %v", err)
	}
	if err := s.Remove("data", true, nil); err != nil {
		t.Errorf("Remove -f missing: %v", err)
	}
	if err := s.Remove("../../etc", true, nil); err != nil {
		t.Errorf("Remove -f bad name: %v", err)
	}
	if _, err := s.Get("../volumes"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(../volumes): %v", err)
	}
	assertNoTemp(t, s)
}

func assertNoTemp(t *testing.T, s *Store) {
	t.Helper()
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temp dir left: %s", e.Name())
		}
	}
}

func TestInvalidNames(t *testing.T) {
	s, _ := openStore(t)
	const chars = `only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`
	for _, tc := range []struct{ name, err string }{
		{"a", "create a: volume name is too short, names should be at least two alphanumeric characters"},
		{"a/b", `create a/b: "a/b" includes invalid characters for a local volume name, ` + chars},
		{"/abs", `create /abs: "/abs" includes invalid characters for a local volume name, ` + chars},
		{"..", `create ..: ".." includes invalid characters for a local volume name, ` + chars},
		{".hidden", `create .hidden: ".hidden" includes invalid characters for a local volume name, ` + chars},
		{"_x", `create _x: "_x" includes invalid characters for a local volume name, ` + chars},
		{"-x", `create -x: "-x" includes invalid characters for a local volume name, ` + chars},
		{"a b", `create a b: "a b" includes invalid characters for a local volume name, ` + chars},
		{"a:b", `create a:b: "a:b" includes invalid characters for a local volume name, ` + chars},
		{"tab\t", `create tab	: "tab\t" includes invalid characters for a local volume name, ` + chars},
		{"é1", `create é1: "é1" includes invalid characters for a local volume name, ` + chars},
		{strings.Repeat("x", 256), ""},
	} {
		_, err := s.Create(tc.name, CreateOptions{})
		if err == nil || !errors.Is(err, ErrInvalid) || (tc.err != "" && err.Error() != tc.err) {
			t.Errorf("Create(%q) = %v, want %q", tc.name, err, tc.err)
		}
	}
	for _, ok := range []string{"ab", "0a", "A.b-c_d", strings.Repeat("y", 255)} {
		mustCreate(t, s, ok, CreateOptions{})
	}
	if l := listNames(t, s); len(l) != 4 {
		t.Errorf("List = %v", l)
	}
	assertNoTemp(t, s)
}

func TestCreateOptions(t *testing.T) {
	s, _ := openStore(t)
	for _, tc := range []struct {
		o   CreateOptions
		err string
	}{
		{CreateOptions{Driver: "nfsplugin"}, `create v1: error looking up volume plugin nfsplugin: plugin "nfsplugin" not found`},
		{CreateOptions{Options: map[string]string{"bogus": "1"}}, `create v1: invalid option: "bogus"`},
		{CreateOptions{Options: map[string]string{"type": "tmpfs"}}, `create v1: missing required option: "device"`},
		{CreateOptions{Options: map[string]string{"device": "tmpfs"}}, `create v1: missing required option: "type"`},
		{CreateOptions{Options: map[string]string{"o": "size=1m", "device": "x"}}, `create v1: missing required option: "type"`},
		{CreateOptions{Options: map[string]string{"size": "10m"}}, `create v1: quota size requested but no quota support`},
		{CreateOptions{Options: map[string]string{"size": "lots"}}, `create v1: invalid size: 'lots'`},
	} {
		if _, err := s.Create("v1", tc.o); err == nil || err.Error() != tc.err || !errors.Is(err, ErrInvalid) {
			t.Errorf("Create(%+v) = %v, want %q", tc.o, err, tc.err)
		}
	}
	if l := listNames(t, s); len(l) != 0 {
		t.Errorf("failed creates left %v", l)
	}

	tmpfs := map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
	v := mustCreate(t, s, "v1", CreateOptions{Driver: "local", Options: tmpfs})
	if !maps.Equal(v.Options, tmpfs) {
		t.Errorf("options %v", v.Options)
	}
	// Idempotent: same options (labels are ignored, as by docker).
	again := mustCreate(t, s, "v1", CreateOptions{Options: tmpfs, Labels: map[string]string{"x": "y"}})
	if !again.CreatedAt.Equal(v.CreatedAt) || again.Labels != nil {
		t.Errorf("re-create returned %+v", again)
	}
	_, err := s.Create("v1", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("re-create with other options: %v", err)
	}
	_, err = s.Create("v1", CreateOptions{})
	if !errors.Is(err, ErrConflict) {
		t.Errorf("re-create without options: %v", err)
	}
	mustCreate(t, s, "v2", CreateOptions{Options: map[string]string{"size": "0"}})
}

func TestCreateConcurrent(t *testing.T) {
	s, root := openStore(t)
	const n = 16
	var wg sync.WaitGroup
	created := make([]*Volume, n)
	errs := make([]error, 3*n)
	for i := range n {
		wg.Go(func() {
			// All race for "shared"; each also makes its own and an
			// anonymous volume, through its own Store.
			st, err := Open(root)
			if err != nil {
				errs[i] = err
				return
			}
			created[i], errs[i] = st.Create("shared", CreateOptions{Labels: map[string]string{"i": fmt.Sprint(i)}})
			_, errs[n+i] = st.Create(fmt.Sprintf("own%d", i), CreateOptions{})
			_, errs[2*n+i] = st.Create("", CreateOptions{})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("create %d: %v", i, err)
		}
	}
	if t.Failed() {
		return
	}
	// Exactly one creation won: everyone got the same volume.
	for _, v := range created {
		if v.Labels["i"] != created[0].Labels["i"] || !v.CreatedAt.Equal(created[0].CreatedAt) {
			t.Errorf("shared volume differs: %+v vs %+v", v, created[0])
		}
	}
	if l := listNames(t, s); len(l) != 1+2*n {
		t.Errorf("%d volumes: %v", len(l), l)
	}
	assertNoTemp(t, s)
}

func TestOpenCleansCrashLeftovers(t *testing.T) {
	s, root := openStore(t)
	v := mustCreate(t, s, "kept", CreateOptions{})
	dir := filepath.Join(root, "volumes")
	// A create and a remove that a kill -9 interrupted, and a meta.json
	// temp file.
	for _, p := range []string{tmpPrefix + "create-1/_data", tmpPrefix + "remove-2/volume/_data/sub"} {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stale := filepath.Join(dir, "kept", ".meta.json.tmp-123")
	if err := os.WriteFile(stale, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Not a volume: an unrelated dir without _data.
	if err := os.Mkdir(filepath.Join(dir, "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	assertNoTemp(t, s2)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if l := listNames(t, s2); !slices.Equal(l, []string{"kept"}) {
		t.Errorf("List = %v", l)
	}
	if _, err := s2.Create("junk", CreateOptions{}); !errors.Is(err, ErrConflict) {
		t.Errorf("create over a foreign directory: %v", err)
	}
	if got, err := s2.Get("kept"); err != nil || !got.CreatedAt.Equal(v.CreatedAt) {
		t.Errorf("Get(kept) = %+v, %v", got, err)
	}
}

func TestDockerLayoutVolume(t *testing.T) {
	s, root := openStore(t)
	// A volume copied from /var/lib/docker/volumes: no meta.json.
	if err := os.MkdirAll(filepath.Join(root, "volumes", "fromdocker", "_data"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := s.Get("fromdocker")
	if err != nil || v.Driver != "local" || v.CreatedAt.IsZero() {
		t.Fatalf("Get = %+v, %v", v, err)
	}
	if l := listNames(t, s); !slices.Equal(l, []string{"fromdocker"}) {
		t.Errorf("List = %v", l)
	}
	if again := mustCreate(t, s, "fromdocker", CreateOptions{}); again.Name != "fromdocker" {
		t.Errorf("create existing = %+v", again)
	}
	if err := s.Remove("fromdocker", false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPrune(t *testing.T) {
	s, _ := openStore(t)
	named := mustCreate(t, s, "named", CreateOptions{Labels: map[string]string{"env": "test"}})
	anon1 := mustCreate(t, s, "", CreateOptions{Labels: map[string]string{"env": "test"}})
	anon2 := mustCreate(t, s, "", CreateOptions{})
	used := mustCreate(t, s, "", CreateOptions{})
	withOpts := mustCreate(t, s, "opts", CreateOptions{Anonymous: true, Options: map[string]string{"type": "tmpfs", "device": "tmpfs"}})
	for _, v := range []*Volume{named, anon1, anon2} {
		if err := os.WriteFile(filepath.Join(v.Mountpoint, "f"), make([]byte, 1000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(anon2.Mountpoint, "f"), filepath.Join(anon2.Mountpoint, "hardlink")); err != nil {
		t.Fatal(err)
	}
	inUse := func(name string) bool { return name == used.Name }

	removed, size, err := s.Prune(false, LabelFilter{Include: []string{"env=test"}}, inUse)
	if err != nil || !slices.Equal(removed, []string{anon1.Name}) || size != 1000 {
		t.Errorf("prune label=env=test: %v %d %v", removed, size, err)
	}
	removed, size, err = s.Prune(false, LabelFilter{Exclude: []string{"nosuch"}}, inUse)
	if err != nil || !slices.Equal(removed, []string{anon2.Name}) || size != 1000 {
		t.Errorf("prune anonymous: %v %d %v", removed, size, err)
	}
	removed, _, err = s.Prune(true, LabelFilter{Exclude: []string{"env"}}, inUse)
	if err != nil || len(removed) != 0 {
		t.Errorf("prune all label!=env: %v %v", removed, err)
	}
	removed, size, err = s.Prune(true, LabelFilter{}, inUse)
	if err != nil || !slices.Equal(removed, []string{"named"}) || size != 1000 {
		t.Errorf("prune all: %v %d %v", removed, size, err)
	}
	if l := listNames(t, s); !slices.Equal(l, slices.Sorted(slices.Values([]string{used.Name, withOpts.Name}))) {
		t.Errorf("left: %v", l)
	}
	removed, _, err = s.Prune(true, LabelFilter{}, nil)
	if err != nil || !slices.Equal(removed, []string{used.Name}) {
		t.Errorf("prune without users: %v %v", removed, err)
	}
	assertNoTemp(t, s)
}

func TestLabelFilter(t *testing.T) {
	labels := map[string]string{"a": "1", "b": ""}
	for _, tc := range []struct {
		f    LabelFilter
		want bool
	}{
		{LabelFilter{}, true},
		{LabelFilter{Include: []string{"a"}}, true},
		{LabelFilter{Include: []string{"a=1", "b"}}, true},
		{LabelFilter{Include: []string{"b="}}, true},
		{LabelFilter{Include: []string{"a=2"}}, false},
		{LabelFilter{Include: []string{"c"}}, false},
		{LabelFilter{Exclude: []string{"a"}}, false},
		{LabelFilter{Exclude: []string{"a", "c"}}, true},
		{LabelFilter{Exclude: []string{"a=2"}}, true},
	} {
		if got := tc.f.Match(labels); got != tc.want {
			t.Errorf("%+v.Match = %v", tc.f, got)
		}
	}
	if (LabelFilter{Include: []string{"a"}}).Match(nil) || !(LabelFilter{Exclude: []string{"a"}}).Match(nil) {
		t.Error("nil labels")
	}
}

// churn creates, fills and removes volumes in root forever (the helper
// process of TestKillDuringMutations).
func churn(root string) {
	s, err := Open(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	src := filepath.Join(root, "src")
	for i := 0; ; i++ {
		name := fmt.Sprintf("v%d", i%20)
		if _, err := s.Create(name, CreateOptions{Labels: map[string]string{"i": fmt.Sprint(i)}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = s.Fill(name, src, "/data")
		if i%3 == 0 {
			_ = s.Remove(fmt.Sprintf("v%d", (i+7)%20), true, nil)
		}
	}
}

// TestKillDuringMutations kills processes busy creating, filling and
// removing volumes at random moments; the store must stay usable with
// only complete volumes.
func TestKillDuringMutations(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	root := t.TempDir()
	data := filepath.Join(root, "src", "data")
	if err := os.MkdirAll(filepath.Join(data, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := os.WriteFile(filepath.Join(data, "d", fmt.Sprint(i)), make([]byte, 4096), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 20 {
		var cmds []*exec.Cmd
		for range 2 {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "VOLUME_TEST_CHURN_ROOT="+root)
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		time.Sleep(time.Duration(20+rand.IntN(80)) * time.Millisecond)
		for _, cmd := range cmds {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
				t.Fatalf("round %d: helper exited by itself: %v", round, err)
			}
		}
		s, err := Open(root)
		if err != nil {
			t.Fatal(err)
		}
		assertNoTemp(t, s)
		vols, err := s.List()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		for _, v := range vols {
			if _, err := os.Stat(filepath.Join(s.Dir(), v.Name, metaFile)); err != nil {
				t.Errorf("round %d: volume %s without metadata: %v", round, v.Name, err)
			}
			if fi, err := os.Stat(v.Mountpoint); err != nil || !fi.IsDir() {
				t.Errorf("round %d: volume %s without data dir: %v", round, v.Name, err)
			}
			// A fill a kill interrupted is completed by the next one.
			if err := s.Fill(v.Name, filepath.Join(root, "src"), "/data"); err != nil {
				t.Fatalf("round %d: fill %s: %v", round, v.Name, err)
			}
			entries, _ := os.ReadDir(filepath.Join(v.Mountpoint, "d"))
			if len(entries) != 50 {
				t.Errorf("round %d: volume %s has %d of 50 files after fill", round, v.Name, len(entries))
			}
		}
		if t.Failed() {
			return
		}
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Prune(true, LabelFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	if l := listNames(t, s); len(l) != 0 {
		t.Errorf("after prune: %v", l)
	}
}
