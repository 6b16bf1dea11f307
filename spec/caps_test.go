package spec

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestCapabilities(t *testing.T) {
	h := testHost()
	without := func(drop ...string) []string {
		return slices.DeleteFunc(DefaultCapabilities(), func(c string) bool { return slices.Contains(drop, c) })
	}
	allBut := func(drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(h.caps), func(c string) bool { return slices.Contains(drop, c) })
	}
	tests := []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
		err        string
	}{
		{name: "no flags: Docker's 14", want: DefaultCapabilities()},
		{name: "--cap-add NET_ADMIN appends it", add: []string{"NET_ADMIN"}, want: append(DefaultCapabilities(), "CAP_NET_ADMIN")},
		{name: "--cap-add accepts CAP_ prefix and lower case", add: []string{"cap_sys_ptrace"}, want: append(DefaultCapabilities(), "CAP_SYS_PTRACE")},
		{name: "--cap-add of a default is not duplicated", add: []string{"CHOWN"}, want: DefaultCapabilities()},
		{name: "--cap-drop removes it", drop: []string{"NET_RAW", "mknod"}, want: without("CAP_NET_RAW", "CAP_MKNOD")},
		{name: "--cap-drop of a non-default is a no-op", drop: []string{"SYS_ADMIN"}, want: DefaultCapabilities()},
		{name: "--cap-drop ALL leaves nothing", drop: []string{"ALL"}, want: []string{}},
		{name: "--cap-drop ALL --cap-add keeps only the added", drop: []string{"ALL"}, add: []string{"NET_BIND_SERVICE", "CAP_KILL"},
			want: []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}},
		{name: "--cap-add ALL gives all available caps", add: []string{"all"}, want: h.caps},
		{name: "--cap-add ALL --cap-drop X gives all but X", add: []string{"ALL"}, drop: []string{"SYS_ADMIN"}, want: allBut("CAP_SYS_ADMIN")},
		{name: "--cap-add ALL wins over --cap-drop ALL", add: []string{"ALL"}, drop: []string{"ALL"}, want: h.caps},
		{name: "add and drop the same: add wins", add: []string{"NET_RAW"}, drop: []string{"NET_RAW"},
			want: append(without("CAP_NET_RAW"), "CAP_NET_RAW")},
		{name: "--privileged: all available caps", privileged: true, want: h.caps},
		{name: "--privileged ignores cap flags, even bad ones", privileged: true, add: []string{"BOGUS"}, drop: []string{"ALL"}, want: h.caps},
		{name: "unknown capability", add: []string{"BOGUS"}, err: `unknown capability: "CAP_BOGUS"`},
		{name: "unknown capability in drop", drop: []string{"CAP_NOPE"}, err: `unknown capability: "CAP_NOPE"`},
		{name: "capability missing from the environment", add: []string{"SYS_RESOURCE"},
			err: `capability not supported by your kernel or not available in the current environment: "CAP_SYS_RESOURCE"`},
		{name: "capability newer than the kernel", add: []string{"CHECKPOINT_RESTORE"},
			err: `capability not supported by your kernel or not available in the current environment: "CAP_CHECKPOINT_RESTORE"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := generate(nil, withCmd(Options{CapAdd: tt.add, CapDrop: tt.drop, Privileged: tt.privileged}), h)
			if !checkErr(t, err, tt.err) {
				return
			}
			c := s.Process.Capabilities
			if len(tt.want) == 0 {
				if len(c.Bounding)+len(c.Effective)+len(c.Permitted) != 0 {
					t.Errorf("capabilities = %+v, want none", c)
				}
			} else {
				for name, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
					if !reflect.DeepEqual(got, tt.want) {
						t.Errorf("%s = %v\nwant %v", name, got, tt.want)
					}
				}
			}
			if len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
				t.Errorf("inheritable %v ambient %v, want none", c.Inheritable, c.Ambient)
			}
		})
	}
}

func TestAvailableCaps(t *testing.T) {
	// cap_last_cap 40, effective set without bit 24 (CAP_SYS_RESOURCE).
	caps, unsupported := availableCaps(40, (1<<41-1)&^(1<<24), true)
	if len(caps) != 40 || slices.Contains(caps, "CAP_SYS_RESOURCE") || !unsupported["CAP_SYS_RESOURCE"] {
		t.Errorf("caps %v unsupported %v", caps, unsupported)
	}
	if caps[0] != "CAP_CHOWN" || caps[len(caps)-1] != "CAP_CHECKPOINT_RESTORE" {
		t.Errorf("not in bit order: %v", caps)
	}
	// Unknown effective set: everything up to cap_last_cap.
	caps, unsupported = availableCaps(37, 0, false)
	if len(caps) != 38 || caps[37] != "CAP_AUDIT_READ" || !unsupported["CAP_PERFMON"] || !unsupported["CAP_BPF"] {
		t.Errorf("caps %v unsupported %v", caps, unsupported)
	}
	// Unknown cap_last_cap: every known capability.
	if caps, _ := availableCaps(-1, 0, false); len(caps) != len(capNames) {
		t.Errorf("caps %v", caps)
	}
}

func TestCapabilityMask(t *testing.T) {
	if got := CapabilityMask(DefaultCapabilities()); got != 0xa80425fb {
		t.Errorf("mask of Docker's defaults = %#x, want 0xa80425fb (as /proc/<pid>/status shows)", got)
	}
	if got := CapabilityMask([]string{"CAP_CHECKPOINT_RESTORE", "CAP_BOGUS"}); got != 1<<40 {
		t.Errorf("mask = %#x", got)
	}
}

func TestParseStatusCaps(t *testing.T) {
	status := "Name:\tsh\nCapInh:\t0000000000000000\nCapEff:\t00000000a80425fb\n"
	got, err := parseStatusCaps(strings.NewReader(status), "CapEff")
	if err != nil || got != 0xa80425fb {
		t.Errorf("got %#x, %v", got, err)
	}
	if _, err := parseStatusCaps(strings.NewReader(status), "CapBnd"); err == nil {
		t.Error("missing field: no error")
	}
	if _, err := parseStatusCaps(strings.NewReader("CapEff:\txyz\n"), "CapEff"); err == nil {
		t.Error("bad hex: no error")
	}
}
