package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
)

// podman runs podman with a private store so tests never touch the host's.
type podman struct {
	t    *testing.T
	args []string
}

func newPodman(t *testing.T) *podman {
	testutil.RequireBinary(t, "podman")
	// podman refuses a runroot longer than 50 characters.
	dir, err := os.MkdirTemp("", "pm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &podman{t: t, args: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
	}}
	t.Cleanup(func() {
		// Remove images through podman first so it unmounts what it
		// mounted; the directory goes after. (Not `system reset`, which
		// may touch host-wide network configuration.)
		exec.Command("podman", append(p.args, "rmi", "-a", "-f")...).Run()
	})
	return p
}

func (p *podman) run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command("podman", append(p.args, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+p.t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("skopeo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestHullPushedImagesRunInPodman imports a busybox rootfs into hull,
// pushes it to Debian's registry, and has skopeo inspect and podman pull
// and run it.
func TestHullPushedImagesRunInPodman(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "skopeo")
	testutil.RequireBinary(t, "runc")
	reg := testutil.StartRegistry(t)
	root := t.TempDir()
	ref := reg + "/interop/busybox:1"
	testutil.MustHull(t, root, "import", "--change", `CMD ["/bin/sh"]`, testutil.BusyboxTar(t), ref)
	testutil.MustHull(t, root, "push", ref)
	id := strings.TrimSpace(testutil.MustHull(t, root, "image", "inspect", "-f", "{{.Id}}", ref).Stdout)

	var info struct {
		Layers []string
		Os     string
	}
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--tls-verify=false", "docker://"+ref)), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Layers) != 1 || info.Os != "linux" {
		t.Fatalf("skopeo sees %+v", info)
	}
	skopeo(t, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(t.TempDir(), "oci")+":x")

	p := newPodman(t)
	p.run("pull", "--tls-verify=false", ref)
	pid := strings.TrimSpace(p.run("image", "inspect", "--format", "{{.Id}}", ref))
	if "sha256:"+pid != id && pid != id {
		t.Fatalf("podman's image ID %s differs from hull's %s", pid, id)
	}
	out := p.run("run", "--rm", "--runtime", "runc", "--network", "none",
		"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768", ref, "/bin/echo", "hello from hull")
	if !strings.Contains(out, "hello from hull") {
		t.Fatalf("podman run printed %q", out)
	}
}

// TestPodmanPushedImagesPullIntoHull goes the other way: podman builds and
// pushes an image, hull pulls it and sees the same config.
func TestPodmanPushedImagesPullIntoHull(t *testing.T) {
	testutil.RequireRoot(t)
	reg := testutil.StartRegistry(t)
	p := newPodman(t)
	ref := reg + "/interop/frompodman:2"
	p.run("import", "--change", "CMD /bin/sh", "--change", "ENV FOO=bar", testutil.BusyboxTar(t), ref)
	p.run("push", "--tls-verify=false", ref)
	pid := strings.TrimSpace(p.run("image", "inspect", "--format", "{{.Id}}", ref))

	root := t.TempDir()
	testutil.MustHull(t, root, "pull", ref)
	id := strings.TrimSpace(testutil.MustHull(t, root, "image", "inspect", "-f", "{{.Id}}", ref).Stdout)
	if id != "sha256:"+pid && id != pid {
		t.Fatalf("hull's image ID %s differs from podman's %s", id, pid)
	}
	env := testutil.MustHull(t, root, "image", "inspect", "-f", "{{json .Config.Env}}", ref).Stdout
	if !strings.Contains(env, "FOO=bar") {
		t.Fatalf("config env %s lacks FOO=bar", env)
	}
	// The unpacked layer holds busybox.
	digests := testutil.MustHull(t, root, "images", "--digests", "--format", "{{.Digest}}").Stdout
	if !strings.HasPrefix(strings.TrimSpace(digests), "sha256:") {
		t.Fatalf("images --digests printed %q", digests)
	}
}
