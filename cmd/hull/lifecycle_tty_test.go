package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// lcTerm is hull running on a pseudo-terminal.
type lcTerm struct {
	t    *testing.T
	cmd  *exec.Cmd
	ptm  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (e *lcEnv) startTerm(rows, cols uint16, args ...string) *lcTerm {
	e.t.Helper()
	cmd := e.cmd(args...)
	ptm, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		e.t.Fatal(err)
	}
	tm := &lcTerm{t: e.t, cmd: cmd, ptm: ptm, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			tm.mu.Lock()
			tm.out.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				break
			}
		}
		tm.err = cmd.Wait()
		close(tm.done)
	}()
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-tm.done
		ptm.Close()
	})
	return tm
}

func (tm *lcTerm) output() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.out.String()
}

func (tm *lcTerm) send(s string) {
	tm.t.Helper()
	if _, err := tm.ptm.Write([]byte(s)); err != nil {
		tm.t.Fatal(err)
	}
}

// expect waits until the output has s after position from, and returns
// the position after it.
func (tm *lcTerm) expect(from int, s string, timeout time.Duration) int {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := tm.output()
		if i := strings.Index(out[min(from, len(out)):], s); i >= 0 {
			return from + i + len(s)
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("no %q on the terminal after %v; output:\n%q", s, timeout, out[min(from, len(out)):])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for hull to exit and returns its exit code.
func (tm *lcTerm) wait(timeout time.Duration) int {
	tm.t.Helper()
	select {
	case <-tm.done:
	case <-time.After(timeout):
		tm.t.Fatalf("hull did not exit within %v; output:\n%q", timeout, tm.output())
	}
	var ee *exec.ExitError
	if errors.As(tm.err, &ee) {
		return ee.ExitCode()
	}
	if tm.err != nil {
		tm.t.Fatal(tm.err)
	}
	return 0
}

func TestLifecycleInteractiveTTY(t *testing.T) {
	t.Parallel()
	e := newLC(t)
	tm := e.startTerm(30, 100, "run", "-it", "--rm", "--name", "tty", "busybox", "sh")
	// The size set before the start is the container's from the start;
	// echo $((6*7)) shows the shell reads what we type.
	tm.send("echo ready-$((6*7)); stty size; tty\r")
	pos := tm.expect(0, "ready-42", 15*time.Second)
	pos = tm.expect(pos, "30 100", 5*time.Second)
	tm.expect(pos, "/dev/pts/0", 5*time.Second)
	// A window change reaches the container (SIGWINCH, then resize).
	if err := pty.Setsize(tm.ptm, &pty.Winsize{Rows: 41, Cols: 123}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mark := len(tm.output())
		tm.send("stty size\r")
		time.Sleep(200 * time.Millisecond)
		if strings.Contains(tm.output()[mark:], "41 123") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's terminal was not resized; output:\n%q", tm.output())
		}
	}
	// Terminal semantics: ^C interrupts the foreground command, not the
	// shell; the exit code comes back.
	mark := len(tm.output())
	tm.send("sleep 30\r")
	time.Sleep(300 * time.Millisecond)
	tm.send("\x03")
	tm.send("echo after-$((2+3))\r")
	tm.expect(mark, "after-5", 10*time.Second)
	tm.send("echo h''i; exit 5\r")
	tm.expect(mark, "hi\r\n", 5*time.Second)
	if code := tm.wait(10 * time.Second); code != 5 {
		t.Errorf("run -it exited %d, want 5; output:\n%q", code, tm.output())
	}
	e.assertNoContainers()

	// -t without -i: output through the terminal, \n becomes \r\n.
	tm = e.startTerm(24, 80, "run", "-t", "--rm", "busybox", "sh", "-c", "printf 'a\\nb\\n'; exit 3")
	tm.expect(0, "a\r\nb\r\n", 10*time.Second)
	if code := tm.wait(10 * time.Second); code != 3 {
		t.Errorf("run -t exited %d, want 3", code)
	}
	// -it needs a terminal on stdin.
	if r := e.hullIn("x", "run", "-it", "--rm", "busybox", "true"); r.code == 0 || !strings.Contains(r.stderr, "not a TTY") {
		t.Errorf("run -it without a terminal:\n%v", r)
	}
	// Detach with ^P^Q: the container keeps running.
	tm = e.startTerm(24, 80, "run", "-it", "--name", "det", "busybox", "sh")
	tm.send("echo in-$((1+1))\r")
	tm.expect(0, "in-2", 15*time.Second)
	tm.send("\x10\x11")
	if code := tm.wait(10 * time.Second); code != 0 {
		t.Errorf("detach exited %d; output:\n%q", code, tm.output())
	}
	if st := e.status("det"); !strings.HasPrefix(st, "Up ") {
		t.Errorf("status after detach: %q", st)
	}
	e.must("rm", "-f", "det")
}
