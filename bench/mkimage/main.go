// Command mkimage builds the pull-benchmark test image from a root filesystem
// directory (a debootstrap'd Debian) and pushes it to a registry.
//
// The rootfs is split into a few layers by path prefix (see -split), each
// written as a deterministic gzip-compressed tar (lexical walk order, no
// user/group names, second-granularity mtimes, no gzip header name/time), so
// the same rootfs always yields the same layer and manifest digests.
//
//	mkimage -rootfs /var/cache/hull-bench/rootfs -out /tmp/layers \
//	        -ref 127.0.0.1:5000/bench/debian:latest
//
// With -tar it also writes the image as a docker-archive (the `docker save`
// format, which `docker load`, `podman load` and `hull load` read), named by
// -tag; -cmd sets the image's default command. network.sh builds its iperf3
// image that way, in one layer:
//
//	mkimage -rootfs ROOTFS -out /tmp/layers -split '*' \
//	        -tar iperf3.tar -tag bench/iperf3:latest -cmd 'iperf3 -s'
//
// It prints a human-readable summary on stderr and, on stdout, one line of
// KEY=VALUE pairs for scripts (MANIFEST_DIGEST, COMPRESSED_BYTES,
// UNPACKED_BYTES, TAR_BYTES, LAYERS, FILES).
package main

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// defaultSplit gives five layers of comparable size for a bookworm minbase
// rootfs that still has its apt lists and downloaded .debs (~190 MiB):
// base (etc, top-level dirs, symlinks, executables), usr/lib, usr/share,
// var/lib (apt lists, dpkg db) and var/cache (apt archives).
const defaultSplit = "*,usr/bin,usr/sbin,usr/libexec;usr/lib;usr/share;var/lib;var/cache"

// emptied lists directories whose contents are never put in the image (like
// docker's own base images: /dev, /proc and /sys are mount points).
var emptied = []string{"dev", "proc", "sys"}

type group struct {
	prefixes []string
	rest     bool
}

type layerStats struct {
	path     string
	files    int64 // tar entries
	content  int64 // bytes of regular file content
	tarBytes int64 // uncompressed tar stream size
	gzBytes  int64 // compressed size
}

func main() {
	rootfs := flag.String("rootfs", "", "root filesystem directory to pack (required)")
	out := flag.String("out", "", "directory to write layer-N.tar.gz files to (required)")
	ref := flag.String("ref", "", "image reference to push to over plain HTTP, e.g. 127.0.0.1:5000/bench/debian:latest (empty: build only)")
	split := flag.String("split", defaultSplit, "layer groups separated by ';', each a ','-list of path prefixes relative to the rootfs; '*' marks the group that takes every unmatched path")
	level := flag.Int("level", gzip.DefaultCompression, "gzip compression level")
	tarOut := flag.String("tar", "", "also write the image as a docker-archive (docker save format) to this file")
	tagName := flag.String("tag", "", "image name inside the -tar archive (default: -ref, else bench/image:latest)")
	cmd := flag.String("cmd", "bash", "the image's default command (Config.Cmd), as space-separated words")
	flag.Parse()
	if *rootfs == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*rootfs, *out, *ref, *split, *level, *tarOut, *tagName, strings.Fields(*cmd)); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func parseSplit(s string) ([]group, error) {
	var gs []group
	restSeen := false
	for _, gstr := range strings.Split(s, ";") {
		var g group
		for _, p := range strings.Split(gstr, ",") {
			p = strings.Trim(strings.TrimSpace(p), "/")
			switch {
			case p == "*":
				if restSeen {
					return nil, errors.New("-split: '*' given twice")
				}
				g.rest, restSeen = true, true
			case p != "":
				g.prefixes = append(g.prefixes, filepath.Clean(p))
			}
		}
		if !g.rest && len(g.prefixes) == 0 {
			return nil, fmt.Errorf("-split: empty group in %q", s)
		}
		gs = append(gs, g)
	}
	if !restSeen {
		// Unmatched paths go to the first group.
		gs[0].rest = true
	}
	return gs, nil
}

// assign returns the index of the group owning rel: the one with the longest
// matching prefix, or the rest group.
func assign(gs []group, rel string) int {
	best, bestLen, rest := -1, -1, 0
	for i, g := range gs {
		if g.rest {
			rest = i
		}
		for _, p := range g.prefixes {
			if (rel == p || strings.HasPrefix(rel, p+"/")) && len(p) > bestLen {
				best, bestLen = i, len(p)
			}
		}
	}
	if best < 0 {
		return rest
	}
	return best
}

type entry struct {
	rel string // slash path relative to rootfs, "" never appears
	fi  fs.FileInfo
}

func run(rootfs, out, ref, split string, level int, tarOut, tagName string, cmd []string) error {
	gs, err := parseSplit(split)
	if err != nil {
		return err
	}
	st, err := os.Stat(rootfs)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", rootfs)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}

	// One lexical walk; every path goes to exactly one group. Directories are
	// recorded too, so each layer can carry the parents of its entries.
	all := map[string]fs.FileInfo{}
	perGroup := make([][]entry, len(gs))
	err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if parent := filepath.Dir(rel); parent != "." {
			for _, e := range emptied {
				if parent == e || strings.HasPrefix(parent, e+"/") {
					if d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		all[rel] = fi
		g := assign(gs, rel)
		perGroup[g] = append(perGroup[g], entry{rel, fi})
		return nil
	})
	if err != nil {
		return err
	}

	stats := make([]layerStats, len(gs))
	errs := make([]error, len(gs))
	var wg sync.WaitGroup
	for i := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stats[i], errs[i] = writeLayer(rootfs, filepath.Join(out, fmt.Sprintf("layer-%d.tar.gz", i+1)), perGroup[i], all, level)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	img := empty.Image
	var total layerStats
	for i, s := range stats {
		l, err := tarball.LayerFromFile(s.path)
		if err != nil {
			return err
		}
		img, err = mutate.AppendLayers(img, l)
		if err != nil {
			return err
		}
		desc := "*"
		if !gs[i].rest || len(gs[i].prefixes) > 0 {
			desc = strings.Join(gs[i].prefixes, ",")
			if gs[i].rest {
				desc = "*," + desc
			}
		}
		fmt.Fprintf(os.Stderr, "layer %d %-36s %6d entries  unpacked %8.1f MiB  tar %8.1f MiB  gzip %8.1f MiB\n",
			i+1, desc, s.files, mib(s.content), mib(s.tarBytes), mib(s.gzBytes))
		total.files += s.files
		total.content += s.content
		total.tarBytes += s.tarBytes
		total.gzBytes += s.gzBytes
	}

	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS = "linux"
	cf.Architecture = "amd64"
	cf.Config.Cmd = cmd
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	dig, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "image: %d layers, %d entries, compressed %.1f MiB, unpacked %.1f MiB (tar %.1f MiB), manifest %s\n",
		len(stats), total.files, mib(total.gzBytes), mib(total.content), mib(total.tarBytes), dig)

	if ref != "" {
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := remote.Write(r, img); err != nil {
			return fmt.Errorf("push %s: %w", r, err)
		}
		fmt.Fprintf(os.Stderr, "pushed %s@%s in %.1fs\n", r, dig, time.Since(start).Seconds())
	}
	if tarOut != "" {
		if tagName == "" {
			tagName = ref
		}
		if tagName == "" {
			tagName = "bench/image:latest"
		}
		t, err := name.NewTag(tagName)
		if err != nil {
			return err
		}
		if err := tarball.WriteToFile(tarOut, t, img); err != nil {
			return fmt.Errorf("write %s: %w", tarOut, err)
		}
		fmt.Fprintf(os.Stderr, "wrote %s as %s (docker-archive)\n", tarOut, t)
	}
	fmt.Printf("MANIFEST_DIGEST=%s COMPRESSED_BYTES=%d UNPACKED_BYTES=%d TAR_BYTES=%d LAYERS=%d FILES=%d\n",
		dig, total.gzBytes, total.content, total.tarBytes, len(stats), total.files)
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeLayer writes entries (in walk order) as a gzip'd tar at dst. Parent
// directories that belong to other groups are emitted, with their real
// metadata, before the first entry that needs them.
func writeLayer(rootfs, dst string, entries []entry, all map[string]fs.FileInfo, level int) (layerStats, error) {
	s := layerStats{path: dst}
	f, err := os.Create(dst)
	if err != nil {
		return s, err
	}
	defer f.Close()
	gzc := &countingWriter{w: f}
	zw, err := gzip.NewWriterLevel(gzc, level)
	if err != nil {
		return s, err
	}
	tc := &countingWriter{w: zw}
	tw := tar.NewWriter(tc)

	emitted := map[string]bool{}
	links := map[[2]uint64]string{} // (dev, inode) -> first name in this layer

	var add func(rel string, fi fs.FileInfo) error
	add = func(rel string, fi fs.FileInfo) error {
		if parent := filepath.Dir(rel); parent != "." && !emitted[parent] {
			pfi, ok := all[parent]
			if !ok {
				return fmt.Errorf("%s: parent %s not walked", rel, parent)
			}
			if err := add(parent, pfi); err != nil {
				return err
			}
		}
		if emitted[rel] {
			return nil
		}
		emitted[rel] = true
		hdr, err := header(rootfs, rel, fi, links)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		s.files++
		if hdr.Typeflag == tar.TypeReg && hdr.Size > 0 {
			src, err := os.Open(filepath.Join(rootfs, rel))
			if err != nil {
				return err
			}
			n, err := io.Copy(tw, src)
			src.Close()
			if err != nil {
				return err
			}
			if n != hdr.Size {
				return fmt.Errorf("%s changed size while packing", rel)
			}
			s.content += n
		}
		return nil
	}
	for _, e := range entries {
		if err := add(e.rel, e.fi); err != nil {
			return s, err
		}
	}
	if err := tw.Close(); err != nil {
		return s, err
	}
	if err := zw.Close(); err != nil {
		return s, err
	}
	if err := f.Close(); err != nil {
		return s, err
	}
	s.tarBytes, s.gzBytes = tc.n, gzc.n
	return s, nil
}

// header builds a reproducible tar header: numeric owners only, mtime
// truncated to seconds, no atime/ctime.
func header(rootfs, rel string, fi fs.FileInfo, links map[[2]uint64]string) (*tar.Header, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: no stat data", rel)
	}
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(fi.Mode().Perm()),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: fi.ModTime().Truncate(time.Second),
	}
	m := fi.Mode()
	if m&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch {
	case m.IsRegular():
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if st.Nlink > 1 {
			if first, ok := links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				return hdr, nil
			}
			links[key] = rel
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = fi.Size()
	case m.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(filepath.Join(rootfs, rel))
		if err != nil {
			return nil, err
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = target
	case m&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case m&fs.ModeDevice != 0:
		hdr.Typeflag = tar.TypeBlock
		if m&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor = int64(devMajor(uint64(st.Rdev)))
		hdr.Devminor = int64(devMinor(uint64(st.Rdev)))
	case m&fs.ModeSocket != 0:
		return nil, fmt.Errorf("%s: sockets cannot be archived", rel)
	default:
		return nil, fmt.Errorf("%s: unsupported file mode %v", rel, m)
	}
	return hdr, nil
}

// Linux dev_t encoding (glibc's gnu_dev_major/minor).
func devMajor(dev uint64) uint32 {
	return uint32((dev>>8)&0xfff) | uint32((dev>>32)&^0xfff)
}

func devMinor(dev uint64) uint32 {
	return uint32(dev&0xff) | uint32((dev>>12)&^0xff)
}
