package logs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fileEntries decodes every line of one file, failing on corrupt ones.
func fileEntries(t *testing.T, path string) []Entry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Entry
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[len(line)-1] != '\n' {
			t.Fatalf("%s: unterminated line %q", path, line)
		}
		e, err := ParseLine(line)
		if err != nil {
			t.Fatalf("%s: %v: %q", path, err, line)
		}
		out = append(out, e)
	}
	return out
}

// lines renders entries as "stream:line" for comparisons.
func lines(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Stream+":"+string(e.Line))
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func create(t *testing.T, opts Options) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctr-json.log")
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

func TestWriterStreams(t *testing.T) {
	type write struct {
		stream string
		data   string
		close  bool
	}
	tests := []struct {
		name   string
		writes []write
		want   []string
	}{
		{"separate streams", []write{{Stdout, "out1\nout2\n", false}, {Stderr, "err1\n", false}, {Stdout, "out3\n", false}},
			[]string{"stdout:out1\n", "stdout:out2\n", "stderr:err1\n", "stdout:out3\n"}},
		{"partial line joined across writes", []write{{Stdout, "hel", false}, {Stderr, "e", false}, {Stdout, "lo\nwor", false}, {Stderr, "rr\n", false}, {Stdout, "ld\n", false}},
			[]string{"stdout:hello\n", "stderr:err\n", "stdout:world\n"}},
		{"remainder flushed on close", []write{{Stdout, "a\nno newline", true}},
			[]string{"stdout:a\n", "stdout:no newline"}},
		{"empty lines kept", []write{{Stdout, "\n\nx\n", false}},
			[]string{"stdout:\n", "stdout:\n", "stdout:x\n"}},
		{"nothing pending on close", []write{{Stderr, "x\n", true}},
			[]string{"stderr:x\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := create(t, Options{})
			streams := map[string]io.WriteCloser{Stdout: w.Stream(Stdout), Stderr: w.Stream(Stderr)}
			for _, wr := range tt.writes {
				s := streams[wr.stream]
				if n, err := s.Write([]byte(wr.data)); err != nil || n != len(wr.data) {
					t.Fatalf("Write = %d, %v", n, err)
				}
				if wr.close {
					if err := s.Close(); err != nil {
						t.Fatal(err)
					}
					if _, err := s.Write([]byte("x")); err == nil {
						t.Fatal("write after close succeeded")
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			equal(t, lines(fileEntries(t, path)), tt.want)
		})
	}
}

func TestWriterSplitsLongLines(t *testing.T) {
	long := strings.Repeat("a", MaxEntrySize*2+100)
	tests := []struct {
		name  string
		write []string // written in these pieces
		want  []string // "log" fields
	}{
		{"fits", []string{strings.Repeat("a", MaxEntrySize-1) + "\n"},
			[]string{strings.Repeat("a", MaxEntrySize-1) + "\n"}},
		{"exactly full without newline", []string{strings.Repeat("a", MaxEntrySize) + "\n"},
			[]string{strings.Repeat("a", MaxEntrySize), "\n"}},
		{"long line in one write", []string{long + "\nnext\n"},
			[]string{long[:MaxEntrySize], long[MaxEntrySize : 2*MaxEntrySize], long[2*MaxEntrySize:] + "\n", "next\n"}},
		{"long line in small writes", chunks(long+"\n", 1000),
			[]string{long[:MaxEntrySize], long[MaxEntrySize : 2*MaxEntrySize], long[2*MaxEntrySize:] + "\n"}},
		{"rune not cut in two", []string{strings.Repeat("a", MaxEntrySize-1) + "é\n"},
			[]string{strings.Repeat("a", MaxEntrySize-1), "é\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := create(t, Options{})
			s := w.Stream(Stdout)
			for _, p := range tt.write {
				if _, err := s.Write([]byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			var got []string
			for _, e := range fileEntries(t, path) {
				if len(e.Line) > MaxEntrySize {
					t.Fatalf("entry of %d bytes", len(e.Line))
				}
				got = append(got, string(e.Line))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %d entries %v, want %d %v", len(got), lens(got), len(tt.want), lens(tt.want))
			}
		})
	}
}

func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func lens(ss []string) []int {
	var out []int
	for _, s := range ss {
		out = append(out, len(s))
	}
	return out
}

// TestWriterConcurrent has many goroutines write long lines in odd-sized
// pieces to both streams; every line must come out whole, in order per
// stream, and the file must decode completely.
func TestWriterConcurrent(t *testing.T) {
	w, path := create(t, Options{})
	const goroutines, perG = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := []string{Stdout, Stderr}[g%2]
			s := w.Stream(name)
			defer s.Close()
			var buf bytes.Buffer
			for i := range perG {
				fmt.Fprintf(&buf, "g%d-%d-%s\n", g, i, strings.Repeat("x", (i*37)%3000))
			}
			data := buf.Bytes()
			for len(data) > 0 {
				n := min(len(data), 1+len(data)%4093)
				if _, err := s.Write(data[:n]); err != nil {
					t.Error(err)
					return
				}
				data = data[n:]
			}
		}()
	}
	wg.Wait()
	next := map[string]int{}
	for _, e := range fileEntries(t, path) {
		var g, i int
		if _, err := fmt.Sscanf(string(e.Line), "g%d-%d-", &g, &i); err != nil {
			t.Fatalf("bad line %q: %v", e.Line, err)
		}
		key := fmt.Sprint(g)
		if i != next[key] || (g%2 == 0) != (e.Stream == Stdout) {
			t.Fatalf("entry %q on %s out of order (want line %d)", e.Line, e.Stream, next[key])
		}
		if want := fmt.Sprintf("g%d-%d-%s\n", g, i, strings.Repeat("x", (i*37)%3000)); string(e.Line) != want {
			t.Fatalf("line %q mangled", e.Line)
		}
		next[key]++
	}
	for g := range goroutines {
		if next[fmt.Sprint(g)] != perG {
			t.Fatalf("goroutine %d: %d lines", g, next[fmt.Sprint(g)])
		}
	}
}

func TestWriterRotation(t *testing.T) {
	tests := []struct {
		name     string
		maxFiles int
		files    int // files expected after writing
	}{
		{"max-file 0 keeps none", 0, 1},
		{"max-file 1 keeps none", 1, 1},
		{"max-file 2", 2, 2},
		{"max-file 4", 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const maxSize = 1000
			w, path := create(t, Options{MaxSize: maxSize, MaxFiles: tt.maxFiles})
			s := w.Stream(Stdout)
			const n = 200
			for i := range n {
				fmt.Fprintf(s, "line %03d\n", i)
			}
			w.Close()
			// Newest last: path.N … path.1, path.
			var all []Entry
			for i := tt.files - 1; i >= 0; i-- {
				name := path
				if i > 0 {
					name = rotatedName(path, i)
				}
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				// Rotation happens before an entry once the file reached
				// MaxSize, so it passes it by less than one entry.
				if fi.Size() > maxSize+100 {
					t.Fatalf("%s is %d bytes", name, fi.Size())
				}
				all = append(all, fileEntries(t, name)...)
			}
			for _, extra := range []string{rotatedName(path, tt.files), path + rotatingSuffix} {
				if _, err := os.Stat(extra); !os.IsNotExist(err) {
					t.Fatalf("%s exists (%v)", extra, err)
				}
			}
			// The kept entries are the last ones, contiguous.
			if len(all) == 0 || len(all) >= n {
				t.Fatalf("%d entries kept", len(all))
			}
			for k, e := range all {
				if want := fmt.Sprintf("line %03d\n", n-len(all)+k); string(e.Line) != want {
					t.Fatalf("entry %d = %q, want %q", k, e.Line, want)
				}
			}
			// And Read sees the same.
			var read []string
			err := Read(context.Background(), path, ReadOptions{Tail: -1, Stdout: true, Stderr: true}, func(e Entry) error {
				read = append(read, e.Stream+":"+string(e.Line))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			equal(t, read, lines(all))
		})
	}
}

// TestCreateTerminatesTornLine: after a crash mid-entry, a new Writer
// starts on a fresh line, so the torn entry costs only itself.
func TestCreateTerminatesTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	good := AppendEntry(nil, Entry{Stdout, t0, []byte("before\n")})
	torn := AppendEntry(nil, Entry{Stdout, t0, []byte("torn\n")})
	if err := os.WriteFile(path, append(good, torn[:20]...), 0o640); err != nil {
		t.Fatal(err)
	}
	w, err := Create(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w.Stream(Stderr), "after\n")
	w.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if e, err := ParseLine(sc.Bytes()); err == nil {
			got = append(got, e.Stream+":"+string(e.Line))
		}
	}
	equal(t, got, []string{"stdout:before\n", "stderr:after\n"})
}

func TestWriterAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	w, _ := create(t, Options{MaxSize: 1 << 20, MaxFiles: 2})
	s := w.Stream(Stdout)
	data := []byte("a typical log line from a container\nand another one\npartial")
	s.Write(data) // warm up the pool and the pending buffer
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := s.Write(data); err != nil {
			t.Fatal(err)
		}
	})
	// A GC may empty the pool in between; allow the odd refill.
	if allocs > 0.1 {
		t.Fatalf("Write allocates %v times per call", allocs)
	}
}

func TestWriterClose(t *testing.T) {
	w, path := create(t, Options{})
	s := w.Stream(Stdout)
	fmt.Fprint(s, "unfinished")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("x\n")); err == nil {
		t.Fatal("write after Writer.Close succeeded")
	}
	if _, err := w.Stream(Stderr).Write([]byte("x\n")); err == nil {
		t.Fatal("write to a stream made after Close succeeded")
	}
	equal(t, lines(fileEntries(t, path)), []string{"stdout:unfinished"})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&^0o640 != 0 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
}

// writeFixture writes entries as a log file.
func writeFixture(t *testing.T, path string, es ...Entry) {
	t.Helper()
	var b []byte
	for _, e := range es {
		b = AppendEntry(b, e)
	}
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// at returns t0 plus n seconds.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }

func BenchmarkStreamWrite(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "log"), Options{MaxSize: 10 << 20, MaxFiles: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	s := w.Stream(Stdout)
	line := []byte("2026-12-01 10:00:00 INFO request served in 3ms path=/api/v1/items status=200\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}
