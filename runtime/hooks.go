package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs hooks one after the other, each with the OCI state as JSON
// on stdin, and stops at the first failure. kind names the hook list in
// errors ("createRuntime", ...).
func runHooks(kind string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, b); err != nil {
			return fmt.Errorf("error running %s hook #%d: %w", kind, i, err)
		}
	}
	return nil
}

// runHook runs one hook; its stdout and stderr are returned in the error
// when it fails.
func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s: timed out after %ds", h.Path, *h.Timeout)
	} else {
		err = fmt.Errorf("%s: %w", h.Path, err)
	}
	if s := strings.TrimSpace(stdout.String()); s != "" {
		err = fmt.Errorf("%w, stdout: %s", err, s)
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		err = fmt.Errorf("%w, stderr: %s", err, s)
	}
	return err
}

// hookState builds the OCI state hooks get.
func hookState(id string, status Status, pid int, bundle string, s *specs.Spec) *specs.State {
	st := &specs.State{
		Version: specs.Version,
		ID:      id,
		Status:  specs.ContainerState(status),
		Pid:     pid,
		Bundle:  bundle,
	}
	if s != nil {
		st.Annotations = s.Annotations
	}
	return st
}

// hooksOf returns the spec's hooks, never nil.
func hooksOf(s *specs.Spec) *specs.Hooks {
	if s == nil || s.Hooks == nil {
		return &specs.Hooks{}
	}
	return s.Hooks
}
