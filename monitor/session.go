package monitor

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
)

// Session is an attached connection to a container's streams.
type Session struct {
	conn *net.UnixConn
	br   *bufio.Reader
	fw   *frameWriter
	// Pid is the container's init pid.
	Pid int
}

// StartAttached attaches to the container id's streams and starts it
// (attaching first, so no output is lost).
func (c *Client) StartAttached(id string, o AttachOptions) (*Session, error) {
	return c.session(Request{Op: "start", ID: id, Attach: &o})
}

// Attach attaches to the running container id's streams.
func (c *Client) Attach(id string, o AttachOptions) (*Session, error) {
	return c.session(Request{Op: "attach", ID: id, Attach: &o})
}

func (c *Client) session(req Request) (*Session, error) {
	conn, br, res, err := c.call(req)
	if err != nil {
		return nil, err
	}
	if res.Error != "" {
		conn.Close()
		return nil, &ResponseError{*res}
	}
	return &Session{conn: conn, br: br, fw: &frameWriter{w: conn}, Pid: res.Pid}, nil
}

// SendInput copies r to the container's stdin until r ends, then tells
// the monitor the input ended.
func (s *Session) SendInput(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if werr := s.fw.write(FrameStdin, buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return s.fw.write(FrameEOF, nil)
		}
		if err != nil {
			return err
		}
	}
}

// Resize resizes the container's terminal.
func (s *Session) Resize(height, width uint16) error {
	var p [4]byte
	binary.BigEndian.PutUint16(p[0:], height)
	binary.BigEndian.PutUint16(p[2:], width)
	return s.fw.write(FrameResize, p[:])
}

// Copy copies the container's output to stdout and stderr until the run
// ends, and returns how it ended. If the connection drops first, the
// error says so.
func (s *Session) Copy(stdout, stderr io.Writer) (*Response, error) {
	buf := make([]byte, 32<<10)
	for {
		typ, p, err := readFrame(s.br, buf)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, errors.New("lost the connection to hull's monitor")
			}
			return nil, err
		}
		if cap(p) > cap(buf) {
			buf = p
		}
		switch typ {
		case FrameStdout:
			if stdout != nil {
				if _, err := stdout.Write(p); err != nil {
					return nil, err
				}
			}
		case FrameStderr:
			if stderr != nil {
				if _, err := stderr.Write(p); err != nil {
					return nil, err
				}
			}
		case FrameExit:
			var res Response
			if err := json.Unmarshal(p, &res); err != nil {
				return nil, fmt.Errorf("hull monitor: %w", err)
			}
			return &res, nil
		}
	}
}

// Close ends the session (the container keeps running).
func (s *Session) Close() error { return s.conn.Close() }
