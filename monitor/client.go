package monitor

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hull-project/hull/container"
	"github.com/hull-project/hull/internal/flock"
)

// Client talks to the monitor of a container store, starting one when
// none runs.
type Client struct {
	// Store is the container store the monitor serves.
	Store *container.Store
	// Command returns the command that runs a monitor (`hull ...
	// monitor`); it gets a readiness pipe as its fd 3.
	Command func() *exec.Cmd
}

// spawnTimeout bounds the wait for a new monitor to listen.
const spawnTimeout = 10 * time.Second

func (c *Client) socket() string { return filepath.Join(c.Store.RunDir(), socketName) }

// Running reports whether a monitor serves the store now.
func (c *Client) Running() bool {
	conn, err := net.Dial("unix", c.socket())
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// dial connects to the monitor, spawning it if needed.
func (c *Client) dial() (*net.UnixConn, error) {
	if conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: c.socket(), Net: "unix"}); err == nil {
		return conn, nil
	}
	l, err := flock.Exclusive(filepath.Join(c.Store.RunDir(), spawnLock))
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	if conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: c.socket(), Net: "unix"}); err == nil {
		return conn, nil
	}
	if err := c.spawn(); err != nil {
		return nil, err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: c.socket(), Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("connect to hull's monitor: %w", err)
	}
	return conn, nil
}

// spawn starts a monitor process in its own session and waits until it
// listens.
func (c *Client) spawn() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := c.Command()
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/" // keep no directory of the caller busy
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start hull's monitor: %w", err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		if err == nil && line == "" {
			err = errors.New("no answer")
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(spawnTimeout):
		err = errors.New("timed out")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		return fmt.Errorf("start hull's monitor: %w (see %s)", err, filepath.Join(c.Store.RunDir(), logName))
	}
	// The monitor outlives us; it is reparented when we exit.
	return cmd.Process.Release()
}

// call sends req and reads the response line; the connection stays open
// for attached streams.
// A monitor that is exiting (idle) answers errExiting; the request is
// sent again, to the monitor that replaces it.
func (c *Client) call(req Request) (*net.UnixConn, *bufio.Reader, *Response, error) {
	for attempt := 0; ; attempt++ {
		conn, err := c.dial()
		if err != nil {
			return nil, nil, nil, err
		}
		if err := writeLine(conn, req); err != nil {
			conn.Close()
			return nil, nil, nil, fmt.Errorf("hull monitor: %w", err)
		}
		br := bufio.NewReader(conn)
		var res Response
		if err := readLine(br, &res); err != nil {
			conn.Close()
			return nil, nil, nil, fmt.Errorf("hull monitor: %w", err)
		}
		if res.Error == errExiting && attempt < 100 {
			conn.Close()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return conn, br, &res, nil
	}
}

// ResponseError is an error the monitor answered with.
type ResponseError struct{ Response }

func (e *ResponseError) Error() string { return e.Response.Error }

func (c *Client) simple(req Request) (*Response, error) {
	conn, _, res, err := c.call(req)
	if err != nil {
		return nil, err
	}
	conn.Close()
	if res.Error != "" {
		return res, &ResponseError{*res}
	}
	return res, nil
}

// Start starts the container id (a no-op if it runs).
func (c *Client) Start(id string) error {
	_, err := c.simple(Request{Op: "start", ID: id})
	return err
}

// Stop stops the container id with its stop signal (or sig if not 0),
// killing it after timeout seconds (nil: the container's own timeout),
// and returns its exit code. A container that is not running is left
// alone.
func (c *Client) Stop(id string, sig syscall.Signal, timeout *int) (int, error) {
	res, err := c.simple(Request{Op: "stop", ID: id, Signal: int(sig), Timeout: timeout})
	if err != nil {
		return 0, err
	}
	return res.ExitCode, nil
}

// Kill sends sig to the container id.
func (c *Client) Kill(id string, sig syscall.Signal) error {
	_, err := c.simple(Request{Op: "kill", ID: id, Signal: int(sig)})
	return err
}

// Signal relays sig to the container's init without stopping it for
// the restart policy (run's --sig-proxy).
func (c *Client) Signal(id string, sig syscall.Signal) error {
	_, err := c.simple(Request{Op: "signal", ID: id, Signal: int(sig)})
	return err
}

// Resize resizes the container's terminal.
func (c *Client) Resize(id string, height, width uint16) error {
	_, err := c.simple(Request{Op: "resize", ID: id, Height: height, Width: width})
	return err
}

// NetworkChanged tells the monitor of a running container that it was
// connected to or disconnected from a network (it may need its DNS
// server now). A container no monitor watches is left as it is.
func (c *Client) NetworkChanged(id string) error {
	if !c.Store.Monitored(id) {
		return nil
	}
	_, err := c.simple(Request{Op: "network", ID: id})
	return err
}

// Wait waits for the container's current run to end and returns its exit
// code; running is false if it was not running.
func (c *Client) Wait(id string) (code int, running bool, err error) {
	if !c.Store.Monitored(id) {
		return 0, false, nil
	}
	res, err := c.simple(Request{Op: "wait", ID: id})
	var re *ResponseError
	if errors.As(err, &re) && re.ExitCode == -1 {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return res.ExitCode, true, nil
}
