package buildctx

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
)

// cachedDigest is the content digest of a file as it was when hashed.
type cachedDigest struct {
	dev, ino     uint64
	size         int64
	mtime, ctime unix.Timespec
	digest       digest.Digest
	// caps is the file's security.capability attribute: setting it
	// changes the ctime, so it is cached with the content.
	caps string
}

func (d *cachedDigest) valid(st *unix.Stat_t) bool {
	return d.dev == st.Dev && d.ino == st.Ino && d.size == st.Size && d.mtime == st.Mtim && d.ctime == st.Ctim
}

// checksumVersion names the layout of the digested data; change it when
// the layout changes.
const checksumVersion = "hull-buildctx-copy-v1"

// Checksum is the cache key input of spec: a digest over every selected
// file's path relative to its source, type, mode (after Chmod), size,
// content digest, symlink target, device number, file capabilities and
// hard links between them, plus the source names, Dest, the owner
// (Chown, or 0:0), Chmod, Extract, Exclude and Time. It changes when any
// selected file's content or metadata changes (mtimes excepted, as with
// BuildKit), and not when an ignored or unselected file does. It does not
// cover the image below (whether Dest exists there), which the builder's
// key has. Content digests are cached in memory by path, device, inode,
// size, mtime and ctime, so a second Checksum of unchanged files only
// stats them.
func (c *Context) Checksum(spec CopySpec) (digest.Digest, error) {
	sels, err := c.selectSources(spec)
	if err != nil {
		return "", err
	}
	if err := c.hashFiles(sels); err != nil {
		return "", err
	}
	h := sha256.New()
	f := fielder{h: h}
	f.str(checksumVersion)
	f.str(spec.Dest)
	if spec.Chown != nil {
		f.str(strconv.Itoa(spec.Chown.UID) + ":" + strconv.Itoa(spec.Chown.GID))
	} else {
		f.str("0:0")
	}
	chmod, err := spec.chmod()
	if err != nil {
		return "", err
	}
	f.str(chmod.text)
	f.bool(spec.Extract)
	f.num(int64(len(spec.Exclude)))
	for _, e := range spec.Exclude {
		f.str(e)
	}
	if spec.Time != nil {
		f.str(strconv.FormatInt(spec.Time.Unix(), 10))
	} else {
		f.str("-")
	}
	links := map[[2]uint64]int{}
	count := 0
	f.num(int64(len(sels)))
	for _, s := range sels {
		f.str(s.Path)
		f.num(int64(len(s.nodes)))
		for _, n := range append([]node{s.root}, s.nodes...) {
			c.hashNode(&f, &n, chmod, links, count)
			count++
		}
	}
	return digest.NewDigest(digest.SHA256, h), nil
}

// hashNode adds one node to the checksum.
func (c *Context) hashNode(f *fielder, n *node, chmod chmodder, links map[[2]uint64]int, index int) {
	f.str(n.rel)
	f.num(int64(n.st.Mode & unix.S_IFMT))
	m := chmod.apply(n.st.Mode&0o7777, n.isDir())
	if n.st.Mode&unix.S_IFMT == unix.S_IFLNK {
		m = 0o777
	}
	f.num(int64(m))
	if n.st.Mode&unix.S_IFMT != unix.S_IFDIR && n.st.Nlink > 1 {
		k := [2]uint64{n.st.Dev, n.st.Ino}
		if first, ok := links[k]; ok {
			f.str("link")
			f.num(int64(first))
			return
		}
		links[k] = index
	}
	switch n.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		f.num(n.st.Size)
		c.mu.Lock()
		d := c.digests[c.host(n.tree)]
		c.mu.Unlock()
		f.str(string(d.digest))
		f.str(d.caps)
	case unix.S_IFLNK:
		f.str(n.link)
	case unix.S_IFCHR, unix.S_IFBLK:
		f.num(int64(n.st.Rdev))
	}
}

// hashFiles makes sure the content digest cache holds every selected
// regular file, hashing the missing ones in parallel.
func (c *Context) hashFiles(sels []selection) error {
	var todo []*node
	c.mu.Lock()
	for i := range sels {
		for _, n := range append([]*node{&sels[i].root}, nodesOf(sels[i].nodes)...) {
			if n.st.Mode&unix.S_IFMT != unix.S_IFREG {
				continue
			}
			if d, ok := c.digests[c.host(n.tree)]; ok && d.valid(&n.st) {
				continue
			}
			todo = append(todo, n)
		}
	}
	c.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	root, err := c.openRoot()
	if err != nil {
		return err
	}
	var g errgroup.Group
	g.SetLimit(min(runtime.GOMAXPROCS(0), 8))
	for _, n := range todo {
		g.Go(func() error {
			d, err := hashFile(root, n)
			if err != nil {
				return err
			}
			c.mu.Lock()
			c.digests[c.host(n.tree)] = d
			c.mu.Unlock()
			c.hashed.Add(1)
			return nil
		})
	}
	return g.Wait()
}

func nodesOf(ns []node) []*node {
	out := make([]*node, len(ns))
	for i := range ns {
		out[i] = &ns[i]
	}
	return out
}

// hashBufs are the buffers files are hashed through.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// hashFile digests the content of the regular file n of root, checking it
// is still the file that was listed.
func hashFile(root *os.Root, n *node) (cachedDigest, error) {
	f, err := openFile(root, n.tree)
	if err != nil {
		return cachedDigest{}, fmt.Errorf("hash /%s: %w", n.tree, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return cachedDigest{}, fmt.Errorf("hash /%s: %w", n.tree, err)
	}
	if st.Ino != n.st.Ino || st.Dev != n.st.Dev || st.Size != n.st.Size {
		return cachedDigest{}, fmt.Errorf("hash /%s: the file changed while the build read it", n.tree)
	}
	h := sha256.New()
	bp := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(bp)
	read, err := io.CopyBuffer(h, io.LimitReader(f, st.Size), *bp)
	if err != nil {
		return cachedDigest{}, fmt.Errorf("hash /%s: %w", n.tree, err)
	}
	if read != st.Size {
		return cachedDigest{}, fmt.Errorf("hash /%s: the file changed while the build read it", n.tree)
	}
	caps, err := capsOf(f)
	if err != nil {
		return cachedDigest{}, fmt.Errorf("hash /%s: read attributes: %w", n.tree, err)
	}
	return cachedDigest{
		dev: st.Dev, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim,
		digest: digest.NewDigest(digest.SHA256, h), caps: caps,
	}, nil
}

// fielder writes length-prefixed fields, so no two field lists hash alike.
type fielder struct {
	h   hash.Hash
	buf [binary.MaxVarintLen64]byte
}

func (f *fielder) num(v int64) {
	n := binary.PutVarint(f.buf[:], v)
	f.h.Write(f.buf[:n])
}

func (f *fielder) str(s string) {
	f.num(int64(len(s)))
	io.WriteString(f.h, s)
}

func (f *fielder) bool(b bool) {
	if b {
		f.num(1)
	} else {
		f.num(0)
	}
}
