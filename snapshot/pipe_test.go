package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestHashPipe(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), chunkSize/4) // several chunks
	h := sha256.New()
	p := newHashPipe(context.Background(), iotest.HalfReader(bytes.NewReader(data)), h)
	got, err := io.ReadAll(iotest.OneByteReader(io.LimitReader(p, 100)))
	if err != nil || string(got) != string(data[:100]) {
		t.Fatalf("first bytes: %q, %v", got, err)
	}
	rest, err := io.ReadAll(p)
	if err != nil || !bytes.Equal(append(got, rest...), data) {
		t.Fatalf("ReadAll: %d bytes, %v", len(rest), err)
	}
	p.Close()
	if sum := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Error("hash does not cover the stream")
	}

	// A source error comes after the data before it.
	boom := errors.New("boom")
	p = newHashPipe(context.Background(), io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), sha256.New())
	got, err = io.ReadAll(p)
	if string(got) != "abc" || !errors.Is(err, boom) {
		t.Errorf("got %q, %v", got, err)
	}
	p.Close()

	// Close stops an endless source that nobody reads.
	p = newHashPipe(context.Background(), zeros{}, sha256.New())
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	if _, err := p.Read(make([]byte, 1)); err == nil {
		// Buffered chunks may still be read; the pipe must end eventually.
		if _, err := io.Copy(io.Discard, p); err == nil {
			t.Error("closed pipe never ends")
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestUnpackSlowAndFailingReaders(t *testing.T) {
	s, root := openStore(t)
	layer := mkTar(t, file("a", strings.Repeat("a", 300000)), file("b", "b"))
	d := digest.FromBytes(layer)
	if _, err := s.Unpack(context.Background(), d, iotest.OneByteReader(bytes.NewReader(layer))); err != nil {
		t.Fatalf("one-byte reads: %v", err)
	}
	if err := s.Remove(d); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("connection reset")
	_, err := s.Unpack(context.Background(), d, io.MultiReader(bytes.NewReader(layer[:200000]), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the reader's error", err)
	}
	assertClean(t, s, root)
}
