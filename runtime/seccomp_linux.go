package runtime

import (
	"fmt"
	goruntime "runtime"

	"github.com/hull-project/hull/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// compileSeccomp compiles the container's seccomp profile (nil: none).
// init compiles it before it changes anything, so a bad profile fails
// early; it loads the filter as late as possible.
func compileSeccomp(s *specs.LinuxSeccomp) (*seccomp.Filter, error) {
	if s == nil {
		return nil, nil
	}
	f, err := seccomp.Compile(s, goruntime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return f, nil
}

// loadSeccomp installs f on the calling (locked) thread.
func loadSeccomp(f *seccomp.Filter) error {
	if f == nil {
		return nil
	}
	if err := f.Load(); err != nil {
		return fmt.Errorf("load seccomp filter: %w", err)
	}
	return nil
}
