package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cxTarOf makes a tar archive of regular files (name → body).
func cxTarOf(t *testing.T, files ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := 0; i+1 < len(files); i += 2 {
		hdr := &tar.Header{Name: files[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[i+1])), Uid: 4321, Gid: 8765, ModTime: time.Now()}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cxFileIn reads a file of a container through `cp CONTAINER:PATH -`.
func (e *cxEnv) fileIn(ctr, p string) (cxEntry, bool) {
	e.t.Helper()
	r := e.hull("cp", ctr+":"+p, "-")
	if r.code != 0 {
		return cxEntry{}, false
	}
	entries, order := cxReadTar(e.t, []byte(r.stdout))
	if len(order) == 0 {
		return cxEntry{}, false
	}
	return entries[order[0]], true
}

// TestContainerCp copies in and out of a running and a stopped container.
func TestContainerCp(t *testing.T) {
	e := newCX(t)
	host := filepath.Join(e.dir, "host")
	if err := os.MkdirAll(filepath.Join(host, "srcdir/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"file": "content\n", "srcdir/a": "a\n", "srcdir/sub/b": "b\n"} {
		if err := os.WriteFile(filepath.Join(host, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(host, "file"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	e.must("run", "-d", "--name", "r1", "busybox", "sh", "-c",
		"mkdir -p /data/sub && echo hi > /data/sub/f && ln -s /etc /data/etclink && touch /ready && sleep 1000")
	e.waitFor(10*time.Second, "the container to be ready", func() bool {
		_, ok := e.fileIn("r1", "/ready")
		return ok
	})

	for _, state := range []string{"running", "stopped"} {
		t.Run(state, func(t *testing.T) {
			if state == "stopped" {
				e.must("stop", "-t", "0", "r1")
			}
			out := filepath.Join(e.dir, "out-"+state)
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			// Host → container.
			e.must("cp", filepath.Join(host, "file"), "r1:/tmp/")
			if f, ok := e.fileIn("r1", "/tmp/file"); !ok || f.body != "content\n" || f.hdr.Uid != 0 || f.hdr.Gid != 0 {
				t.Errorf("cp into a directory: %+v %v", f.hdr, ok)
			}
			e.must("cp", "-a", filepath.Join(host, "file"), "r1:/tmp/owned")
			if f, ok := e.fileIn("r1", "/tmp/owned"); !ok || f.hdr.Uid != 1234 || f.hdr.Gid != 5678 {
				t.Errorf("cp -a keeps owners: %+v", f.hdr)
			}
			e.must("cp", filepath.Join(host, "srcdir"), "r1:/tmp/")
			e.must("cp", filepath.Join(host, "srcdir")+"/.", "r1:/tmp/contents")
			if f, ok := e.fileIn("r1", "/tmp/srcdir/sub/b"); !ok || f.body != "b\n" {
				t.Error("cp of a directory into a directory")
			}
			if f, ok := e.fileIn("r1", "/tmp/contents/sub/b"); !ok || f.body != "b\n" {
				t.Error("cp of dir/. to a new directory")
			}
			e.must("cp", filepath.Join(host, "srcdir")+"/.", "r1:/tmp/srcdir")
			if _, ok := e.fileIn("r1", "/tmp/srcdir/a"); !ok {
				t.Error("cp of dir/. into an existing directory")
			}
			if _, ok := e.fileIn("r1", "/tmp/srcdir/srcdir"); ok {
				t.Error("cp of dir/. copied the directory itself")
			}
			// A symlink destination is followed inside the container.
			e.must("cp", filepath.Join(host, "file"), "r1:/data/etclink/")
			if _, ok := e.fileIn("r1", "/etc/file"); !ok {
				t.Error("cp through a symlinked directory")
			}
			// A tar stream on stdin, owners reset without -a.
			stream := cxTarOf(t, "streamed", "s\n", "sdir/inner", "i\n")
			e.mustIn(stream, "cp", "-", "r1:/tmp")
			if f, ok := e.fileIn("r1", "/tmp/sdir/inner"); !ok || f.body != "i\n" || f.hdr.Uid != 0 {
				t.Errorf("cp - into the container: %+v %v", f.hdr, ok)
			}
			e.mustIn(stream, "cp", "-a", "-", "r1:/tmp")
			if f, _ := e.fileIn("r1", "/tmp/streamed"); f.hdr == nil || f.hdr.Uid != 4321 {
				t.Errorf("cp -a - keeps the archive's owners: %+v", f.hdr)
			}

			// Container → host.
			e.must("cp", "r1:/data", out)
			if b, err := os.ReadFile(filepath.Join(out, "data/sub/f")); err != nil || string(b) != "hi\n" {
				t.Errorf("cp of a directory out: %q %v", b, err)
			}
			if l, err := os.Readlink(filepath.Join(out, "data/etclink")); err != nil || l != "/etc" {
				t.Errorf("a symlink is copied as one: %q %v", l, err)
			}
			e.must("cp", "r1:/data/.", filepath.Join(out, "contents"))
			if _, err := os.Stat(filepath.Join(out, "contents/sub/f")); err != nil {
				t.Errorf("cp of dir/. out: %v", err)
			}
			e.must("cp", "r1:/data/sub/f", filepath.Join(out, "renamed"))
			if b, err := os.ReadFile(filepath.Join(out, "renamed")); err != nil || string(b) != "hi\n" {
				t.Errorf("cp of a file to a new name: %q %v", b, err)
			}
			e.must("cp", "-L", "r1:/data/etclink", filepath.Join(out, "followed"))
			if fi, err := os.Lstat(filepath.Join(out, "followed")); err != nil || !fi.IsDir() {
				t.Errorf("cp -L copies the target: %v %v", fi, err)
			}
			r := e.must("cp", "r1:/data", "-")
			if entries, _ := cxReadTar(t, []byte(r.stdout)); entries["data/sub/f"].body != "hi\n" {
				t.Errorf("cp to stdout: %v", entries)
			}

			// Docker's errors.
			e.fails("Could not find the file /nonexistent in container r1", "cp", "r1:/nonexistent", out)
			e.fails("no such directory", "cp", filepath.Join(host, "file"), "r1:/newdir/")
			e.fails("Could not find the file /nonexistent in container r1", "cp", filepath.Join(host, "file"), "r1:/nonexistent/x")
			e.fails("cannot copy directory", "cp", "r1:/data", filepath.Join(out, "renamed"))
			e.fails("must specify at least one container source", "cp", filepath.Join(host, "file"), out)
			e.fails("copying between containers is not supported", "cp", "r1:/a", "r1:/b")
			e.fails("No such container: nosuch", "cp", "nosuch:/a", out)

			if state == "stopped" && e.rootfsMounted("r1") {
				t.Error("the root file system stayed mounted after cp")
			}
		})
	}
	// What was copied into the stopped container is there when it runs.
	e.must("start", "r1")
	if f, ok := e.fileIn("r1", "/tmp/owned"); !ok || f.body != "content\n" {
		t.Error("files copied into the stopped container are missing after start")
	}
}

// TestContainerCpEscape checks that no container path leads out of the
// container, whatever its symlinks: copies land inside it and read from
// it, never the host.
func TestContainerCpEscape(t *testing.T) {
	e := newCX(t)
	tag := "hull-cp-escape-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	hostTmp := filepath.Join("/tmp", tag)
	t.Cleanup(func() { os.RemoveAll(hostTmp) })
	src := filepath.Join(e.dir, "src")
	if err := os.WriteFile(src, []byte("payload\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A file the container cannot see, to be read through its symlinks.
	secret := filepath.Join(e.dir, "secret")
	if err := os.WriteFile(secret, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.must("run", "-d", "--name", "r1", "busybox", "sh", "-c",
		"ln -s / /escape && ln -s ../../../../../.. /dotdot && mkdir /"+tag+" && ln -s /tmp /"+tag+"/tmplink && touch /ready && sleep 1000")
	e.waitFor(10*time.Second, "the container to be ready", func() bool {
		_, ok := e.fileIn("r1", "/ready")
		return ok
	})
	noHostFile := func(what string) {
		t.Helper()
		if _, err := os.Lstat(hostTmp); err == nil {
			t.Fatalf("%s: wrote %s on the host", what, hostTmp)
		}
	}
	for _, state := range []string{"running", "stopped"} {
		if state == "stopped" {
			e.must("stop", "-t", "0", "r1")
		}
		for _, dst := range []string{"/escape/tmp/" + tag, "/dotdot/tmp/" + tag, "/escape/escape/dotdot/tmp/" + tag} {
			e.must("cp", src, "r1:"+dst)
			noHostFile(state + " cp to " + dst)
			if f, ok := e.fileIn("r1", "/tmp/"+tag); !ok || f.body != "payload\n" {
				t.Errorf("%s: cp to %s did not land in the container's /tmp", state, dst)
			}
		}
		// A symlinked destination directory is followed inside.
		_, hadSrc := os.Lstat("/src")
		e.must("cp", src, "r1:/escape")
		if _, err := os.Lstat("/src"); err == nil && hadSrc != nil {
			os.Remove("/src")
			t.Fatalf("%s: cp to a symlink to / wrote the host's /src", state)
		}
		if f, ok := e.fileIn("r1", "/src"); !ok || f.body != "payload\n" {
			t.Errorf("%s: cp to a symlink to / did not land in the container's /", state)
		}
		// An archive entry through a symlink is refused, not followed.
		r := e.hullIn(cxTarOf(t, "escape/tmp/"+tag+"-stream", "x"), "cp", "-", "r1:/")
		if r.code == 0 {
			t.Errorf("%s: a stream entry through a symlink was extracted:\n%v", state, r)
		}
		if _, err := os.Lstat(hostTmp + "-stream"); err == nil {
			os.Remove(hostTmp + "-stream")
			t.Fatalf("%s: a stream entry escaped to the host", state)
		}
		r = e.hullIn(cxTarOf(t, "../../../../tmp/"+tag+"-dots", "x"), "cp", "-", "r1:/"+tag)
		if _, err := os.Lstat(hostTmp + "-dots"); err == nil {
			os.Remove(hostTmp + "-dots")
			t.Fatalf("%s: a ../ stream entry escaped to the host (exit %d)", state, r.code)
		}
		// Reading through symlinks reads the container, not the host.
		for _, p := range []string{"/escape" + secret, "/dotdot" + secret} {
			if f, ok := e.fileIn("r1", p); ok {
				t.Errorf("%s: read %s through %s", state, f.body, p)
			}
		}
		e.must("cp", "r1:/escape/etc/passwd", filepath.Join(e.dir, "passwd-"+state))
		if b, _ := os.ReadFile(filepath.Join(e.dir, "passwd-"+state)); !strings.HasPrefix(string(b), "root:x:0:0:root:/root:/bin/sh") {
			t.Errorf("%s: /escape/etc/passwd is not the container's: %q", state, b)
		}
		noHostFile(state)
	}
}

func (e *cxEnv) mustIn(stdin []byte, args ...string) cxResult {
	e.t.Helper()
	r := e.hullIn(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("unexpected failure:\n%v", r)
	}
	return r
}
