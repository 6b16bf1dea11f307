package logs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// readLines runs Read and renders what it passes on as "stream:line".
func readLines(t *testing.T, path string, o ReadOptions) []string {
	t.Helper()
	var got []string
	err := Read(context.Background(), path, o, func(e Entry) error {
		got = append(got, e.Stream+":"+string(e.Line))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func both(o ReadOptions) ReadOptions {
	o.Stdout, o.Stderr = true, true
	return o
}

func TestReadFilters(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	// Rotated files first: path.2 is the oldest.
	writeFixture(t, path+".2",
		Entry{Stdout, at(0), []byte("o0\n")},
		Entry{Stderr, at(1), []byte("e1\n")})
	writeFixture(t, path+".1",
		Entry{Stdout, at(2), []byte("o2\n")},
		Entry{Stdout, at(3), []byte("o3 part")},
		Entry{Stdout, at(3), []byte(" rest\n")})
	writeFixture(t, path,
		Entry{Stderr, at(4), []byte("e4\n")},
		Entry{Stdout, at(5), []byte("o5\n")},
		Entry{Stderr, at(6), []byte("e6\n")})
	all := []string{"stdout:o0\n", "stderr:e1\n", "stdout:o2\n", "stdout:o3 part", "stdout: rest\n", "stderr:e4\n", "stdout:o5\n", "stderr:e6\n"}
	tests := []struct {
		name string
		o    ReadOptions
		want []string
	}{
		{"all", both(ReadOptions{Tail: -1}), all},
		{"stdout only", ReadOptions{Tail: -1, Stdout: true},
			[]string{"stdout:o0\n", "stdout:o2\n", "stdout:o3 part", "stdout: rest\n", "stdout:o5\n"}},
		{"stderr only", ReadOptions{Tail: -1, Stderr: true},
			[]string{"stderr:e1\n", "stderr:e4\n", "stderr:e6\n"}},
		{"since inclusive", both(ReadOptions{Tail: -1, Since: at(4)}), all[5:]},
		{"until inclusive", both(ReadOptions{Tail: -1, Until: at(2)}), all[:3]},
		{"since and until", both(ReadOptions{Tail: -1, Since: at(1), Until: at(3)}), all[1:5]},
		{"tail 0", both(ReadOptions{Tail: 0}), nil},
		{"tail 2", both(ReadOptions{Tail: 2}), all[6:]},
		{"tail across files", both(ReadOptions{Tail: 5}), all[3:]},
		{"tail more than there is", both(ReadOptions{Tail: 100}), all},
		{"tail counts both streams", ReadOptions{Tail: 3, Stdout: true}, []string{"stdout:o5\n"}},
		{"tail before since", both(ReadOptions{Tail: 3, Since: at(6)}), []string{"stderr:e6\n"}},
		{"negative tail is all", both(ReadOptions{Tail: -7}), all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, readLines(t, path, tt.o), tt.want)
		})
	}
}

func TestReadSkipsCorruptLines(t *testing.T) {
	good := func(s string, n int) []byte { return AppendEntry(nil, Entry{Stdout, at(n), []byte(s + "\n")}) }
	torn := good("torn", 9)
	longGarbage := strings.Repeat("z", 3*maxLineBytes)
	tests := []struct {
		name string
		data string
		tail int
		want []string
	}{
		{"torn last line", string(good("a", 0)) + string(good("b", 1)) + string(torn[:len(torn)/2]), -1,
			[]string{"stdout:a\n", "stdout:b\n"}},
		{"torn last line with tail", string(good("a", 0)) + string(good("b", 1)) + string(torn[:len(torn)/2]), 1,
			[]string{"stdout:b\n"}},
		{"last line without newline but whole", string(good("a", 0)) + strings.TrimSuffix(string(good("b", 1)), "\n"), -1,
			[]string{"stdout:a\n", "stdout:b\n"}},
		{"garbage in the middle", string(good("a", 0)) + "not json\n\n{\"log\":1}\n" + string(torn[:30]) + "\n" + string(good("b", 1)), -1,
			[]string{"stdout:a\n", "stdout:b\n"}},
		{"garbage not counted by tail", string(good("a", 0)) + string(good("b", 1)) + "junk\n\x00\x00\n", 1,
			[]string{"stdout:b\n"}},
		{"NULs after a crash", string(good("a", 0)) + strings.Repeat("\x00", 4096) + string(good("b", 1)), -1,
			[]string{"stdout:a\n"}},
		{"over-long line", string(good("a", 0)) + longGarbage + "\n" + string(good("b", 1)), -1,
			[]string{"stdout:a\n", "stdout:b\n"}},
		{"over-long line with tail", string(good("a", 0)) + longGarbage + "\n" + string(good("b", 1)), 2,
			[]string{"stdout:a\n", "stdout:b\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			if err := os.WriteFile(path, []byte(tt.data), 0o640); err != nil {
				t.Fatal(err)
			}
			equal(t, readLines(t, path, both(ReadOptions{Tail: tt.tail})), tt.want)
		})
	}
}

// TestReadTailLargeFile checks tail against a full read on a file whose
// entries straddle the reader's chunks, some longer than a chunk.
func TestReadTailLargeFile(t *testing.T) {
	w, path := create(t, Options{})
	out, errs := w.Stream(Stdout), w.Stream(Stderr)
	for i := range 2000 {
		s := out
		if i%3 == 0 {
			s = errs
		}
		n := i % 100
		if i%20 == 0 {
			// '<' is escaped to six bytes, so some entries pass 64 KiB.
			n = (i * 7919) % (MaxEntrySize + 500)
		}
		fmt.Fprintf(s, "%d %s\n", i, strings.Repeat("<", n))
	}
	w.Close()
	all := readLines(t, path, both(ReadOptions{Tail: -1}))
	for _, n := range []int{1, 2, 17, 500, len(all) - 1, len(all), len(all) + 1} {
		got := readLines(t, path, both(ReadOptions{Tail: n}))
		want := all[max(0, len(all)-n):]
		if len(got) != len(want) || strings.Join(got, "") != strings.Join(want, "") {
			t.Fatalf("tail %d: got %d entries, want %d", n, len(got), len(want))
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	if err := Read(context.Background(), path, both(ReadOptions{Tail: -1}), nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing log: %v", err)
	}
	writeFixture(t, path, Entry{Stdout, at(0), []byte("a\n")}, Entry{Stdout, at(1), []byte("b\n")})
	if err := Read(context.Background(), path, ReadOptions{Tail: -1}, nil); err == nil {
		t.Fatal("no stream selected: no error")
	}
	stop := errors.New("stop")
	calls := 0
	err := Read(context.Background(), path, both(ReadOptions{Tail: -1}), func(Entry) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Fatalf("fn error: %v after %d calls", err, calls)
	}
}

// follower runs a following Read in the background.
type follower struct {
	mu    sync.Mutex
	lines []string
	done  chan struct{} // closed to end the follow
	err   chan error
}

func follow(t *testing.T, ctx context.Context, path string, o ReadOptions) *follower {
	t.Helper()
	f := &follower{done: make(chan struct{}), err: make(chan error, 1)}
	o.Follow, o.Done = true, f.done
	go func() {
		f.err <- Read(ctx, path, both(o), func(e Entry) error {
			f.mu.Lock()
			f.lines = append(f.lines, e.Stream+":"+string(e.Line))
			f.mu.Unlock()
			return nil
		})
	}()
	return f
}

// waitFor waits until the follower has n lines.
func (f *follower) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		got := len(f.lines)
		f.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower has %d lines, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// finish closes Done and returns what the follower read.
func (f *follower) finish(t *testing.T) []string {
	t.Helper()
	close(f.done)
	select {
	case err := <-f.err:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return after Done")
	}
	return f.lines
}

// withPolling runs a test with inotify and with the polling fallback.
func withPolling(t *testing.T, fn func(t *testing.T)) {
	t.Run("inotify", fn)
	t.Run("poll", func(t *testing.T) {
		inotifyDisabled = true
		t.Cleanup(func() { inotifyDisabled = false })
		fn(t)
	})
}

func TestFollowDone(t *testing.T) {
	withPolling(t, func(t *testing.T) {
		w, path := create(t, Options{})
		out, errs := w.Stream(Stdout), w.Stream(Stderr)
		fmt.Fprint(out, "before\n")
		f := follow(t, context.Background(), path, ReadOptions{Tail: -1})
		f.waitFor(t, 1)
		start := time.Now()
		fmt.Fprint(errs, "live\n")
		f.waitFor(t, 2)
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("follower took %v to see a new line", d)
		}
		// Written just before the container exits: Done must not lose it,
		// nor the unfinished line the stream flushes on close.
		fmt.Fprint(out, "last\nunfinished")
		out.Close()
		equal(t, f.finish(t), []string{"stdout:before\n", "stderr:live\n", "stdout:last\n", "stdout:unfinished"})
	})
}

func TestFollowTailZero(t *testing.T) {
	w, path := create(t, Options{})
	out := w.Stream(Stdout)
	fmt.Fprint(out, "old1\nold2\n")
	f := follow(t, context.Background(), path, ReadOptions{Tail: 0})
	time.Sleep(50 * time.Millisecond)
	fmt.Fprint(out, "new\n")
	f.waitFor(t, 1)
	equal(t, f.finish(t), []string{"stdout:new\n"})
}

func TestFollowWaitsForFile(t *testing.T) {
	withPolling(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log")
		f := follow(t, context.Background(), path, ReadOptions{Tail: -1})
		time.Sleep(50 * time.Millisecond)
		w, err := Create(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		fmt.Fprint(w.Stream(Stdout), "hello\n")
		f.waitFor(t, 1)
		equal(t, f.finish(t), []string{"stdout:hello\n"})
	})
}

func TestFollowContextCancel(t *testing.T) {
	_, path := create(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	f := follow(t, ctx, path, ReadOptions{Tail: -1})
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-f.err:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return after cancel")
	}
}

func TestFollowUntil(t *testing.T) {
	w, path := create(t, Options{})
	fmt.Fprint(w.Stream(Stdout), "a\n")
	errc := make(chan error, 1)
	var got []string
	go func() {
		errc <- Read(context.Background(), path, both(ReadOptions{Tail: -1, Follow: true, Until: time.Now().Add(200 * time.Millisecond)}),
			func(e Entry) error { got = append(got, string(e.Line)); return nil })
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not stop at Until")
	}
	equal(t, got, []string{"a\n"})
}

// TestFollowRotation writes through many rotations while following from
// the start; every line must arrive once, in order.
func TestFollowRotation(t *testing.T) {
	tests := []struct {
		name     string
		maxFiles int
		burst    int // lines written between pauses
	}{
		{"max-file 3", 3, 1},
		{"max-file 1", 1, 1},
		{"several rotations between looks", 50, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withPolling(t, func(t *testing.T) {
				burst, n, maxSize := tt.burst, 300, int64(500)
				if inotifyDisabled {
					// Polling takes up to 100ms a look: fewer lines, more
					// rotations.
					n, maxSize = 30, 200
				}
				w, path := create(t, Options{MaxSize: maxSize, MaxFiles: tt.maxFiles})
				out := w.Stream(Stdout)
				fmt.Fprint(out, "line 0000\n")
				f := follow(t, context.Background(), path, ReadOptions{Tail: -1})
				f.waitFor(t, 1)
				var want []string
				want = append(want, "stdout:line 0000\n")
				for i := 1; i < n; i++ {
					fmt.Fprintf(out, "line %04d\n", i)
					want = append(want, fmt.Sprintf("stdout:line %04d\n", i))
					if i%burst == 0 {
						f.waitFor(t, i+1) // the follower keeps up, so no file is lost
					}
				}
				equal(t, f.finish(t), want)
			})
		})
	}
}

// TestFollowTruncated: a file truncated under the follower (as by
// logrotate's copytruncate) is read again from the start.
func TestFollowTruncated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	writeFixture(t, path, Entry{Stdout, at(0), []byte("a\n")}, Entry{Stdout, at(1), []byte("b\n")})
	f := follow(t, context.Background(), path, ReadOptions{Tail: -1})
	f.waitFor(t, 2)
	writeFixture(t, path, Entry{Stdout, at(2), []byte("c\n")})
	f.waitFor(t, 3)
	equal(t, f.finish(t), []string{"stdout:a\n", "stdout:b\n", "stdout:c\n"})
}

// TestReadTailSeeksBackwards: tail must not read a file from its start. A
// 64 GiB sparse hole before the last entries would take minutes to read.
func TestReadTailSeeksBackwards(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, AppendEntry(nil, Entry{Stdout, at(0), []byte("first\n")}), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 64<<30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	b = append(b, '\n')
	for i := range 5 {
		b = AppendEntry(b, Entry{Stderr, at(i + 1), []byte(fmt.Sprintf("last %d\n", i))})
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
	start := time.Now()
	equal(t, readLines(t, path, both(ReadOptions{Tail: 2})), []string{"stderr:last 3\n", "stderr:last 4\n"})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("tail took %v", d)
	}
}

// TestReadDuringRotation reads while a writer rotates as fast as it can:
// each read must see a run of consecutive lines, no gap, no repeat.
func TestReadDuringRotation(t *testing.T) {
	w, path := create(t, Options{MaxSize: 300, MaxFiles: 4})
	out := w.Stream(Stdout)
	fmt.Fprintf(out, "%d\n", 0)
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fmt.Fprintf(out, "%d\n", i)
		}
	}()
	for range 200 {
		prev := -1
		err := Read(context.Background(), path, both(ReadOptions{Tail: -1}), func(e Entry) error {
			var n int
			if _, err := fmt.Sscanf(string(e.Line), "%d\n", &n); err != nil {
				return err
			}
			if prev >= 0 && n != prev+1 {
				return fmt.Errorf("line %d after %d", n, prev)
			}
			prev = n
			return nil
		})
		if err != nil {
			close(stop)
			<-writerDone
			t.Fatal(err)
		}
	}
	close(stop)
	<-writerDone
}
