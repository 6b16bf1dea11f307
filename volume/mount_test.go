package volume

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hull-project/hull/internal/testutil"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		o     string
		flags uintptr
		data  string
	}{
		{"", 0, ""},
		{"size=64m,uid=1000", 0, "size=64m,uid=1000"},
		{"ro,noexec,nosuid,size=1m", unix.MS_RDONLY | unix.MS_NOEXEC | unix.MS_NOSUID, "size=1m"},
		{"bind,ro", unix.MS_BIND | unix.MS_RDONLY, ""},
		{"rbind,rprivate", unix.MS_BIND | unix.MS_REC | unix.MS_PRIVATE, ""},
		{"ro,rw,defaults,,addr=1.2.3.4", 0, "addr=1.2.3.4"},
	} {
		flags, data := ParseMountOptions(tc.o)
		if flags != tc.flags || data != tc.data {
			t.Errorf("ParseMountOptions(%q) = %#x, %q; want %#x, %q", tc.o, flags, data, tc.flags, tc.data)
		}
	}
}

// mountOf returns the mount at path, or nil.
func mountOf(t *testing.T, path string) *mountinfo.Info {
	t.Helper()
	infos, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) == 0 {
		return nil
	}
	return infos[len(infos)-1]
}

func TestMountTmpfs(t *testing.T) {
	testutil.RequireRoot(t)
	s, root := openStore(t)
	t.Cleanup(func() { _ = unmount(filepath.Join(s.Dir(), "tmp", dataDir)) })
	v := mustCreate(t, s, "tmp", CreateOptions{Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=1000,noexec"}})

	p1, err := s.Mount("tmp")
	if err != nil {
		t.Fatal(err)
	}
	if p1 != v.Mountpoint {
		t.Errorf("Mount = %s, want %s", p1, v.Mountpoint)
	}
	m := mountOf(t, v.Mountpoint)
	if m == nil || m.FSType != "tmpfs" || !strings.Contains(m.VFSOptions, "size=1024k") ||
		!strings.Contains(m.VFSOptions, "uid=1000") || !strings.Contains(m.Options, "noexec") {
		t.Fatalf("mount: %+v", m)
	}
	writeFile(t, filepath.Join(p1, "shared"), "x", 0o644)

	// A second user shares the mount.
	if _, err := s.Mount("tmp"); err != nil {
		t.Fatal(err)
	}
	if infos, _ := mountinfo.GetMounts(mountinfo.SingleEntryFilter(v.Mountpoint)); len(infos) != 1 {
		t.Errorf("%d mounts after two Mounts", len(infos))
	}
	if err := s.Remove("tmp", true, nil); !errors.Is(err, ErrInUse) {
		t.Errorf("Remove while mounted: %v", err)
	}
	if _, _, err := s.Prune(true, LabelFilter{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmount("tmp"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v.Mountpoint, "shared")); err != nil {
		t.Errorf("first Unmount of two unmounted: %v", err)
	}
	// A fill through the mount; the tmpfs loses it when unmounted, so it
	// is filled again next time.
	rootfs := filepath.Join(root, "rootfs")
	writeFile(t, filepath.Join(rootfs, "etc", "conf"), "conf", 0o644)
	if err := emptyDir(v.Mountpoint); err != nil {
		t.Fatal(err)
	}
	if err := s.Fill("tmp", rootfs, "/etc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmount("tmp"); err != nil {
		t.Fatal(err)
	}
	if m := mountOf(t, v.Mountpoint); m != nil {
		t.Fatalf("still mounted after the last Unmount: %+v", m)
	}
	if got := dirNames(t, v.Mountpoint); len(got) != 0 {
		t.Errorf("data dir under the mount: %v", got)
	}
	if err := s.Fill("tmp", rootfs, "/etc"); err == nil {
		t.Error("fill of an unmounted tmpfs volume succeeded")
	}
	if err := s.Unmount("tmp"); err != nil {
		t.Errorf("extra Unmount: %v", err)
	}
	if _, err := s.Mount("tmp"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fill("tmp", rootfs, "/etc"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, v.Mountpoint); !slices.Equal(got, []string{"conf"}) {
		t.Errorf("refill after remount: %v", got)
	}

	// A reboot: the mount is gone but the count file says 1.
	if err := unix.Unmount(v.Mountpoint, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount("tmp"); err != nil {
		t.Fatal(err)
	}
	if n, _ := readCount(filepath.Join(s.Dir(), "tmp", mountsFile)); n != 1 {
		t.Errorf("count after remount following a reboot: %d", n)
	}
	if err := s.Unmount("tmp"); err != nil {
		t.Fatal(err)
	}
	if m := mountOf(t, v.Mountpoint); m != nil {
		t.Fatalf("still mounted: %+v", m)
	}
	if err := s.Remove("tmp", false, nil); err != nil {
		t.Fatal(err)
	}
}

func TestMountErrors(t *testing.T) {
	testutil.RequireRoot(t)
	s, _ := openStore(t)
	mustCreate(t, s, "bad", CreateOptions{Options: map[string]string{"type": "nosuchfs", "device": "x", "o": "password=hunter2"}})
	_, err := s.Mount("bad")
	if err == nil || !strings.HasPrefix(err.Error(), "mount bad: failed to mount local volume: mount x:") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Mount of an unknown fs type: %v", err)
	}
	if n, _ := readCount(filepath.Join(s.Dir(), "bad", mountsFile)); n != 0 {
		t.Errorf("count after a failed mount: %d", n)
	}
	if err := s.Remove("bad", false, nil); err != nil {
		t.Fatal(err)
	}
	// Plain volumes need no mount.
	v := mustCreate(t, s, "plain", CreateOptions{})
	if p, err := s.Mount("plain"); err != nil || p != v.Mountpoint {
		t.Errorf("Mount(plain) = %s, %v", p, err)
	}
	if err := s.Unmount("plain"); err != nil {
		t.Error(err)
	}
	if _, err := s.Mount("nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Mount(nosuch): %v", err)
	}
}

// TestBindVolumeRemoveKeepsHostData: removing a volume bound to a host
// directory (type=none, o=bind) never deletes the host's files, even when
// a crash left it mounted.
func TestBindVolumeRemoveKeepsHostData(t *testing.T) {
	testutil.RequireRoot(t)
	s, root := openStore(t)
	host := filepath.Join(root, "host")
	writeFile(t, filepath.Join(host, "precious"), "keep me", 0o644)
	v := mustCreate(t, s, "bound", CreateOptions{Options: map[string]string{"type": "none", "device": host, "o": "bind"}})
	t.Cleanup(func() { _ = unmount(v.Mountpoint) })
	if _, err := s.Mount("bound"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(v.Mountpoint, "precious")); err != nil || string(b) != "keep me" {
		t.Fatalf("through the bind mount: %q %v", b, err)
	}
	// Crash: the count is lost, the mount stays.
	if err := os.Remove(filepath.Join(s.Dir(), "bound", mountsFile)); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("bound", false, nil); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(b) != "keep me" {
		t.Errorf("host file after removing the volume: %q %v", b, err)
	}
	if m := mountOf(t, v.Mountpoint); m != nil {
		t.Errorf("mount left: %+v", m)
	}

	// A crash in the middle of a removal, with the mount still there:
	// Open's cleanup unmounts before deleting.
	mustCreate(t, s, "bound2", CreateOptions{Options: map[string]string{"type": "none", "device": host, "o": "bind,ro"}})
	p, err := s.Mount("bound2")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to a read-only bind volume: %v", err)
	}
	trash := filepath.Join(s.Dir(), tmpPrefix+"remove-crashed")
	if err := os.Mkdir(trash, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(s.Dir(), "bound2"), filepath.Join(trash, "volume")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(trash); !os.IsNotExist(err) {
		t.Errorf("trash kept: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(host, "precious")); err != nil || string(b) != "keep me" {
		t.Errorf("host file after crash cleanup: %q %v", b, err)
	}
}
