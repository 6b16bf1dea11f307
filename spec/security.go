package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// Seccomp profile names --security-opt seccomp= takes besides a file.
const (
	seccompUnconfined = "unconfined"
	seccompBuiltin    = "builtin"
)

// securityOpts are the parsed --security-opt values.
type securityOpts struct {
	noNewPrivileges bool
	// seccomp is "" (default profile), seccompUnconfined, seccompBuiltin,
	// or a profile's JSON text.
	seccomp string
	// writableCgroups is the writable-cgroups option, nil if not given.
	writableCgroups *bool
}

// parseSecurityOpts parses --security-opt values as Docker's CLI and daemon
// do: "no-new-privileges" (optionally "=bool"), "writable-cgroups[=bool]",
// "seccomp=unconfined|builtin|<file>|<json>", and "apparmor=…", "label=…"
// or "label:…" which hull accepts and ignores (no AppArmor or SELinux
// here). A seccomp file is read and compacted, as the docker CLI does
// before sending it to the daemon.
func parseSecurityOpts(opts []string) (securityOpts, error) {
	var so securityOpts
	for _, opt := range opts {
		switch opt {
		case "no-new-privileges":
			so.noNewPrivileges = true
			continue
		case "writable-cgroups":
			t := true
			so.writableCgroups = &t
			continue
		case "disable":
			continue // old form of label=disable
		}
		k, v, ok := strings.Cut(opt, "=")
		if !ok {
			// The deprecated "key:value" form.
			if k, v, ok = strings.Cut(opt, ":"); !ok {
				return so, fmt.Errorf("invalid --security-opt 1: %q", opt)
			}
		}
		switch k {
		case "label", "apparmor":
			// Accepted and ignored: the host has neither.
		case "seccomp":
			profile, err := seccompProfile(v)
			if err != nil {
				return so, err
			}
			so.seccomp = profile
		case "no-new-privileges", "writable-cgroups":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return so, fmt.Errorf("invalid --security-opt 2: %q", opt)
			}
			if k == "no-new-privileges" {
				so.noNewPrivileges = b
			} else {
				so.writableCgroups = &b
			}
		default:
			return so, fmt.Errorf("invalid --security-opt 2: %q", opt)
		}
	}
	return so, nil
}

// seccompProfile returns the profile for seccomp=v: the names
// "unconfined" and "builtin", inline JSON, or the compacted contents of
// the file v.
func seccompProfile(v string) (string, error) {
	switch {
	case v == seccompUnconfined || v == seccompBuiltin:
		return v, nil
	case strings.HasPrefix(strings.TrimSpace(v), "{"):
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return "", fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
	}
	return buf.String(), nil
}

// applySeccomp sets linux.seccomp as Docker's WithSeccomp does: nothing for
// "unconfined"; for a privileged container only an explicitly given
// profile ("builtin" included); otherwise the given profile or Docker's default one, which
// moby/profiles/seccomp tailors to s's capabilities (so the process
// capabilities must be set first), the architecture and the kernel.
func applySeccomp(s *specs.Spec, so securityOpts, privileged bool) error {
	var (
		profile *specs.LinuxSeccomp
		err     error
	)
	switch {
	case so.seccomp == seccompUnconfined:
		return nil
	case privileged && so.seccomp == "":
		return nil
	case so.seccomp == "" || so.seccomp == seccompBuiltin:
		profile, err = seccomp.GetDefaultProfile(s)
	default:
		profile, err = seccomp.LoadProfile(so.seccomp, s)
	}
	if err != nil {
		return fmt.Errorf("seccomp profile: %w", err)
	}
	s.Linux.Seccomp = profile
	return nil
}
