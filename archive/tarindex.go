package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// maxEntries bounds the number of entries of an archive Load indexes.
const maxEntries = 1 << 20

// maxLinkHops bounds how many symlinks or hard links lookups follow.
const maxLinkHops = 16

// tarEntry is one entry of an indexed tar archive.
type tarEntry struct {
	name     string
	typ      byte
	linkname string
	// offset and size locate the data of a regular file in the archive.
	offset, size int64
	sparse       bool
}

// tarIndex gives random access to the files of a tar archive that lies in
// a file (or any io.ReaderAt): it records where each file's data starts, so
// members can be read as sections without unpacking the archive.
type tarIndex struct {
	ra      io.ReaderAt
	entries map[string]*tarEntry
}

// offsetReader is a Read+Seek view of an io.ReaderAt; tar.Reader seeks
// over file data instead of reading it, and Pos tells where data starts.
type offsetReader struct {
	*io.SectionReader
}

func (o offsetReader) pos() int64 {
	p, _ := o.Seek(0, io.SeekCurrent)
	return p
}

// indexTar reads the headers of the tar archive in ra (size bytes).
func indexTar(ctx context.Context, ra io.ReaderAt, size int64) (*tarIndex, error) {
	or := offsetReader{io.NewSectionReader(ra, 0, size)}
	tr := tar.NewReader(or)
	ix := &tarIndex{ra: ra, entries: map[string]*tarEntry{}}
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if n >= maxEntries {
			return nil, fmt.Errorf("invalid archive: more than %d entries", maxEntries)
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if n == 0 {
				return nil, errors.New("invalid archive: empty input")
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid archive: not a readable tar file: %w", err)
		}
		name, ok := cleanEntryName(hdr.Name)
		if !ok {
			// Entries outside the archive root are never looked up.
			continue
		}
		e := &tarEntry{name: name, typ: hdr.Typeflag, linkname: hdr.Linkname}
		switch hdr.Typeflag {
		case tar.TypeReg:
			e.offset, e.size = or.pos(), hdr.Size
			if e.offset+e.size > size || e.size < 0 {
				return nil, fmt.Errorf("invalid archive: %s: truncated (entry extends past the end of the archive)", hdr.Name)
			}
			for k := range hdr.PAXRecords {
				if strings.HasPrefix(k, "GNU.sparse.") {
					e.sparse = true
				}
			}
		case tar.TypeGNUSparse:
			e.sparse = true
		}
		ix.entries[name] = e
	}
	return ix, nil
}

// cleanEntryName normalises a tar entry name ("./a/b/" → "a/b") and
// reports false for names that do not stay inside the archive root.
func cleanEntryName(name string) (string, bool) {
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "." {
		return "", false
	}
	c := path.Clean(name)
	if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}

// checkRefPath accepts only clean relative paths inside the archive, as
// manifest.json must name its files; what names the path is used in
// errors.
func checkRefPath(p, what string) error {
	bad := p == "" || p == "." || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, "\x00")
	if bad {
		return fmt.Errorf("invalid archive: %s path %q is not a clean relative path inside the archive", what, p)
	}
	return nil
}

// lookup finds the regular file at archive path p, following symlinks and
// hard links that stay inside the archive.
func (ix *tarIndex) lookup(p string) (*tarEntry, error) {
	orig := p
	for hop := 0; hop <= maxLinkHops; hop++ {
		e := ix.entries[p]
		if e == nil {
			if p != orig {
				return nil, fmt.Errorf("%s (a link to %s) is missing from the archive", orig, p)
			}
			return nil, fmt.Errorf("%s is missing from the archive", orig)
		}
		switch e.typ {
		case tar.TypeReg:
			if e.sparse {
				return nil, fmt.Errorf("%s: sparse files are not supported in image archives", orig)
			}
			return e, nil
		case tar.TypeSymlink:
			t := e.linkname
			if strings.HasPrefix(t, "/") {
				return nil, fmt.Errorf("%s: symlink to absolute path %q is not allowed in an image archive", orig, t)
			}
			next, ok := cleanEntryName(path.Join(path.Dir(p), t))
			if !ok {
				return nil, fmt.Errorf("%s: symlink %q points outside the archive", orig, t)
			}
			p = next
		case tar.TypeLink:
			next, ok := cleanEntryName(e.linkname)
			if !ok {
				return nil, fmt.Errorf("%s: hard link %q points outside the archive", orig, e.linkname)
			}
			p = next
		case tar.TypeDir:
			return nil, fmt.Errorf("%s is a directory, not a file", orig)
		default:
			return nil, fmt.Errorf("%s is not a regular file (tar type %q)", orig, e.typ)
		}
	}
	return nil, fmt.Errorf("%s: too many levels of links", orig)
}

// section returns a reader of entry e's data.
func (ix *tarIndex) section(e *tarEntry) *io.SectionReader {
	return io.NewSectionReader(ix.ra, e.offset, e.size)
}

// readFile returns the whole file at p, which must not exceed limit bytes.
func (ix *tarIndex) readFile(p string, limit int64) ([]byte, error) {
	e, err := ix.lookup(p)
	if err != nil {
		return nil, err
	}
	if e.size > limit {
		return nil, fmt.Errorf("%s: %d bytes is larger than the %d byte limit", p, e.size, limit)
	}
	b := make([]byte, e.size)
	if _, err := ix.section(e).ReadAt(b, 0); err != nil && !(errors.Is(err, io.EOF) && e.size == 0) {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}
