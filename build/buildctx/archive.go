package buildctx

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hull-project/hull/snapshot"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// xzCommand decompresses xz streams: Go has no xz reader in the modules
// hull uses, and Docker, too, runs xz for them.
var xzCommand = []string{"xz", "--decompress", "--stdout", "--quiet"}

// errNoXZ is wrapped by the error of an xz command that does not start.
var errNoXZ = errors.New("cannot run xz to decompress an xz archive")

// Magic numbers of the compressed formats.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXZ    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// decompress returns r decompressed according to its first bytes: gzip,
// bzip2, zstd and (with the xz command, as Docker does) xz are recognised;
// anything else is returned as it is.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(magicXZ))
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case bytes.HasPrefix(head, magicBzip2):
		return io.NopCloser(bzip2.NewReader(br)), nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(head, magicXZ):
		return runXZ(br)
	}
	return io.NopCloser(br), nil
}

// runXZ decompresses r with the xz command.
func runXZ(r io.Reader) (io.ReadCloser, error) {
	cmd := exec.Command(xzCommand[0], xzCommand[1:]...)
	cmd.Stdin = r
	cr := &cmdReader{cmd: cmd}
	cmd.Stderr = &cr.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNoXZ, err)
	}
	cr.out = out
	return cr, nil
}

// cmdReader reads a command's output; the command failing is a read
// error at the end of its output.
type cmdReader struct {
	cmd    *exec.Cmd
	out    io.Reader
	stderr bytes.Buffer
	waited bool
	err    error
}

func (c *cmdReader) Read(p []byte) (int, error) {
	n, err := c.out.Read(p)
	if err == io.EOF {
		if werr := c.wait(); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (c *cmdReader) wait() error {
	if !c.waited {
		c.waited = true
		if err := c.cmd.Wait(); err != nil {
			c.err = fmt.Errorf("xz: %w: %s", err, bytes.TrimSpace(c.stderr.Bytes()))
		}
	}
	return c.err
}

// Close stops the command if its output was not read to the end.
func (c *cmdReader) Close() error {
	if !c.waited {
		_ = c.cmd.Process.Kill()
		_ = c.wait()
	}
	return nil
}

// isArchive reports whether the regular file p of root is a tar archive
// (plain or compressed) that ADD unpacks: one whose first header reads,
// as BuildKit decides.
func isArchive(root *os.Root, p string) (bool, error) {
	f, err := openFile(root, p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	dr, err := decompress(f)
	if errors.Is(err, errNoXZ) {
		return false, err // say so rather than copy the archive
	}
	if err != nil {
		return false, nil
	}
	defer dr.Close()
	_, err = tar.NewReader(dr).Next()
	return err == nil, nil
}

// extractArchive unpacks the archive p of root into a new directory under
// tmpDir with snapshot.Extract: entries keep their modes, times and (as
// root) owners and device nodes; names escaping the directory and entries
// under a symlink are refused. The caller removes the directory.
func extractArchive(root *os.Root, p, tmpDir string) (string, error) {
	f, err := openFile(root, p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	dr, err := decompress(f)
	if err != nil {
		return "", err
	}
	defer dr.Close()
	dir, err := os.MkdirTemp(tmpDir, "hull-add-")
	if err != nil {
		return "", err
	}
	rootless := os.Geteuid() != 0
	opts := snapshot.ExtractOptions{NoLchown: rootless, NoDevices: rootless, Whiteouts: snapshot.WhiteoutKeep}
	if _, err := snapshot.Extract(dir, dr, opts); err != nil {
		_ = removeTree(dir)
		return "", err
	}
	// Extract stops at the end-of-archive marker; a truncated compressed
	// stream shows only when read to its end.
	if _, err := io.Copy(io.Discard, dr); err != nil {
		_ = removeTree(dir)
		return "", fmt.Errorf("read archive: %w", err)
	}
	return dir, nil
}

// removeTree removes a directory tree, making its directories writable
// first if it must (an archive may hold read-only directories).
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
