package container

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hull-project/hull/internal/flock"
)

func openTestStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreCreateConcurrentNames(t *testing.T) {
	s := openTestStore(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(&Record{Name: "same"})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var nc *NameConflictError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &nc):
			if nc.Name != "same" || !strings.Contains(err.Error(), `"/same" is already in use`) {
				t.Errorf("conflict error: %v", err)
			}
		default:
			t.Errorf("create: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d creates of the name same succeeded, want 1", ok)
	}
	// Generated names are unique and valid.
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Create(&Record{}); err != nil {
				t.Errorf("create: %v", err)
			}
		}()
	}
	wg.Wait()
	recs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 {
		t.Fatalf("%d containers, want %d", len(recs), n+1)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.Name] || ValidateName(r.Name) != nil {
			t.Errorf("name %q: duplicate or invalid", r.Name)
		}
		seen[r.Name] = true
		if r.State.Status != Created || len(r.ID) != 64 || allDigits(r.ID[:12]) {
			t.Errorf("new record %+v", r)
		}
	}
	if err := s.Create(&Record{Name: "x"}); err == nil {
		t.Errorf("one-character name accepted")
	}
	if err := s.Create(&Record{Name: "bad/name"}); err == nil {
		t.Errorf("invalid name accepted")
	}
}

func TestStoreResolve(t *testing.T) {
	s := openTestStore(t)
	a := &Record{ID: "abc1" + strings.Repeat("0", 60), Name: "first"}
	b := &Record{ID: "abc2" + strings.Repeat("0", 60), Name: "second"}
	c := &Record{ID: strings.Repeat("f", 64), Name: "abc1"} // a name that is another's ID prefix
	for _, r := range []*Record{a, b, c} {
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	for ref, want := range map[string]string{
		a.ID: a.ID, "first": a.ID, "/first": a.ID, "abc2": b.ID, "fff": c.ID,
		"abc1": c.ID, // a name wins over an ID prefix, as in Docker
	} {
		if got, err := s.Resolve(ref); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := s.Resolve("abc"); err == nil || !strings.Contains(err.Error(), "multiple containers") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	for _, ref := range []string{"", "nosuch", "0123"} {
		if _, err := s.Resolve(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Resolve(%q): %v, want not found", ref, err)
		}
	}
	if _, err := s.Get("nosuch"); !errors.Is(err, ErrNotFound) || err.Error() != "No such container: nosuch" {
		t.Errorf("Get: %v", err)
	}
}

func TestStoreRename(t *testing.T) {
	s := openTestStore(t)
	a, b := &Record{Name: "one"}, &Record{Name: "two"}
	for _, r := range []*Record{a, b} {
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	var nc *NameConflictError
	if err := s.Rename("one", "two"); !errors.As(err, &nc) || nc.ID != b.ID {
		t.Errorf("rename to a taken name: %v", err)
	}
	if err := s.Rename("one", "one"); err == nil {
		t.Errorf("rename to the same name succeeded")
	}
	if err := s.Rename("one", "in valid"); err == nil {
		t.Errorf("rename to an invalid name succeeded")
	}
	if err := s.Rename("one", "/three"); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Resolve("three"); err != nil || id != a.ID {
		t.Errorf("resolve the new name: %q, %v", id, err)
	}
	if _, err := s.Resolve("one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old name still resolves: %v", err)
	}
	if err := s.Create(&Record{Name: "one"}); err != nil {
		t.Errorf("the old name is not free: %v", err)
	}
}

// TestStoreDeleteLeftovers: what killed creates and removes leave is
// invisible and cleaned by the next create.
func TestStoreDeleteLeftovers(t *testing.T) {
	s := openTestStore(t)
	r := &Record{Name: "gone"}
	if err := s.Create(r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(r.ID), upperDir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir(r.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container directory left: %v", err)
	}
	if err := s.Delete(r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// A create killed before its rename, a remove killed after its.
	for _, name := range []string{".tmp-" + NewID(), ".tmp-rm-" + NewID()} {
		dir := filepath.Join(s.root, name)
		if err := os.MkdirAll(filepath.Join(dir, upperDir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, recordFile), []byte(`{"id":"x","name":"ghost"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if recs, err := s.List(); err != nil || len(recs) != 0 {
		t.Errorf("List sees leftovers: %v, %v", recs, err)
	}
	if _, err := s.Resolve("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a leftover's name resolves: %v", err)
	}
	if err := s.Create(&Record{Name: "ghost"}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(s.root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("leftover not cleaned: %s", e.Name())
		}
	}
}

// TestStoreLostMonitor: a record that says running, with no monitor and
// no runtime state (the monitor was killed and the process died, or the
// host rebooted), is recorded as exited with LostExitCode; one a
// monitor holds is left alone.
func TestStoreLostMonitor(t *testing.T) {
	s := openTestStore(t)
	started := time.Now().UTC().Add(-time.Minute)
	lost := &Record{Name: "lost", State: State{Status: Running, Pid: 999999, StartedAt: started}}
	watched := &Record{Name: "watched", State: State{Status: Running, Pid: 999998, StartedAt: started}}
	paused := &Record{Name: "paused", State: State{Status: Paused, Pid: 999997, StartedAt: started}}
	for _, r := range []*Record{lost, watched, paused} {
		if err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	l, err := flock.Exclusive(s.MonitorLockPath(watched.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	if !s.Monitored(watched.ID) || s.Monitored(lost.ID) {
		t.Fatalf("Monitored: watched %v, lost %v", s.Monitored(watched.ID), s.Monitored(lost.ID))
	}
	for _, name := range []string{"lost", "paused"} {
		r, err := s.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Status != Exited || r.State.ExitCode != LostExitCode || r.State.Pid != 0 || r.State.Error == "" ||
			r.State.FinishedAt.Before(started) || !r.State.StartedAt.Equal(started) {
			t.Errorf("%s: %+v", name, r.State)
		}
		// Recorded, not just reported.
		if r, err := s.Read(r.ID); err != nil || r.State.Status != Exited {
			t.Errorf("%s stored: %+v, %v", name, r, err)
		}
	}
	r, err := s.Get("watched")
	if err != nil || r.State.Status != Running || r.State.Pid != 999998 {
		t.Errorf("watched: %+v, %v", r, err)
	}
	recs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if want := map[string]Status{"lost": Exited, "paused": Exited, "watched": Running}[r.Name]; r.State.Status != want {
			t.Errorf("List: %s is %s, want %s", r.Name, r.State.Status, want)
		}
	}
	// Created, with runtime state but no process (a monitor killed while
	// it started it): cleaned up, still created.
	half := &Record{Name: "half"}
	if err := s.Create(half); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Runtime().Root, half.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get("half"); err != nil || r.State.Status != Created || r.State.Error != "" {
		t.Errorf("half: %+v, %v", r, err)
	}
	// The monitor goes away: now the truth is found out.
	l.Unlock()
	if r, err := s.Get("watched"); err != nil || r.State.Status != Exited || r.State.ExitCode != LostExitCode {
		t.Errorf("watched after its monitor died: %+v, %v", r, err)
	}
}

func TestStoreUpdateConcurrent(t *testing.T) {
	s := openTestStore(t)
	r := &Record{Name: "counter"}
	if err := s.Create(r); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Update(r.ID, func(r *Record) error {
				r.RestartCount++
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.Read(r.ID)
	if err != nil || got.RestartCount != 20 {
		t.Errorf("after 20 concurrent updates: %+v, %v", got, err)
	}
	if _, err := s.Update(NewID(), func(*Record) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of a missing container: %v", err)
	}
}

func TestNamesAndIDs(t *testing.T) {
	for _, ok := range []string{"ab", "a.b-c_d", "/web", "A1"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "-ab", "_ab", "a b", "a/b", "é1"} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) accepted", bad)
		}
	}
	for i := range 200 {
		id := NewID()
		if len(id) != 64 || allDigits(id[:12]) {
			t.Fatalf("NewID #%d: %q", i, id)
		}
		if _, err := strconv.ParseUint(id[:16], 16, 64); err != nil {
			t.Fatalf("NewID #%d not hex: %q", i, id)
		}
	}
	if ShortID("abc") != "abc" || ShortID(strings.Repeat("a", 64)) != strings.Repeat("a", 12) {
		t.Errorf("ShortID")
	}
}
