package runtime_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hull-project/hull/runtime"
)

// ptyReader collects what a pty master prints.
type ptyReader struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyReader) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.Write(b)
}

func (p *ptyReader) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

func TestConsoleSocket(t *testing.T) {
	e := newBundle(t, "/bin/sh")
	e.spec.Process.Terminal = true
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	masters := make(chan *os.File, 1)
	go func() {
		conn, err := ln.AcceptUnix()
		if err != nil {
			close(masters)
			return
		}
		defer conn.Close()
		f, err := conn.File()
		if err != nil {
			close(masters)
			return
		}
		defer f.Close()
		m, err := runtime.RecvFd(f)
		if err != nil {
			t.Errorf("receive pty master: %v", err)
			close(masters)
			return
		}
		masters <- m
	}()
	id := e.newID()
	e.mustCreate(id, "--console-socket", sock)
	var master *os.File
	select {
	case master = <-masters:
	case <-time.After(10 * time.Second):
	}
	if master == nil {
		t.Fatal("no pty master on the console socket")
	}
	defer master.Close()
	out := &ptyReader{}
	go func() { _, _ = bufCopy(out, master) }()
	e.mustHull("start", id)
	// (The terminal echoes the input: wait for computed output.)
	if _, err := master.Write([]byte("tty; echo sum=$((40+2)); ls -l /dev/console; echo end=$((1+1))\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "end=2") })
	if s := out.String(); !strings.Contains(s, "/dev/pts/0") || !strings.Contains(s, "136,") {
		t.Errorf("tty and /dev/console:\n%s", s)
	}
	if _, err := master.Write([]byte("exit 7\n")); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(id, runtime.Stopped)
	e.mustHull("delete", id)
}

// bufCopy copies until an error (EIO once the pty slave is gone).
func bufCopy(dst *ptyReader, src *os.File) (int64, error) {
	var n int64
	b := make([]byte, 4096)
	for {
		m, err := src.Read(b)
		if m > 0 {
			_, _ = dst.Write(b[:m])
			n += int64(m)
		}
		if err != nil {
			return n, err
		}
	}
}
