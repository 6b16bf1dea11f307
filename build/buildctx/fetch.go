package buildctx

import (
	"context"
	_ "crypto/sha256" // digest algorithms for --checksum
	_ "crypto/sha512"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// unnamedFile is BuildKit's name for a download whose URL has no file name.
const unnamedFile = "__unnamed__"

// FetchURL downloads url (http or https) for ADD into the directory dir
// and returns the file's path. The file is named after the URL path's
// last element, else the Content-Disposition filename, else BuildKit's
// "__unnamed__"; it is mode 0600 and its mtime is the Last-Modified
// header's, or the Unix epoch. If checksum is set (ADD --checksum), the
// content must have that digest. A download that fails leaves nothing in
// dir. Proxy variables of the environment apply.
func FetchURL(ctx context.Context, url, dir string, checksum digest.Digest) (string, error) {
	return fetchURL(ctx, http.DefaultClient, url, dir, checksum)
}

func fetchURL(ctx context.Context, client *http.Client, rawURL, dir string, checksum digest.Digest) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("ADD %s: unsupported URL scheme %q", rawURL, u.Scheme)
	}
	var dg digest.Digester
	if checksum != "" {
		if err := checksum.Validate(); err != nil {
			return "", fmt.Errorf("ADD %s: checksum %q: %w", rawURL, checksum, err)
		}
		dg = checksum.Algorithm().Digester()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return "", fmt.Errorf("ADD %s: invalid response status %d", rawURL, resp.StatusCode)
	}
	name := downloadName(u, resp.Header.Get("Content-Disposition"))

	tmp, err := os.CreateTemp(dir, ".download-")
	if err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var w io.Writer = tmp
	if dg != nil {
		w = io.MultiWriter(tmp, dg.Hash())
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return "", fmt.Errorf("ADD %s: download: %w", rawURL, err)
	}
	if dg != nil && dg.Digest() != checksum {
		return "", fmt.Errorf("ADD %s: digest mismatch: expected %s, got %s", rawURL, checksum, dg.Digest())
	}
	if err := tmp.Chmod(0o600); err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	mtime := time.Unix(0, 0)
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		if t, err := http.ParseTime(lm); err == nil {
			mtime = t
		}
	}
	if err := os.Chtimes(tmp.Name(), mtime, mtime); err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	dst := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	done = true
	return dst, nil
}

// downloadName is the file name of a download.
func downloadName(u *url.URL, disposition string) string {
	if base := path.Base(u.Path); validName(base) {
		return base
	}
	if _, params, err := mime.ParseMediaType(disposition); err == nil {
		if base := path.Base(strings.ReplaceAll(params["filename"], `\`, "/")); validName(base) {
			return base
		}
	}
	return unnamedFile
}

// validName reports whether s can name a file in a directory.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && s != "/" && !strings.ContainsAny(s, "/\x00")
}
