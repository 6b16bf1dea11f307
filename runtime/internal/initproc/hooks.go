package initproc

import (
	"errors"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

// runHooks runs hooks one after the other, each with the OCI state (JSON)
// on stdin, and stops at the first failure. kind names the hook list in
// errors ("createContainer", ...). It does what package runtime's runHooks
// does for the hooks the parent runs, without os/exec.
func runHooks(kind string, hooks []Hook, state []byte) error {
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			return wrap("error running "+kind+" hook #"+strconv.Itoa(i), err)
		}
	}
	return nil
}

// hookWaitDelay is how long a hook's output is waited for after it
// exited (a process it left behind may hold its stdout), as
// exec.Cmd.WaitDelay.
const hookWaitDelay = time.Second

// runHook runs one hook; its stdout and stderr are returned in the error
// when it fails.
func runHook(h Hook, state []byte) (err error) {
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	env := h.Env
	if env == nil {
		env = []string{}
	}
	var closers []*os.File
	defer func() {
		for _, f := range closers {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			closers = append(closers, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return wrap(h.Path, err)
	}
	outR, outW, err := pipe()
	if err != nil {
		return wrap(h.Path, err)
	}
	errR, errW, err := pipe()
	if err != nil {
		return wrap(h.Path, err)
	}
	p, err := os.StartProcess(h.Path, args, &os.ProcAttr{Env: env, Files: []*os.File{inR, outW, errW}})
	if err != nil {
		return wrap(h.Path, err)
	}
	inR.Close()
	outW.Close()
	errW.Close()
	// The hook may not read its stdin: write it on the side (EPIPE is
	// fine).
	go func() {
		inW.Write(state)
		inW.Close()
	}()
	stdout, stderr := collect(outR), collect(errR)
	var timedOut atomic.Bool
	if h.Timeout > 0 {
		t := time.AfterFunc(time.Duration(h.Timeout)*time.Second, func() {
			timedOut.Store(true)
			p.Kill()
		})
		defer t.Stop()
	}
	st, werr := p.Wait()
	deadline := time.Now().Add(hookWaitDelay)
	outR.SetReadDeadline(deadline)
	errR.SetReadDeadline(deadline)
	out, errOut := <-stdout, <-stderr
	switch {
	case werr != nil:
		err = werr
	case timedOut.Load():
		err = errors.New("timed out after " + strconv.FormatInt(h.Timeout, 10) + "s")
	case !st.Success():
		err = errors.New(st.String())
	default:
		return nil
	}
	err = wrap(h.Path, err)
	if s := string(trimSpace(out)); s != "" {
		err = &suffixError{err, ", stdout: " + s}
	}
	if s := string(trimSpace(errOut)); s != "" {
		err = &suffixError{err, ", stderr: " + s}
	}
	return err
}

// collect reads r to its end (or read deadline) on the side.
func collect(r *os.File) <-chan []byte {
	c := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		c <- b
	}()
	return c
}
