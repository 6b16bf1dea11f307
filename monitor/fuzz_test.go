package monitor

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes to the attach-stream frame reader:
// it must not panic, must never return a payload above maxFrame, and a
// frame it accepts must re-encode to the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	var good bytes.Buffer
	fw := &frameWriter{w: &good}
	_ = fw.write(FrameStdout, []byte("hello\n"))
	_ = fw.write(FrameResize, []byte{0, 24, 0, 80})
	_ = fw.write(FrameEOF, nil)
	f.Add(good.Bytes())
	f.Add([]byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0, 2, '{', '}'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		buf := make([]byte, 16)
		for {
			before := r.Len()
			typ, p, err := readFrame(r, buf)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || len(b) > 0 {
					return
				}
				t.Fatalf("unexpected error %v", err)
			}
			if len(p) > maxFrame {
				t.Fatalf("payload of %d bytes", len(p))
			}
			var again bytes.Buffer
			if err := (&frameWriter{w: &again}).write(typ, p); err != nil {
				t.Fatal(err)
			}
			consumed := b[len(b)-before : len(b)-r.Len()]
			if !bytes.Equal(again.Bytes()[8:], consumed[8:]) || again.Bytes()[0] != consumed[0] {
				t.Fatalf("frame %d %q does not re-encode to %x", typ, p, consumed)
			}
		}
	})
}
