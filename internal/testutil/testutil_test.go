package testutil

import (
	"archive/tar"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeTB records Skip and Fatalf instead of ending the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
}

func TestRequireBinarySkipsLocallyFailsInCI(t *testing.T) {
	for _, ci := range []string{"", "false", "true", "1"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			f := &fakeTB{TB: t}
			if p := RequireBinary(f, "hull-testutil-no-such-binary"); p != "" {
				t.Fatalf("RequireBinary returned %q", p)
			}
			wantFail := ci == "true" || ci == "1"
			if f.failed != wantFail || f.skipped == wantFail {
				t.Fatalf("failed=%v skipped=%v, want failed=%v (msg %q)", f.failed, f.skipped, wantFail, f.msg)
			}
			if !strings.Contains(f.msg, "hull-testutil-no-such-binary") {
				t.Errorf("message %q does not name the binary", f.msg)
			}
		})
	}
	f := &fakeTB{TB: t}
	if p := RequireBinary(f, "sh"); p == "" || f.failed || f.skipped {
		t.Fatalf("RequireBinary(sh) = %q, failed=%v skipped=%v", p, f.failed, f.skipped)
	}
}

func TestRequireRoot(t *testing.T) {
	t.Setenv("CI", "true")
	f := &fakeTB{TB: t}
	RequireRoot(f)
	if got, want := f.failed, os.Geteuid() != 0; got != want || f.skipped {
		t.Fatalf("euid %d: failed=%v skipped=%v", os.Geteuid(), f.failed, f.skipped)
	}
}

func TestBusyboxTar(t *testing.T) {
	p := BusyboxTar(t)
	if p2 := BusyboxTar(t); p2 != p {
		t.Fatalf("second call returned %q, first %q", p2, p)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	hdrs := map[string]*tar.Header{}
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", p, err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || !hdr.ModTime.Equal(BusyboxModTime) {
			t.Errorf("%s: uid %d gid %d mtime %v", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime)
		}
		if strings.HasPrefix(hdr.Name, "/") || strings.Contains(hdr.Name, "..") {
			t.Errorf("bad name %q", hdr.Name)
		}
		if hdr.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			if !strings.HasPrefix(string(b), "root:x:0:0:root:/root:/bin/sh\n") {
				t.Errorf("etc/passwd = %q", b)
			}
		}
		hdrs[hdr.Name] = hdr
		names = append(names, hdr.Name)
	}
	for i := 1; i < len(names); i++ {
		if strings.TrimSuffix(names[i-1], "/") >= strings.TrimSuffix(names[i], "/") {
			t.Errorf("entries not sorted: %q before %q", names[i-1], names[i])
		}
	}
	bb := hdrs["bin/busybox"]
	if bb == nil || bb.Typeflag != tar.TypeReg || bb.Mode != 0o755 || bb.Size == 0 {
		t.Fatalf("bin/busybox: %+v", bb)
	}
	for _, applet := range []string{"sh", "ls", "cat", "echo"} {
		h := hdrs["bin/"+applet]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: %+v, want symlink to busybox", applet, h)
		}
	}
	if h := hdrs["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("tmp/: %+v", h)
	}
	for _, d := range []string{"bin/", "etc/", "root/", "var/", "proc/", "sys/", "dev/"} {
		if h := hdrs[d]; h == nil || h.Typeflag != tar.TypeDir {
			t.Errorf("%s: %+v, want a directory", d, h)
		}
	}

	// Deterministic: building it again gives the same bytes.
	entries, err := busyboxEntriesErr()
	if err != nil {
		t.Fatal(err)
	}
	again, err := tarEntries(entries)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || !bytes.Equal(b, again) {
		t.Fatalf("rebuilt tar differs from %s (err %v)", p, err)
	}
}

func TestBusyboxRootfs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rootfs")
	BusyboxRootfs(t, dir)
	if target, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || target != "busybox" {
		t.Fatalf("bin/sh -> %q, %v", target, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "tmp"))
	if err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Fatalf("tmp: %v, %v", fi.Mode(), err)
	}
	for _, d := range []string{"root", "var", "proc", "sys", "dev"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	// Building over an existing tree works (idempotent).
	BusyboxRootfs(t, dir)

	t.Run("chroot", func(t *testing.T) {
		RequireRoot(t)
		cmd := exec.Command("/bin/sh", "-c", "id -un; echo hello > /tmp/x; cat /tmp/x")
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
		cmd.Dir = "/"
		cmd.Env = []string{"PATH=/bin"}
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != "root\nhello\n" {
			t.Fatalf("sh in the chroot: %v, output %q", err, out)
		}
	})
}

// get does GET url with optional basic auth and returns the status code.
func get(t *testing.T, client *http.Client, url, user, pass string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStartRegistry(t *testing.T) {
	var addr string
	t.Run("run", func(t *testing.T) {
		addr = StartRegistry(t)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("addr %q", addr)
		}
		if code := get(t, http.DefaultClient, "http://"+addr+"/v2/", "", ""); code != http.StatusOK {
			t.Fatalf("GET /v2/: %d", code)
		}
		// Blob upload works (storage is writable) and delete is enabled.
		blob := []byte("hello")
		const dgst = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
		resp, err := http.Post("http://"+addr+"/v2/test/blobs/uploads/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if resp.StatusCode != http.StatusAccepted || err != nil {
			t.Fatalf("start upload: %s, Location: %v", resp.Status, err)
		}
		q := loc.Query()
		q.Set("digest", dgst)
		loc.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(blob))
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("finish upload: %s", resp.Status)
		}
		req, _ = http.NewRequest(http.MethodDelete, "http://"+addr+"/v2/test/blobs/"+dgst, nil)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("DELETE blob: %s", resp.Status)
		}
	})
	if addr == "" {
		return
	}
	// The registry is gone once its test ended.
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("registry on %s still answers after its test ended", addr)
	}
}

func TestStartAuthRegistry(t *testing.T) {
	addr := StartAuthRegistry(t, "alice", "s3cret")
	url := "http://" + addr + "/v2/"
	if code := get(t, http.DefaultClient, url, "", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", code)
	}
	if code := get(t, http.DefaultClient, url, "alice", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code := get(t, http.DefaultClient, url, "alice", "s3cret"); code != http.StatusOK {
		t.Errorf("right password: %d, want 200", code)
	}
}

func TestStartRegistryTLS(t *testing.T) {
	reg := StartRegistryWith(t, RegistryOptions{User: "bob", Password: "pw", TLS: true})
	pem, err := os.ReadFile(reg.CACertPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in CA PEM")
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	if code := get(t, client, "https://"+reg.Addr+"/v2/", "bob", "pw"); code != http.StatusOK {
		t.Fatalf("GET /v2/ over TLS: %d", code)
	}
	// Without the CA the certificate is not trusted.
	req, _ := http.NewRequest(http.MethodGet, "https://"+reg.Addr+"/v2/", nil)
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("TLS without the CA succeeded")
	}
	var uerr x509.UnknownAuthorityError
	if !errors.As(err, &uerr) {
		t.Logf("error without the CA: %v", err)
	}
}

func TestRunHull(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-hull")
	script := "#!/bin/sh\necho \"args:$*\"\necho \"home:$HOME config:${DOCKER_CONFIG-unset}\" >&2\nread line && echo stdin-not-empty\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", "/nonexistent")
	root := filepath.Join(dir, "root")
	home := HullHome(t, root)
	if h := HullHome(t, root); h != home {
		t.Fatalf("HullHome not stable: %q then %q", home, h)
	}
	if h := HullHome(t, root+"2"); h == home {
		t.Fatal("two roots share a HOME")
	}
	res := runHull(t, bin, home, root, []string{"images", "-q"})
	want := Result{
		Stdout:   "args:--root " + root + " images -q\n",
		Stderr:   "home:" + home + " config:unset\n",
		ExitCode: 3,
	}
	if res != want {
		t.Fatalf("got %+v\nwant %+v", res, want)
	}
}
