package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// hasSyscall reports whether the profile has a rule with action act naming
// syscall name.
func hasSyscall(p *specs.LinuxSeccomp, name string, act specs.LinuxSeccompAction) bool {
	for _, sc := range p.Syscalls {
		if sc.Action == act && slices.Contains(sc.Names, name) {
			return true
		}
	}
	return false
}

func TestSeccomp(t *testing.T) {
	dir := t.TempDir()
	profile := filepath.Join(dir, "profile.json")
	if err := os.WriteFile(profile, []byte(`{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [ { "names": ["chmod", "fchmodat"], "action": "SCMP_ACT_ERRNO" } ]
}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badJSON := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badJSON, []byte(`{"defaultAction": `), 0o644); err != nil {
		t.Fatal(err)
	}
	badProfile := filepath.Join(dir, "badprofile.json")
	if err := os.WriteFile(badProfile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	custom := func(t *testing.T, s *specs.Spec) {
		p := s.Linux.Seccomp
		if p == nil || p.DefaultAction != specs.ActAllow || !hasSyscall(p, "chmod", specs.ActErrno) {
			t.Errorf("seccomp = %s, want the custom profile", fmtJSON(p))
		}
	}
	isDefault := func(t *testing.T, s *specs.Spec) {
		p := s.Linux.Seccomp
		if p == nil || p.DefaultAction != specs.ActErrno || !hasSyscall(p, "read", specs.ActAllow) {
			t.Fatalf("seccomp = %v, want Docker's default profile", p)
		}
		if hasSyscall(p, "mount", specs.ActAllow) {
			t.Error("default profile allows mount(2) without CAP_SYS_ADMIN")
		}
	}
	none := func(t *testing.T, s *specs.Spec) {
		if s.Linux.Seccomp != nil {
			t.Errorf("seccomp set: %v", s.Linux.Seccomp.DefaultAction)
		}
	}
	tests := []struct {
		name  string
		opts  Options
		err   string
		check func(t *testing.T, s *specs.Spec)
	}{
		{name: "default profile", check: isDefault},
		{name: "seccomp=builtin is the default profile", opts: Options{SecurityOpt: []string{"seccomp=builtin"}}, check: isDefault},
		{name: "default profile follows --cap-add SYS_ADMIN", opts: Options{CapAdd: []string{"SYS_ADMIN"}}, check: func(t *testing.T, s *specs.Spec) {
			if !hasSyscall(s.Linux.Seccomp, "mount", specs.ActAllow) {
				t.Error("mount(2) not allowed with CAP_SYS_ADMIN")
			}
		}},
		{name: "seccomp=unconfined", opts: Options{SecurityOpt: []string{"seccomp=unconfined"}}, check: none},
		{name: "seccomp:unconfined (deprecated separator)", opts: Options{SecurityOpt: []string{"seccomp:unconfined"}}, check: none},
		{name: "custom profile file", opts: Options{SecurityOpt: []string{"seccomp=" + profile}}, check: custom},
		{name: "inline JSON profile", opts: Options{SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO"}]}`}}, check: custom},
		{name: "missing profile file", opts: Options{SecurityOpt: []string{"seccomp=" + filepath.Join(dir, "nope.json")}},
			err: "opening seccomp profile (" + filepath.Join(dir, "nope.json") + ") failed"},
		{name: "profile file not JSON", opts: Options{SecurityOpt: []string{"seccomp=" + badJSON}},
			err: "compacting json for seccomp profile (" + badJSON + ") failed"},
		{name: "invalid profile", opts: Options{SecurityOpt: []string{"seccomp=" + badProfile}},
			err: "both 'architectures' and 'archMap' are specified"},
		{name: "privileged: no seccomp", opts: Options{Privileged: true}, check: none},
		{name: "privileged with an explicit profile keeps it", opts: Options{Privileged: true, SecurityOpt: []string{"seccomp=" + profile}}, check: custom},
		{name: "no-new-privileges", opts: Options{SecurityOpt: []string{"no-new-privileges"}}, check: func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Error("noNewPrivileges not set")
			}
		}},
		{name: "no-new-privileges=true", opts: Options{SecurityOpt: []string{"no-new-privileges=true"}}, check: func(t *testing.T, s *specs.Spec) {
			if !s.Process.NoNewPrivileges {
				t.Error("noNewPrivileges not set")
			}
		}},
		{name: "no-new-privileges=false after true", opts: Options{SecurityOpt: []string{"no-new-privileges", "no-new-privileges=false"}}, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.NoNewPrivileges {
				t.Error("noNewPrivileges set")
			}
		}},
		{name: "no-new-privileges=maybe", opts: Options{SecurityOpt: []string{"no-new-privileges=maybe"}}, err: `invalid --security-opt 2: "no-new-privileges=maybe"`},
		{name: "apparmor and label accepted and ignored", opts: Options{SecurityOpt: []string{"apparmor=unconfined", "label=disable", "label:type:svirt_t", "disable"}}, check: func(t *testing.T, s *specs.Spec) {
			if s.Process.ApparmorProfile != "" || s.Process.SelinuxLabel != "" {
				t.Errorf("apparmor %q selinux %q", s.Process.ApparmorProfile, s.Process.SelinuxLabel)
			}
			isDefault(t, s)
		}},
		{name: "unknown option", opts: Options{SecurityOpt: []string{"foo=bar"}}, err: `invalid --security-opt 2: "foo=bar"`},
		{name: "option without value", opts: Options{SecurityOpt: []string{"seccomp"}}, err: `invalid --security-opt 1: "seccomp"`},
		{name: "writable-cgroups", opts: Options{SecurityOpt: []string{"writable-cgroups"}}, check: func(t *testing.T, s *specs.Spec) {
			if m, _ := findMount(s, "/sys/fs/cgroup"); slices.Contains(m.Options, "ro") {
				t.Errorf("cgroup mount still read-only: %v", m.Options)
			}
		}},
		{name: "writable-cgroups=false with privileged", opts: Options{Privileged: true, SecurityOpt: []string{"writable-cgroups=false"}}, check: func(t *testing.T, s *specs.Spec) {
			if m, _ := findMount(s, "/sys/fs/cgroup"); !slices.Contains(m.Options, "ro") {
				t.Errorf("cgroup mount writable: %v", m.Options)
			}
		}},
		{name: "writable-cgroups with a user namespace", opts: Options{SecurityOpt: []string{"writable-cgroups=true"},
			UIDMaps: []specs.LinuxIDMapping{{Size: 1}}, GIDMaps: []specs.LinuxIDMapping{{Size: 1}}},
			err: "option WritableCgroups conflicts with user namespaces"},
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

func TestPrivileged(t *testing.T) {
	h := testHost()
	s := mustGen(t, nil, Options{Cmd: []string{"sh"}, Privileged: true, Devices: []string{"/dev/null:/dev/mynull"}})
	if !reflect.DeepEqual(s.Process.Capabilities.Bounding, h.caps) || !reflect.DeepEqual(s.Process.Capabilities.Effective, h.caps) {
		t.Errorf("capabilities = %v, want all available %v", s.Process.Capabilities.Bounding, h.caps)
	}
	if s.Linux.Seccomp != nil {
		t.Error("seccomp profile on a privileged container")
	}
	if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Errorf("masked %v readonly %v, want none", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if m, _ := findMount(s, "/sys"); slices.Contains(m.Options, "ro") {
		t.Errorf("/sys read-only: %v", m.Options)
	}
	if m, _ := findMount(s, "/sys/fs/cgroup"); slices.Contains(m.Options, "ro") {
		t.Errorf("cgroup mount read-only: %v", m.Options)
	}
	wantRules := []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	if !reflect.DeepEqual(s.Linux.Resources.Devices, wantRules) {
		t.Errorf("device rules = %s, want allow all", fmtJSON(s.Linux.Resources.Devices))
	}
	var paths []string
	for _, d := range s.Linux.Devices {
		paths = append(paths, d.Path)
	}
	if !reflect.DeepEqual(paths, []string{"/dev/null", "/dev/sda", "/dev/mynull"}) {
		t.Errorf("devices = %v, want the host's plus the mapping", paths)
	}
	if s.Process.NoNewPrivileges {
		t.Error("noNewPrivileges set")
	}
}

// TestHostDevices enumerates the real /dev: it must find /dev/null and skip
// what the runtime mounts itself.
func TestHostDevices(t *testing.T) {
	devs, err := HostDevices()
	if err != nil {
		t.Fatal(err)
	}
	var null bool
	for _, d := range devs {
		switch {
		case d.Path == "/dev/null":
			null = d.Type == "c" && d.Major == 1 && d.Minor == 3
		case d.Path == "/dev/console", filepath.Dir(d.Path) == "/dev/pts":
			t.Errorf("%s listed", d.Path)
		}
	}
	if !null {
		t.Errorf("/dev/null (c 1:3) not among %d devices", len(devs))
	}
}
