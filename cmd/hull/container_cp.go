package main

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/hull-project/hull/container"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/spf13/cobra"
)

type cpOptions struct {
	archive, followLink, quiet bool
}

// newCpCommand is `cp` (and `container cp`).
func newCpCommand(c *cli) *cobra.Command {
	var o cpOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\thull cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem

Use '-' as the source to read a tar archive from stdin
and extract it to a directory destination in a container.
Use '-' as the destination to stream a tar archive of a
container source to stdout.

A running container is copied from and to as its processes see it,
volumes included; one that is not running has its root file system
mounted for the copy, without its volumes.`,
		Args:                  exactArgs(2),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runCp(args[0], args[1], o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.archive, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	fs.BoolVarP(&o.followLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

// splitCpArg splits "CONTAINER:PATH"; a path that is absolute or starts
// with "." (./file:name) is local, as in docker.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

func (c *cli) runCp(src, dst string, o cpOptions) error {
	if src == "" {
		return errors.New("source can not be empty")
	}
	if dst == "" {
		return errors.New("destination can not be empty")
	}
	srcCtr, srcPath := splitCpArg(src)
	dstCtr, dstPath := splitCpArg(dst)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr != "":
		if srcPath == "" {
			return errors.New("source can not be empty")
		}
		return c.copyFromContainer(srcCtr, srcPath, dstPath, o)
	case dstCtr != "":
		if dstPath == "" {
			return errors.New("destination can not be empty")
		}
		return c.copyToContainer(srcPath, dstCtr, dstPath, o)
	}
	return errors.New("must specify at least one container source")
}

// resolveLocalPath makes a local path absolute, keeping a trailing "/" or
// "/." (which docker's copy rules look at).
func resolveLocalPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return container.PreserveTrailingDotOrSeparator(abs, p), nil
}

// cpPathError turns a container path error into docker's message.
func cpPathError(err error, ctr string) error {
	var nf *container.PathNotFoundError
	if errors.As(err, &nf) {
		//lint:ignore ST1005 Docker's message
		return fmt.Errorf("Could not find the file %s in container %s", nf.Path, ctr)
	}
	return err
}

func (c *cli) openContainerRoot(ref string) (*container.Record, *container.RootFS, error) {
	cs, err := c.containerStore()
	if err != nil {
		return nil, nil, err
	}
	is, err := c.imageStore()
	if err != nil {
		return nil, nil, err
	}
	rec, err := cs.Get(ref)
	if err != nil {
		return nil, nil, err
	}
	root, err := cs.OpenRootFS(is.Snapshots(), rec.ID, true)
	if err != nil {
		return nil, nil, err
	}
	return rec, root, nil
}

func (c *cli) copyFromContainer(ctr, srcPath, dstPath string, o cpOptions) error {
	if dstPath != "-" {
		var err error
		if dstPath, err = resolveLocalPath(dstPath); err != nil {
			return err
		}
	}
	_, root, err := c.openContainerRoot(ctr)
	if err != nil {
		return err
	}
	defer root.Close()

	// With -L a symlink source is copied as its target, under its own
	// name.
	var rebase string
	if o.followLink {
		if st, err := root.Stat(srcPath); err == nil && st.Mode&fs.ModeSymlink != 0 {
			srcPath, rebase = container.RebaseName(srcPath, st.LinkTarget)
		}
	}
	st, err := root.Stat(srcPath)
	if err != nil {
		return cpPathError(err, ctr)
	}
	name := rebase
	if name == "" {
		name = container.ArchiveName(srcPath)
	}
	if dstPath == "-" {
		return cpPathError(root.Archive(c.out, srcPath, name), ctr)
	}

	dstInfo, err := container.HostDestInfo(dstPath)
	if err != nil {
		return err
	}
	srcInfo := container.CopyInfo{Path: srcPath, Exists: true, IsDir: st.Mode.IsDir(), RebaseName: rebase}
	dstDir, name, err := container.PrepareCopy(srcInfo, dstInfo)
	if err != nil {
		return err
	}
	n, err := pipeCopy(func(w io.Writer) error { return root.Archive(w, srcPath, name) },
		func(r io.Reader) error { return container.ExtractHost(dstDir, r) })
	if err != nil {
		return cpPathError(err, ctr)
	}
	c.cpDone(o, n, dstPath)
	return nil
}

func (c *cli) copyToContainer(srcPath, ctr, dstPath string, o cpOptions) error {
	if srcPath != "-" {
		var err error
		if srcPath, err = resolveLocalPath(srcPath); err != nil {
			return err
		}
	}
	rec, root, err := c.openContainerRoot(ctr)
	if err != nil {
		return err
	}
	defer root.Close()
	if !root.Running && rec.HostConfig != nil && rec.HostConfig.ReadonlyRootfs {
		return errors.New("container rootfs is marked read-only")
	}

	// The destination: a symlink is followed (inside the container).
	dstInfo := container.CopyInfo{Path: dstPath}
	st, err := root.Stat(dstPath)
	if err == nil && st.Mode&fs.ModeSymlink != 0 {
		dstInfo.Path = st.LinkTarget
		st, err = root.Stat(st.LinkTarget)
	}
	if err == nil {
		if !st.Mode.IsDir() && !st.Mode.IsRegular() {
			return fmt.Errorf("destination %q must be a directory or a regular file", ctr+":"+dstPath)
		}
		dstInfo.Exists, dstInfo.IsDir = true, st.Mode.IsDir()
	}
	extract := func(dir string) func(io.Reader) error {
		return func(r io.Reader) error {
			return root.Extract(dir, r, container.ExtractOptions{KeepOwner: o.archive})
		}
	}

	var n int64
	if srcPath == "-" {
		if !dstInfo.IsDir {
			return fmt.Errorf("destination %q must be a directory", ctr+":"+dstPath)
		}
		in, err := decompressStream(c.in)
		if err != nil {
			return err
		}
		cr := &countingReader{r: in}
		err = extract(dstInfo.Path)(cr)
		n = cr.n
		if err != nil {
			return cpPathError(err, ctr)
		}
	} else {
		srcInfo, err := container.HostSourceInfo(srcPath, o.followLink)
		if err != nil {
			return err
		}
		dstDir, name, err := container.PrepareCopy(srcInfo, dstInfo)
		if err != nil {
			return err
		}
		n, err = pipeCopy(func(w io.Writer) error { return container.ArchiveHost(w, srcInfo, name) }, extract(dstDir))
		if err != nil {
			return cpPathError(err, ctr)
		}
	}
	c.cpDone(o, n, ctr+":"+dstPath)
	return nil
}

// cpDone prints docker's closing line when stderr is a terminal.
func (c *cli) cpDone(o cpOptions, n int64, dst string) {
	if !o.quiet && isTerminal(c.err) {
		fmt.Fprintf(c.err, "Successfully copied %s to %s\n", humanSize4(n), dst)
	}
}

// pipeCopy runs produce (writing a tar stream) and consume (reading it)
// together and returns the number of bytes that went through. An error of
// the producer is preferred: the consumer's is then only its echo.
func pipeCopy(produce func(io.Writer) error, consume func(io.Reader) error) (int64, error) {
	pr, pw := io.Pipe()
	perr := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		perr <- err
	}()
	cr := &countingReader{r: pr}
	err := consume(cr)
	pr.CloseWithError(errCopyAborted) // unblocks a producer the consumer left
	if e := <-perr; e != nil && !errors.Is(e, errCopyAborted) {
		return cr.n, e
	}
	return cr.n, err
}

// errCopyAborted is what a producer gets when its consumer stopped.
var errCopyAborted = errors.New("copy aborted")

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// decompressStream undoes the compression of a tar stream given on stdin,
// as the docker daemon does (gzip, bzip2 and zstd; xz is refused).
func decompressStream(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b, 0x08}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return nil, errors.New("xz compressed archives are not supported")
	}
	return br, nil
}
