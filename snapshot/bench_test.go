package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
)

// benchLayer is a synthetic rootfs-like layer: directories of small files
// with a few large ones. SNAPSHOT_BENCH_TAR names a real layer tar to use
// instead; SNAPSHOT_BENCH_DIR a directory to extract into (e.g. on tmpfs).
func benchLayer(b *testing.B) []byte {
	if p := os.Getenv("SNAPSHOT_BENCH_TAR"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	r := rand.New(rand.NewSource(1))
	for d, total := 0, 0; total < 32<<20; d++ {
		dn := fmt.Sprintf("usr/share/d%d/", d)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dn, Mode: 0o755})
		for f := range 20 {
			sz := r.Intn(16 << 10)
			if r.Intn(20) == 0 {
				sz = r.Intn(2 << 20)
			}
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%sf%d", dn, f), Mode: 0o644, Size: int64(sz)})
			tw.Write(make([]byte, sz))
			total += sz
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: dn + "link", Linkname: "../target", Mode: 0o777})
	}
	tw.Close()
	return buf.Bytes()
}

func benchDir(b *testing.B) string {
	if d := os.Getenv("SNAPSHOT_BENCH_DIR"); d != "" {
		p, err := os.MkdirTemp(d, "bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(p) })
		return p
	}
	return b.TempDir()
}

func BenchmarkExtract(b *testing.B) {
	data := benchLayer(b)
	base := benchDir(b)
	b.SetBytes(int64(len(data)))
	for i := 0; b.Loop(); i++ {
		dst := filepath.Join(base, fmt.Sprint(i))
		if _, err := Extract(dst, bytes.NewReader(data), ExtractOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
}

func BenchmarkUnpack(b *testing.B) {
	data := benchLayer(b)
	d := digest.FromBytes(data)
	s, err := Open(benchDir(b))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := s.Unpack(context.Background(), d, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Remove(d)
		b.StartTimer()
	}
}
