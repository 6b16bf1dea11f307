package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestMounts(t *testing.T) {
	dests := func(s *specs.Spec) []string {
		var out []string
		for _, m := range s.Mounts {
			out = append(out, m.Destination)
		}
		return out
	}
	defaults := []string{"/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"}
	tests := []struct {
		name  string
		opts  Options
		err   string
		check func(t *testing.T, s *specs.Spec)
	}{
		{name: "--shm-size", opts: Options{ShmSize: 128 << 20}, check: func(t *testing.T, s *specs.Spec) {
			m, _ := findMount(s, "/dev/shm")
			if !slices.Contains(m.Options, "size=134217728") {
				t.Errorf("/dev/shm options %v", m.Options)
			}
		}},
		{name: "--shm-size negative", opts: Options{ShmSize: -1}, err: "SHM size can not be less than 0"},
		{name: "-v bind: rbind, rprivate", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/srv/data", Target: "/data"}}},
			check: func(t *testing.T, s *specs.Spec) {
				m, _ := findMount(s, "/data")
				want := specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "rprivate"}}
				if !reflect.DeepEqual(m, want) {
					t.Errorf("mount = %+v, want %+v", m, want)
				}
			}},
		{name: "-v bind:ro with extra flags", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/srv", Target: "/srv/", ReadOnly: true, Options: []string{"nosuid", "bind"}}}},
			check: func(t *testing.T, s *specs.Spec) {
				m, _ := findMount(s, "/srv")
				if !reflect.DeepEqual(m.Options, []string{"bind", "ro", "rprivate", "nosuid"}) {
					t.Errorf("options %v", m.Options)
				}
			}},
		{name: "volume: rbind of the volume dir, no default propagation", opts: Options{Mounts: []Mount{{Type: "volume", Source: "/var/lib/hull/volumes/v/_data", Target: "/v", ReadOnly: true}}},
			check: func(t *testing.T, s *specs.Spec) {
				m, _ := findMount(s, "/v")
				want := specs.Mount{Destination: "/v", Type: "bind", Source: "/var/lib/hull/volumes/v/_data", Options: []string{"rbind", "ro"}}
				if !reflect.DeepEqual(m, want) {
					t.Errorf("mount = %+v, want %+v", m, want)
				}
			}},
		{name: "--tmpfs defaults noexec,nosuid,nodev,rprivate", opts: Options{Mounts: []Mount{{Type: "tmpfs", Target: "/run"}}},
			check: func(t *testing.T, s *specs.Spec) {
				m, _ := findMount(s, "/run")
				want := specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"noexec", "nosuid", "nodev", "rprivate"}}
				if !reflect.DeepEqual(m, want) {
					t.Errorf("mount = %+v, want %+v", m, want)
				}
			}},
		{name: "--tmpfs options merged, later wins", opts: Options{Mounts: []Mount{{Type: "tmpfs", Target: "/run", ReadOnly: true, Options: []string{"exec", "size=64m", "mode=1777", "size=32m"}}}},
			check: func(t *testing.T, s *specs.Spec) {
				m, _ := findMount(s, "/run")
				want := []string{"nosuid", "nodev", "rprivate", "ro", "exec", "mode=1777", "size=32m"}
				if !reflect.DeepEqual(m.Options, want) {
					t.Errorf("options %v, want %v", m.Options, want)
				}
			}},
		{name: "--tmpfs bad option", opts: Options{Mounts: []Mount{{Type: "tmpfs", Target: "/run", Options: []string{"bogus=1"}}}},
			err: `invalid tmpfs option "bogus=1"`},
		{name: "user mount replaces the default at its destination", opts: Options{Mounts: []Mount{{Type: "tmpfs", Target: "/dev/shm", Options: []string{"size=1m"}}}},
			check: func(t *testing.T, s *specs.Spec) {
				var n int
				for _, m := range s.Mounts {
					if m.Destination == "/dev/shm" {
						n++
						if m.Source != "tmpfs" {
							t.Errorf("default /dev/shm kept: %+v", m)
						}
					}
				}
				if n != 1 {
					t.Errorf("%d /dev/shm mounts", n)
				}
			}},
		{name: "a /dev mount drops the defaults below /dev", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/dev", Target: "/dev"}}},
			check: func(t *testing.T, s *specs.Spec) {
				if got := dests(s); !reflect.DeepEqual(got, []string{"/proc", "/sys", "/sys/fs/cgroup", "/dev"}) {
					t.Errorf("mounts %v", got)
				}
			}},
		{name: "user mounts sorted parents first, stable", opts: Options{Mounts: []Mount{
			{Type: "bind", Source: "/a", Target: "/x/y/z"},
			{Type: "bind", Source: "/b", Target: "/x"},
			{Type: "bind", Source: "/c", Target: "/q/r"},
			{Type: "bind", Source: "/d", Target: "/x/y"},
		}}, check: func(t *testing.T, s *specs.Spec) {
			if got := dests(s); !reflect.DeepEqual(got, append(slices.Clone(defaults), "/x", "/q/r", "/x/y", "/x/y/z")) {
				t.Errorf("mounts %v", got)
			}
		}},
		{name: "--read-only: ro on defaults but /proc and /dev ones, not on user mounts", opts: Options{ReadOnly: true,
			Mounts: []Mount{{Type: "tmpfs", Target: "/tmp"}}}, check: func(t *testing.T, s *specs.Spec) {
			if !s.Root.Readonly {
				t.Error("root not read-only")
			}
			for _, m := range s.Mounts {
				ro := slices.Contains(m.Options, "ro")
				want := m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup"
				if ro != want {
					t.Errorf("%s read-only = %v, want %v", m.Destination, ro, want)
				}
			}
		}},
		{name: "--ipc none: no /dev/shm", opts: Options{IpcMode: "none"}, check: func(t *testing.T, s *specs.Spec) {
			if _, ok := findMount(s, "/dev/shm"); ok {
				t.Error("/dev/shm mounted")
			}
		}},
		{name: "--ipc host: the host's /dev/shm", opts: Options{IpcMode: "host"}, check: func(t *testing.T, s *specs.Spec) {
			m, _ := findMount(s, "/dev/shm")
			want := specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "rprivate"}}
			if !reflect.DeepEqual(m, want) {
				t.Errorf("mount = %+v, want %+v", m, want)
			}
		}},
		{name: "--ipc container:<pid>: that container's /dev/shm", opts: Options{IpcMode: "container:42"}, check: func(t *testing.T, s *specs.Spec) {
			if m, _ := findMount(s, "/dev/shm"); m.Source != "/proc/42/root/dev/shm" || m.Type != "bind" {
				t.Errorf("mount = %+v", m)
			}
		}},
		{name: "shared propagation makes the rootfs shared", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/mnt", Target: "/mnt", Propagation: "rshared"}}},
			check: func(t *testing.T, s *specs.Spec) {
				m, _ := findMount(s, "/mnt")
				if s.Linux.RootfsPropagation != "shared" || !slices.Contains(m.Options, "rshared") {
					t.Errorf("rootfsPropagation %q options %v", s.Linux.RootfsPropagation, m.Options)
				}
			}},
		{name: "slave propagation makes the rootfs rslave", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/mnt", Target: "/mnt", Propagation: "slave"}}},
			check: func(t *testing.T, s *specs.Spec) {
				if s.Linux.RootfsPropagation != "rslave" {
					t.Errorf("rootfsPropagation %q", s.Linux.RootfsPropagation)
				}
			}},
		{name: "bad propagation", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/mnt", Target: "/mnt", Propagation: "bogus"}}}, err: "invalid propagation mode"},
		{name: "relative target", opts: Options{Mounts: []Mount{{Type: "tmpfs", Target: "run"}}}, err: `invalid mount target "run"`},
		{name: "target /", opts: Options{Mounts: []Mount{{Type: "bind", Source: "/x", Target: "/"}}}, err: "destination can't be '/'"},
		{name: "relative bind source", opts: Options{Mounts: []Mount{{Type: "bind", Source: "x", Target: "/x"}}}, err: "mount path must be absolute"},
		{name: "unknown type", opts: Options{Mounts: []Mount{{Type: "nfs", Source: "/x", Target: "/x"}}}, err: `invalid mount type "nfs"`},
		{name: "user namespace: writable cgroup mount", opts: Options{UIDMaps: []specs.LinuxIDMapping{{Size: 1}}, GIDMaps: []specs.LinuxIDMapping{{Size: 1}}},
			check: func(t *testing.T, s *specs.Spec) {
				if m, _ := findMount(s, "/sys/fs/cgroup"); slices.Contains(m.Options, "ro") {
					t.Errorf("cgroup options %v", m.Options)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(nil, withCmd(tt.opts), testHost())
			if checkErr(t, err, tt.err) {
				tt.check(t, s)
			}
		})
	}
}

func TestDevices(t *testing.T) {
	// The host's /dev/null, directly and through a symlink, stands in for a
	// real device: creating nodes would need CAP_MKNOD.
	dir := t.TempDir()
	link := filepath.Join(dir, "mynull")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	null := func(path, perms string) ([]specs.LinuxDevice, []specs.LinuxDeviceCgroup) {
		mode := os.FileMode(0o666)
		var zero uint32
		return []specs.LinuxDevice{{Type: "c", Path: path, Major: 1, Minor: 3, FileMode: &mode, UID: &zero, GID: &zero}},
			[]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: perms}}
	}
	tests := []struct {
		name  string
		opts  Options
		devs  []specs.LinuxDevice
		rules []specs.LinuxDeviceCgroup
		err   string
	}{
		{name: "--device host path only: same path, rwm", opts: Options{Devices: []string{"/dev/null"}}},
		{name: "--device host:container", opts: Options{Devices: []string{"/dev/null:/dev/xnull"}}},
		{name: "--device host:perms", opts: Options{Devices: []string{"/dev/null:r"}}},
		{name: "--device host:container:perms", opts: Options{Devices: []string{"/dev/null:/dev/xnull:rw"}}},
		{name: "--device through a symlink", opts: Options{Devices: []string{link + ":/dev/xnull"}}},
		{name: "--device bad perms", opts: Options{Devices: []string{"/dev/null:/dev/xnull:rwx"}}, err: "bad mode specified: rwx"},
		{name: "--device relative container path", opts: Options{Devices: []string{"/dev/null:xnull"}}, err: "xnull is not an absolute path"},
		{name: "--device too many fields", opts: Options{Devices: []string{"/a:/b:rw:x"}}, err: "invalid device specification: /a:/b:rw:x"},
		{name: "--device not a device", opts: Options{Devices: []string{dir + "/nothing"}}, err: "error gathering device information while adding custom device"},
		{name: "--device-cgroup-rule", opts: Options{DeviceCgroupRules: []string{"c 42:* rmw", "b *:* m"}},
			rules: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: ptr[int64](42), Access: "rmw"}, {Allow: true, Type: "b", Access: "m"}}},
		{name: "--device-cgroup-rule malformed", opts: Options{DeviceCgroupRules: []string{"c 1:3"}}, err: "invalid device cgroup rule format: 'c 1:3'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(nil, withCmd(tt.opts), testHost())
			if !checkErr(t, err, tt.err) {
				return
			}
			devs, rules := tt.devs, tt.rules
			if len(tt.opts.Devices) == 1 {
				d, err := parseDevice(tt.opts.Devices[0])
				if err != nil {
					t.Fatal(err)
				}
				devs, rules = null(d.container, d.perms)
			}
			if got := s.Linux.Devices; len(got) != len(devs) || (len(devs) > 0 && !reflect.DeepEqual(got, devs)) {
				t.Errorf("devices = %s, want %s", fmtJSON(got), fmtJSON(devs))
			}
			base := DefaultDeviceRules()
			if got := s.Linux.Resources.Devices; !reflect.DeepEqual(got[:len(base)], base) || !reflect.DeepEqual(got[len(base):], rules) &&
				len(got[len(base):])+len(rules) > 0 {
				t.Errorf("device rules after the defaults = %s, want %s", fmtJSON(got[len(base):]), fmtJSON(rules))
			}
		})
	}
}

// TestDeviceDirectory: --device of a directory maps every device node below
// it, at the matching path under the container path.
func TestDeviceDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		name       string
		mode       uint32
		major, min uint32
	}{{"a", unix.S_IFCHR | 0o644, 1, 3}, {"sub/b", unix.S_IFBLK | 0o600, 7, 9}} {
		if err := unix.Mknod(filepath.Join(dir, n.name), n.mode, int(unix.Mkdev(n.major, n.min))); err != nil {
			if errors.Is(err, unix.EPERM) {
				t.Skipf("mknod: %v (needs CAP_MKNOD)", err)
			}
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "not-a-device"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := mustGen(t, nil, Options{Cmd: []string{"sh"}, Devices: []string{dir + ":/dev/mine:rw"}})
	var got []string
	for _, d := range s.Linux.Devices {
		got = append(got, fmt.Sprintf("%s %s %d:%d %o", d.Type, d.Path, d.Major, d.Minor, *d.FileMode))
	}
	want := []string{"c /dev/mine/a 1:3 644", "b /dev/mine/sub/b 7:9 600"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices = %q, want %q", got, want)
	}
	rules := s.Linux.Resources.Devices[len(DefaultDeviceRules()):]
	if len(rules) != 2 || rules[0].Access != "rw" || rules[1].Type != "b" || *rules[1].Major != 7 {
		t.Errorf("rules = %s", fmtJSON(rules))
	}
}

func TestMergeTmpfsOptions(t *testing.T) {
	tests := []struct {
		in, want []string
		err      string
	}{
		{in: []string{"noexec", "exec"}, want: []string{"exec"}},
		{in: []string{"ro", "size=1m", "rw", "size=2m"}, want: []string{"rw", "size=2m"}},
		{in: []string{"rprivate", "rshared", "defaults"}, want: []string{"rshared"}},
		{in: []string{"mode=0700", "uid=1", "gid=2", "nr_inodes=10"}, want: []string{"mode=0700", "uid=1", "gid=2", "nr_inodes=10"}},
		{in: []string{"bogus"}, err: `invalid tmpfs option "bogus"`},
		{in: []string{"foo=1"}, err: `invalid tmpfs option "foo=1"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, ","), func(t *testing.T) {
			got, err := mergeTmpfsOptions(tt.in)
			if checkErr(t, err, tt.err) && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
