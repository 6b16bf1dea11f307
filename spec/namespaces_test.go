package spec

import (
	"reflect"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestNamespaces(t *testing.T) {
	const (
		mnt  = specs.MountNamespace
		net  = specs.NetworkNamespace
		uts  = specs.UTSNamespace
		pid  = specs.PIDNamespace
		ipc  = specs.IPCNamespace
		cg   = specs.CgroupNamespace
		user = specs.UserNamespace
	)
	type nsMap = map[specs.LinuxNamespaceType]string
	base := func(extra nsMap, drop ...specs.LinuxNamespaceType) nsMap {
		m := nsMap{mnt: "", net: "", uts: "", pid: "", ipc: ""}
		for k, v := range extra {
			m[k] = v
		}
		for _, d := range drop {
			delete(m, d)
		}
		return m
	}
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	v2 := testHost()
	v2.cgroup2 = true
	tests := []struct {
		name string
		opts Options
		host *hostInfo
		want nsMap
		err  string
	}{
		{name: "default: mount, net, uts, pid, ipc; cgroupns host on v1", want: base(nil)},
		{name: "cgroup v2 host: private cgroupns by default", host: v2, want: base(nsMap{cg: ""})},
		{name: "cgroup v2 host: private cgroupns even privileged", host: v2, opts: Options{Privileged: true}, want: base(nsMap{cg: ""})},
		{name: "--cgroupns private on v1", opts: Options{CgroupnsMode: "private"}, want: base(nsMap{cg: ""})},
		{name: "--cgroupns host on v2", host: v2, opts: Options{CgroupnsMode: "host"}, want: base(nil)},
		{name: "--cgroupns bad", opts: Options{CgroupnsMode: "shared"}, err: "invalid cgroup namespace mode: shared"},
		{name: "--network host: no netns", opts: Options{NetNS: "host"}, want: base(nil, net)},
		{name: "prepared netns path is joined", opts: Options{NetNS: "/run/netns/c1"}, want: base(nsMap{net: "/run/netns/c1"})},
		{name: "--network none: new empty netns", opts: Options{NetNS: "none"}, want: base(nil)},
		{name: "relative netns path rejected", opts: Options{NetNS: "netns/c1"}, err: "invalid network namespace"},
		{name: "--pid host", opts: Options{PidMode: "host"}, want: base(nil, pid)},
		{name: "--pid container:<pid>", opts: Options{PidMode: "container:42"}, want: base(nsMap{pid: "/proc/42/ns/pid"})},
		{name: "--pid container:<name> needs a pid", opts: Options{PidMode: "container:web"}, err: "needs a process ID"},
		{name: "--pid bad", opts: Options{PidMode: "bogus"}, err: "invalid PID mode: bogus"},
		{name: "--ipc host", opts: Options{IpcMode: "host"}, want: base(nil, ipc)},
		{name: "--ipc shareable", opts: Options{IpcMode: "shareable"}, want: base(nil)},
		{name: "--ipc none", opts: Options{IpcMode: "none"}, want: base(nil)},
		{name: "--ipc container:<pid>", opts: Options{IpcMode: "container:7"}, want: base(nsMap{ipc: "/proc/7/ns/ipc"})},
		{name: "--ipc bad", opts: Options{IpcMode: "bogus"}, err: "invalid IPC mode: bogus"},
		{name: "--uts host", opts: Options{UTSMode: "host"}, want: base(nil, uts)},
		{name: "--uts bad", opts: Options{UTSMode: "private"}, err: "invalid UTS mode: private"},
		{name: "user namespace with maps", opts: Options{UIDMaps: maps, GIDMaps: maps}, want: base(nsMap{user: ""})},
		{name: "--userns host disables the maps", opts: Options{UsernsMode: "host", UIDMaps: maps, GIDMaps: maps}, want: base(nil)},
		{name: "--userns bad", opts: Options{UsernsMode: "remap"}, err: "invalid USER mode: remap"},
		{name: "uid maps without gid maps", opts: Options{UIDMaps: maps}, err: "needs both UID and GID mappings"},
		{name: "userns + privileged", opts: Options{UIDMaps: maps, GIDMaps: maps, Privileged: true}, err: "privileged mode is incompatible with user namespaces"},
		{name: "userns + --network host", opts: Options{UIDMaps: maps, GIDMaps: maps, NetNS: "host"}, err: "cannot share the host's network namespace when user namespaces are enabled"},
		{name: "userns + --pid host", opts: Options{UIDMaps: maps, GIDMaps: maps, PidMode: "host"}, err: "cannot share the host PID namespace when user namespaces are enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			if h == nil {
				h = testHost()
			}
			s, err := generate(nil, withCmd(tt.opts), h)
			if !checkErr(t, err, tt.err) {
				return
			}
			if got := namespaceTypes(s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("namespaces = %v, want %v", got, tt.want)
			}
			if _, ok := tt.want[user]; ok {
				if !reflect.DeepEqual(s.Linux.UIDMappings, maps) || !reflect.DeepEqual(s.Linux.GIDMappings, maps) {
					t.Errorf("mappings %v %v", s.Linux.UIDMappings, s.Linux.GIDMappings)
				}
				if _, ok := s.Linux.Sysctl["net.ipv4.ping_group_range"]; ok {
					t.Error("ping_group_range set in a user namespace (Docker skips it)")
				}
			} else if s.Linux.UIDMappings != nil || s.Linux.GIDMappings != nil {
				t.Errorf("mappings without a user namespace")
			}
		})
	}
}

func TestSysctls(t *testing.T) {
	defaults := map[string]string{"net.ipv4.ping_group_range": "0 2147483647", "net.ipv4.ip_unprivileged_port_start": "0"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range defaults {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	noDefaults := testHost()
	noDefaults.pingGroupRange, noDefaults.unprivilegedPortStart = false, false
	tests := []struct {
		name string
		opts Options
		host *hostInfo
		want map[string]string
		err  string
	}{
		{name: "private netns gets Docker's defaults", want: defaults},
		{name: "defaults only if the kernel has them", host: noDefaults, want: map[string]string{}},
		{name: "--network host: no net defaults", opts: Options{NetNS: "host"}, want: map[string]string{}},
		{name: "IPC sysctls allowed", opts: Options{Sysctls: map[string]string{"kernel.shmmax": "1", "kernel.msgmax": "2", "kernel.sem": "3 4 5 6", "kernel.shm_rmid_forced": "1"}},
			want: with("kernel.shmmax", "1", "kernel.msgmax", "2", "kernel.sem", "3 4 5 6", "kernel.shm_rmid_forced", "1")},
		{name: "fs.mqueue.* allowed", opts: Options{Sysctls: map[string]string{"fs.mqueue.msg_max": "20"}}, want: with("fs.mqueue.msg_max", "20")},
		{name: "net.* allowed and overrides the defaults", opts: Options{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024", "net.core.somaxconn": "1024"}},
			want: with("net.ipv4.ip_unprivileged_port_start", "1024", "net.core.somaxconn", "1024")},
		{name: "net.* with a joined netns", opts: Options{NetNS: "/run/netns/x", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}},
			want: with("net.ipv4.ip_forward", "1")},
		{name: "non-namespaced kernel.* rejected", opts: Options{Sysctls: map[string]string{"kernel.pid_max": "10"}}, err: "sysctl 'kernel.pid_max=10' is not allowed"},
		{name: "vm.* rejected", opts: Options{Sysctls: map[string]string{"vm.swappiness": "1"}}, err: "sysctl 'vm.swappiness=1' is not allowed"},
		{name: "fs.* outside mqueue rejected", opts: Options{Sysctls: map[string]string{"fs.file-max": "1"}}, err: "sysctl 'fs.file-max=1' is not allowed"},
		{name: "kernel.domainname via --sysctl rejected (use --domainname)", opts: Options{Sysctls: map[string]string{"kernel.domainname": "x"}}, err: "is not allowed"},
		{name: "kernel.shm prefix alone is not enough", opts: Options{Sysctls: map[string]string{"kernel.shmfoo": "1"}}, err: "sysctl 'kernel.shmfoo=1' is not allowed"},
		{name: "net.* in the host netns rejected", opts: Options{NetNS: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}},
			err: `sysctl "net.ipv4.ip_forward" not allowed in host network namespace`},
		{name: "IPC sysctl with --ipc host rejected", opts: Options{IpcMode: "host", Sysctls: map[string]string{"kernel.shmmax": "1"}},
			err: `sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace`},
		{name: "empty key rejected", opts: Options{Sysctls: map[string]string{"": "1"}}, err: "sysctl '=1' is not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host
			if h == nil {
				h = testHost()
			}
			s, err := generate(nil, withCmd(tt.opts), h)
			if checkErr(t, err, tt.err) && !reflect.DeepEqual(s.Linux.Sysctl, tt.want) {
				t.Errorf("sysctl = %v, want %v", s.Linux.Sysctl, tt.want)
			}
		})
	}
}
