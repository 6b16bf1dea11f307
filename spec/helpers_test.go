package spec

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// testHost is a fixed cgroup v1 host with 4 CPUs whose environment lacks
// CAP_SYS_RESOURCE (like a root without it) and whose kernel stops at
// CAP_BPF (cap_last_cap 39).
func testHost() *hostInfo {
	caps, unsupported := availableCaps(39, ^uint64(0)&^(1<<24), true)
	return &hostInfo{
		numCPU:                4,
		caps:                  caps,
		unsupportedCaps:       unsupported,
		swapLimit:             true,
		cpus:                  "0-3",
		mems:                  "0",
		pingGroupRange:        true,
		unprivilegedPortStart: true,
		devices: func() ([]specs.LinuxDevice, error) {
			return []specs.LinuxDevice{
				{Type: "c", Path: "/dev/null", Major: 1, Minor: 3},
				{Type: "b", Path: "/dev/sda", Major: 8, Minor: 0},
			}, nil
		},
	}
}

// withCmd returns opts with a command, so Generate does not fail for lack
// of one.
func withCmd(opts Options) Options {
	if len(opts.Cmd) == 0 && len(opts.Entrypoint) == 0 && !opts.EntrypointSet {
		opts.Cmd = []string{"sh"}
	}
	return opts
}

// mustGen generates on testHost and fails the test on error.
func mustGen(t *testing.T, img *v1.ConfigFile, opts Options) *specs.Spec {
	t.Helper()
	s, err := generate(img, opts, testHost())
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return s
}

// genErr generates on h (testHost if nil) and returns the error.
func genErr(img *v1.ConfigFile, opts Options, h *hostInfo) error {
	if h == nil {
		h = testHost()
	}
	_, err := generate(img, opts, h)
	return err
}

// checkErr fails t unless err matches want: "" means no error, otherwise
// err's message must contain want.
func checkErr(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
	return err == nil
}

// findMount returns the mount at dst.
func findMount(s *specs.Spec, dst string) (specs.Mount, bool) {
	for _, m := range s.Mounts {
		if m.Destination == dst {
			return m, true
		}
	}
	return specs.Mount{}, false
}

// namespaceTypes returns s's namespaces as "type" or "type=path".
func namespaceTypes(s *specs.Spec) map[specs.LinuxNamespaceType]string {
	out := make(map[specs.LinuxNamespaceType]string)
	for _, n := range s.Linux.Namespaces {
		out[n.Type] = n.Path
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// fmtJSON renders v for failure messages.
func fmtJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
