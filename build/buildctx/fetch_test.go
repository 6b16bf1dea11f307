package buildctx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func TestFetchURL(t *testing.T) {
	modified := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	body := "downloaded content"
	mux := http.NewServeMux()
	mux.HandleFunc("/files/app.tar.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
		w.Write([]byte(body))
	})
	mux.HandleFunc("/nodate", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
	mux.HandleFunc("/download/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Has("cd") {
			w.Header().Set("Content-Disposition", `attachment; filename="../../report.pdf"`)
		}
		w.Write([]byte(body))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	good := digest.FromString(body)
	tests := []struct {
		name     string
		path     string
		checksum digest.Digest
		file     string
		mtime    time.Time
		err      string
	}{
		{name: "last modified", path: "/files/app.tar.gz", file: "app.tar.gz", mtime: modified},
		{name: "no date", path: "/nodate?x=1", file: "nodate", mtime: time.Unix(0, 0)},
		{name: "trailing slash", path: "/download/", file: "download", mtime: time.Unix(0, 0)},
		{name: "content disposition", path: "/?cd=1", file: "report.pdf", mtime: time.Unix(0, 0)},
		{name: "unnamed", path: "/", file: "__unnamed__", mtime: time.Unix(0, 0)},
		{name: "checksum", path: "/files/app.tar.gz", checksum: good, file: "app.tar.gz", mtime: modified},
		{name: "checksum sha512", path: "/nodate", checksum: digest.SHA512.FromString(body), file: "nodate", mtime: time.Unix(0, 0)},
		{name: "checksum mismatch", path: "/files/app.tar.gz", checksum: digest.FromString("other"), err: "digest mismatch: expected " + digest.FromString("other").String() + ", got " + good.String()},
		{name: "bad checksum", path: "/files/app.tar.gz", checksum: "sha256:xyz", err: "checksum"},
		{name: "not found", path: "/missing", err: "invalid response status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := FetchURL(context.Background(), srv.URL+tt.path, dir, tt.checksum)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if left, _ := os.ReadDir(dir); len(left) != 0 {
					t.Errorf("left %v", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p != filepath.Join(dir, tt.file) {
				t.Errorf("path %s, want %s", p, filepath.Join(dir, tt.file))
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.ModTime().Equal(tt.mtime) || fi.Mode() != 0o600 {
				t.Errorf("mtime %v mode %v, want %v 0600", fi.ModTime(), fi.Mode(), tt.mtime)
			}
			if b, _ := os.ReadFile(p); string(b) != body {
				t.Errorf("content %q", b)
			}
			if left, _ := os.ReadDir(dir); len(left) != 1 {
				t.Errorf("dir holds %v", left)
			}
		})
	}
}

func TestFetchURLErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	for _, u := range []string{"ftp://example.com/x", "::bad", srv.URL + "/x"} {
		if _, err := FetchURL(ctx, u, t.TempDir(), ""); err == nil {
			t.Errorf("FetchURL(%s) succeeded", u)
		}
	}
}

func TestDownloadName(t *testing.T) {
	// An ADD of a download is a COPY of the file FetchURL made.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer srv.Close()
	dir := t.TempDir()
	p, err := FetchURL(context.Background(), srv.URL+"/tool", dir, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := FromDirNoIgnore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ents, _ := layer(t, c, CopySpec{Sources: []string{filepath.Base(p)}, Dest: "/usr/local/bin/"}, nil)
	if e := ents["usr/local/bin/tool"]; e.body != "x" || e.hdr.Mode != 0o600 || !e.hdr.ModTime.Equal(time.Unix(0, 0)) {
		t.Errorf("copied download: %+v", e.hdr)
	}
}
