package content

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestPutReadDelete(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := []byte("hello blob")
	d := digest.FromBytes(b)
	if s.Has(d) {
		t.Fatal("empty store has a blob")
	}
	if err := s.Put(d, b); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(d, b); err != nil {
		t.Fatalf("second Put of the same blob: %v", err)
	}
	got, err := s.Read(d)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if n, err := s.Size(d); err != nil || n != int64(len(b)) {
		t.Fatalf("Size = %d, %v", n, err)
	}
	count := 0
	s.Walk(func(digest.Digest, int64) error { count++; return nil })
	if count != 1 {
		t.Fatalf("Walk saw %d blobs", count)
	}
	if err := s.Delete(d); err != nil || s.Has(d) {
		t.Fatalf("Delete: %v, still there: %v", err, s.Has(d))
	}
	if _, err := s.Read(d); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read of a deleted blob: %v", err)
	}
}

func TestWriterVerifies(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := []byte("payload")
	tests := []struct {
		name    string
		d       digest.Digest
		size    int64
		data    []byte
		wantErr string
	}{
		{"digest mismatch", digest.FromString("other"), -1, b, "digest mismatch"},
		{"short", digest.FromBytes(b), int64(len(b)) + 1, b, "size mismatch"},
		{"long", digest.FromBytes(b), int64(len(b)) - 1, b, "more than the expected"},
		{"bad digest", "sha256:nothex", -1, b, "invalid digest"},
		{"unsupported algorithm", digest.Digest("sha512:" + strings.Repeat("a", 128)), -1, b, "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := s.Writer(tt.d, tt.size)
			if err == nil {
				_, err = w.Write(tt.data)
				if err == nil {
					err = w.Commit()
				}
				w.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want containing %q", err, tt.wantErr)
			}
			if tt.d.Validate() == nil && s.Has(tt.d) {
				t.Fatal("a rejected blob was stored")
			}
		})
	}
	tmp, _ := os.ReadDir(filepath.Join(s.root, "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}

func TestConcurrentWritersOfOneBlob(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Repeat([]byte("x"), 1<<20)
	d := digest.FromBytes(b)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Put(d, b)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Read(d); err != nil || len(got) != len(b) {
		t.Fatalf("Read after concurrent Puts: %d bytes, %v", len(got), err)
	}
}

func TestOpenRemovesOnlyStaleTempFiles(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	// A live writer's temp file holds a lock and survives a concurrent Open.
	w, err := s.Writer(digest.FromString("live"), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	stale := filepath.Join(root, "tmp", tmpPrefix+"stale")
	if err := os.WriteFile(stale, []byte("crashed writer"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(root, "tmp", "not-ours")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale temp file survived Open")
	}
	if _, err := os.Stat(w.f.Name()); err != nil {
		t.Fatal("a live writer's temp file was removed")
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatal("Open removed a file it does not own")
	}
}
