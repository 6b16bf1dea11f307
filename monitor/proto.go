package monitor

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Request is the first line a client sends on a connection (JSON).
type Request struct {
	// Op is "start", "attach", "stop", "kill", "signal", "wait",
	// "resize", "network" (the container was connected or disconnected)
	// or "ping".
	Op string `json:"op"`
	ID string `json:"id,omitempty"`
	// Attach (start, attach) streams the container's IO over the
	// connection after the response.
	Attach *AttachOptions `json:"attach,omitempty"`
	// Signal is the signal number of kill and stop (0: the container's
	// stop signal).
	Signal int `json:"signal,omitempty"`
	// Timeout is stop's grace period in seconds; nil means the
	// container's, negative waits forever.
	Timeout *int `json:"timeout,omitempty"`
	// Height and Width resize the container's terminal.
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
}

// AttachOptions choose the streams an attached client gets.
type AttachOptions struct {
	Stdin  bool `json:"stdin"`
	Stdout bool `json:"stdout"`
	Stderr bool `json:"stderr"`
	// Logs replays what the container already wrote before streaming.
	Logs bool `json:"logs,omitempty"`
}

// Response is the monitor's answer line (JSON).
type Response struct {
	Error string `json:"error,omitempty"`
	// ExitCode is the exit code of wait and stop, or for a start that
	// failed the code `run` exits with (125, 126 or 127).
	ExitCode int `json:"exitCode"`
	Pid      int `json:"pid,omitempty"`
}

// Frame types of an attached connection. Each frame is an 8-byte header
// — type, three zero bytes, payload length (big endian uint32) — and the
// payload, like Docker's multiplexed attach stream, plus control types.
const (
	FrameStdin  byte = 0 // client → monitor: input
	FrameStdout byte = 1 // monitor → client
	FrameStderr byte = 2 // monitor → client
	FrameExit   byte = 3 // monitor → client: JSON Response, the last frame
	FrameResize byte = 4 // client → monitor: height, width (uint16 BE each)
	FrameEOF    byte = 5 // client → monitor: the client's input ended
)

// maxFrame bounds a frame's payload.
const maxFrame = 1 << 20

// frameWriter writes frames; it is safe for concurrent use.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (fw *frameWriter) write(typ byte, p []byte) error {
	var h [8]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[4:], uint32(len(p)))
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if _, err := fw.w.Write(h[:]); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	_, err := fw.w.Write(p)
	return err
}

// readFrame reads one frame into buf (grown as needed).
func readFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("monitor protocol: frame of %d bytes", n)
	}
	if int(n) > cap(buf) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return h[0], buf, nil
}

// writeLine writes v as one JSON line.
func writeLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// readLine reads one JSON line into v.
func readLine(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

func jsonBytes(v any) ([]byte, error) { return json.Marshal(v) }
