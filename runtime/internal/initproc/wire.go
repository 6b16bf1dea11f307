package initproc

import (
	"errors"
	"io"
	"strconv"
)

// The parent and init talk over a socketpair in messages of a type byte,
// a 4-byte little-endian length and that many bytes of payload. The
// Config travels in a compact binary form written and read by the same
// walk method (so both sides agree on the field order by construction):
// varints for numbers, length-prefixed bytes for strings and slices.
// Both ends are the same binary, so there is no versioning.

// Message types.
const (
	MsgConfig    byte = 1 // parent → init: the Config
	MsgHooks     byte = 2 // init → parent: run the prestart and createRuntime hooks
	MsgHooksDone byte = 3 // parent → init: the hooks ran
	MsgReady     byte = 4 // init → parent: set up (waiting on exec.fifo, or about to execve)
	MsgError     byte = 5 // either way: a failure; the payload is its message
)

// maxMessage bounds a message's payload.
const maxMessage = 64 << 20

// MsgName names a message type, for errors.
func MsgName(t byte) string {
	switch t {
	case MsgConfig:
		return "config"
	case MsgHooks:
		return "hooks"
	case MsgHooksDone:
		return "hooks-done"
	case MsgReady:
		return "ready"
	case MsgError:
		return "error"
	}
	return "message " + strconv.Itoa(int(t))
}

// Conn exchanges messages over a stream.
type Conn struct {
	rw io.ReadWriter
}

// NewConn returns a Conn on rw.
func NewConn(rw io.ReadWriter) *Conn { return &Conn{rw: rw} }

// Send sends one message.
func (c *Conn) Send(typ byte, payload []byte) error {
	b := make([]byte, 5, 5+len(payload))
	b[0] = typ
	n := uint32(len(payload))
	b[1], b[2], b[3], b[4] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	_, err := c.rw.Write(append(b, payload...))
	return err
}

// SendConfig sends cfg in a MsgConfig.
func (c *Conn) SendConfig(cfg *Config) error { return c.Send(MsgConfig, cfg.Marshal()) }

// Recv reads the next message. An error message becomes an error; an
// end of the stream, even between messages, is io.ErrUnexpectedEOF.
func (c *Conn) Recv() (typ byte, payload []byte, err error) {
	var h [5]byte
	if _, err := io.ReadFull(c.rw, h[:]); err != nil {
		return 0, nil, eofUnexpected(err)
	}
	n := uint32(h[1]) | uint32(h[2])<<8 | uint32(h[3])<<16 | uint32(h[4])<<24
	if n > maxMessage {
		return 0, nil, errors.New("sync: message of " + strconv.FormatUint(uint64(n), 10) + " bytes")
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(c.rw, payload); err != nil {
		return 0, nil, eofUnexpected(err)
	}
	if h[0] == MsgError {
		return h[0], nil, errors.New(string(payload))
	}
	return h[0], payload, nil
}

// Expect reads the next message and checks its type.
func (c *Conn) Expect(typ byte) ([]byte, error) {
	t, payload, err := c.Recv()
	if err != nil {
		return nil, err
	}
	if t != typ {
		return nil, errors.New("sync: got " + quote(MsgName(t)) + ", want " + quote(MsgName(typ)))
	}
	return payload, nil
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// walker visits the fields of a value in a fixed order, either writing
// them (encoder) or filling them in (decoder).
type walker interface {
	u64(v *uint64)
	i64(v *int64)
	bool(v *bool)
	str(v *string)
	bytes(v *[]byte)
	// len writes n, or reads a slice length (bounded by what is left).
	len(n int) int
	decoding() bool
}

func walkU32(w walker, v *uint32) {
	x := uint64(*v)
	w.u64(&x)
	*v = uint32(x)
}

func walkInt(w walker, v *int) {
	x := int64(*v)
	w.i64(&x)
	*v = int(x)
}

func walkStrs(w walker, v *[]string) {
	n := w.len(len(*v))
	if w.decoding() {
		*v = makeSlice[string](n)
	}
	for i := range *v {
		w.str(&(*v)[i])
	}
}

func walkU64s(w walker, v *[]uint64) {
	n := w.len(len(*v))
	if w.decoding() {
		*v = makeSlice[uint64](n)
	}
	for i := range *v {
		w.u64(&(*v)[i])
	}
}

func walkU32s(w walker, v *[]uint32) {
	n := w.len(len(*v))
	if w.decoding() {
		*v = makeSlice[uint32](n)
	}
	for i := range *v {
		walkU32(w, &(*v)[i])
	}
}

// walkSlice walks a slice of structs with walk methods.
func walkSlice[T any](w walker, v *[]T, walk func(*T, walker)) {
	n := w.len(len(*v))
	if w.decoding() {
		*v = makeSlice[T](n)
	}
	for i := range *v {
		walk(&(*v)[i], w)
	}
}

// makeSlice makes a slice of n elements, nil for none (as the encoder
// wrote nil and empty slices alike).
func makeSlice[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, n)
}

type encoder struct{ b []byte }

func (e *encoder) decoding() bool { return false }

func (e *encoder) u64(v *uint64) {
	x := *v
	for x >= 0x80 {
		e.b = append(e.b, byte(x)|0x80)
		x >>= 7
	}
	e.b = append(e.b, byte(x))
}

func (e *encoder) i64(v *int64) {
	x := uint64(*v<<1) ^ uint64(*v>>63) // zigzag
	e.u64(&x)
}

func (e *encoder) bool(v *bool) {
	if *v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) str(v *string) {
	n := uint64(len(*v))
	e.u64(&n)
	e.b = append(e.b, *v...)
}

func (e *encoder) bytes(v *[]byte) {
	n := uint64(len(*v))
	e.u64(&n)
	e.b = append(e.b, *v...)
}

func (e *encoder) len(n int) int {
	x := uint64(n)
	e.u64(&x)
	return n
}

// errCorrupt is the error of a malformed Config.
var errCorrupt = errors.New("sync: malformed config")

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) decoding() bool { return true }

func (d *decoder) fail() { d.err, d.b = errCorrupt, nil }

func (d *decoder) u64(v *uint64) {
	var x uint64
	for shift := uint(0); ; shift += 7 {
		if len(d.b) == 0 || shift > 63 {
			d.fail()
			*v = 0
			return
		}
		c := d.b[0]
		d.b = d.b[1:]
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	*v = x
}

func (d *decoder) i64(v *int64) {
	var x uint64
	d.u64(&x)
	*v = int64(x>>1) ^ -int64(x&1)
}

func (d *decoder) bool(v *bool) {
	var x uint64
	d.u64(&x)
	*v = x != 0
}

// take returns the next n bytes.
func (d *decoder) take() []byte {
	var n uint64
	d.u64(&n)
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) str(v *string) { *v = string(d.take()) }

func (d *decoder) bytes(v *[]byte) {
	b := d.take()
	*v = nil
	if len(b) > 0 {
		*v = append([]byte(nil), b...)
	}
}

func (d *decoder) len(int) int {
	var n uint64
	d.u64(&n)
	// Every element takes at least a byte.
	if n > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}
