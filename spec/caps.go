package spec

import (
	"fmt"
	"slices"
	"strings"
)

// capNames lists the Linux capabilities by bit number (capability.h).
var capNames = []string{
	"CAP_CHOWN",              // 0
	"CAP_DAC_OVERRIDE",       // 1
	"CAP_DAC_READ_SEARCH",    // 2
	"CAP_FOWNER",             // 3
	"CAP_FSETID",             // 4
	"CAP_KILL",               // 5
	"CAP_SETGID",             // 6
	"CAP_SETUID",             // 7
	"CAP_SETPCAP",            // 8
	"CAP_LINUX_IMMUTABLE",    // 9
	"CAP_NET_BIND_SERVICE",   // 10
	"CAP_NET_BROADCAST",      // 11
	"CAP_NET_ADMIN",          // 12
	"CAP_NET_RAW",            // 13
	"CAP_IPC_LOCK",           // 14
	"CAP_IPC_OWNER",          // 15
	"CAP_SYS_MODULE",         // 16
	"CAP_SYS_RAWIO",          // 17
	"CAP_SYS_CHROOT",         // 18
	"CAP_SYS_PTRACE",         // 19
	"CAP_SYS_PACCT",          // 20
	"CAP_SYS_ADMIN",          // 21
	"CAP_SYS_BOOT",           // 22
	"CAP_SYS_NICE",           // 23
	"CAP_SYS_RESOURCE",       // 24
	"CAP_SYS_TIME",           // 25
	"CAP_SYS_TTY_CONFIG",     // 26
	"CAP_MKNOD",              // 27
	"CAP_LEASE",              // 28
	"CAP_AUDIT_WRITE",        // 29
	"CAP_AUDIT_CONTROL",      // 30
	"CAP_SETFCAP",            // 31
	"CAP_MAC_OVERRIDE",       // 32
	"CAP_MAC_ADMIN",          // 33
	"CAP_SYSLOG",             // 34
	"CAP_WAKE_ALARM",         // 35
	"CAP_BLOCK_SUSPEND",      // 36
	"CAP_AUDIT_READ",         // 37
	"CAP_PERFMON",            // 38
	"CAP_BPF",                // 39
	"CAP_CHECKPOINT_RESTORE", // 40
}

// DefaultCapabilities returns the 14 capabilities Docker grants a container
// that is neither privileged nor given --cap-add/--cap-drop, in Docker's
// order.
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// CapabilityBit returns the bit number of the capability name ("CAP_KILL"),
// or -1 if hull does not know it.
func CapabilityBit(name string) int {
	return slices.Index(capNames, name)
}

// availableCaps splits the known capabilities into those the container may
// get (bit <= capLast and, when effKnown, present in this process's
// effective set eff) and the rest. Docker does the same: it grants what the
// current environment has, so a daemon without CAP_SYS_RESOURCE does not
// hand it out. capLast < 0 means unknown (every known capability counts).
func availableCaps(capLast int, eff uint64, effKnown bool) ([]string, map[string]bool) {
	var avail []string
	unsupported := make(map[string]bool)
	for bit, name := range capNames {
		ok := capLast < 0 || bit <= capLast
		if ok && effKnown && eff&(1<<uint(bit)) == 0 {
			ok = false
		}
		if ok {
			avail = append(avail, name)
		} else {
			unsupported[name] = true
		}
	}
	return avail, unsupported
}

const allCapabilities = "ALL"

// normalizeCaps upper-cases the --cap-add/--cap-drop values and adds the
// CAP_ prefix, keeping "ALL" as is. It rejects names hull does not know and
// ones the current environment does not support, with Docker's messages.
func normalizeCaps(h *hostInfo, caps []string) ([]string, error) {
	var out []string
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == allCapabilities {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if CapabilityBit(c) < 0 {
			return nil, fmt.Errorf("unknown capability: %q", c)
		}
		if h.unsupportedCaps[c] {
			return nil, fmt.Errorf("capability not supported by your kernel or not available in the current environment: %q", c)
		}
		out = append(out, c)
	}
	return out, nil
}

// capabilities returns the container's capability list following Docker's
// rules (oci/caps.TweakCapabilities): privileged gets every available
// capability; --cap-add=ALL gets every available one except the dropped
// ones; --cap-drop=ALL keeps only the added ones; otherwise the defaults
// minus the dropped plus the added. The result has no duplicates.
func capabilities(h *hostInfo, adds, drops []string, privileged bool) ([]string, error) {
	if privileged {
		return slices.Clone(h.caps), nil
	}
	base := DefaultCapabilities()
	if len(adds) == 0 && len(drops) == 0 {
		return base, nil
	}
	capDrop, err := normalizeCaps(h, drops)
	if err != nil {
		return nil, fmt.Errorf("--cap-drop: %w", err)
	}
	capAdd, err := normalizeCaps(h, adds)
	if err != nil {
		return nil, fmt.Errorf("--cap-add: %w", err)
	}
	var caps []string
	switch {
	case slices.Contains(capAdd, allCapabilities):
		for _, c := range h.caps {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(capDrop, allCapabilities):
		caps = capAdd
	default:
		for _, c := range base {
			if !slices.Contains(capDrop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, capAdd...)
	}
	return dedupe(caps), nil
}

// dedupe returns s without repeated elements, keeping the first of each.
func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	seen := make(map[string]bool, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// CapabilityMask returns the bitmask of the named capabilities, as
// /proc/<pid>/status shows it (CapEff, CapBnd, ...). Unknown names are
// ignored.
func CapabilityMask(caps []string) uint64 {
	var m uint64
	for _, c := range caps {
		if bit := CapabilityBit(c); bit >= 0 {
			m |= 1 << uint(bit)
		}
	}
	return m
}
