package snapshot

import (
	"context"
	"errors"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

const (
	// chunkSize is the unit a hashPipe reads its source in.
	chunkSize = 256 << 10
	// maxChunks bounds the memory of one hashPipe.
	maxChunks = 8
)

// errPipeClosed is returned by reads of a closed hashPipe.
var errPipeClosed = errors.New("read of closed pipe")

// hashPipe reads a source in a goroutine and hands every chunk both to a
// hashing goroutine and to its own Read, so that hashing the layer overlaps
// extracting it. Close must be called; it waits until the source is no
// longer being read.
type hashPipe struct {
	ctx    context.Context
	chunks chan *chunk // to Read, in order
	hashq  chan *chunk // to the hasher, in order
	free   chan *chunk // recycled chunks
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	allocated int // chunks made so far; producer only

	cur *chunk // chunk being read; Read only
	off int
}

// chunk is a piece of the source; refs counts the hasher and the reader.
type chunk struct {
	buf  []byte
	n    int
	err  error
	refs atomic.Int32
}

func newHashPipe(ctx context.Context, r io.Reader, h hash.Hash) *hashPipe {
	p := &hashPipe{
		ctx:    ctx,
		chunks: make(chan *chunk, maxChunks),
		hashq:  make(chan *chunk, maxChunks),
		free:   make(chan *chunk, maxChunks),
		done:   make(chan struct{}),
	}
	p.wg.Add(2)
	go p.produce(r)
	go p.hash(h)
	return p
}

func (p *hashPipe) produce(r io.Reader) {
	defer p.wg.Done()
	defer close(p.hashq)
	defer close(p.chunks)
	for {
		c := p.getChunk()
		if c == nil {
			return
		}
		if c.err = p.ctx.Err(); c.err == nil {
			c.n, c.err = io.ReadFull(r, c.buf)
			if c.err == io.ErrUnexpectedEOF {
				c.err = io.EOF
			}
		}
		c.refs.Store(2)
		last := c.err != nil // c belongs to the consumers once sent
		select {
		case p.hashq <- c:
		case <-p.done:
			return
		}
		select {
		case p.chunks <- c:
		case <-p.done:
			return
		}
		if last {
			return
		}
	}
}

// getChunk returns a free chunk, or nil once the pipe is closed.
func (p *hashPipe) getChunk() *chunk {
	select {
	case c := <-p.free:
		return c
	default:
	}
	if p.allocated < maxChunks {
		p.allocated++
		return &chunk{buf: make([]byte, chunkSize)}
	}
	select {
	case c := <-p.free:
		return c
	case <-p.done:
		return nil
	}
}

func (p *hashPipe) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		c.n, c.err = 0, nil
		p.free <- c // never blocks: at most maxChunks exist
	}
}

func (p *hashPipe) hash(h hash.Hash) {
	defer p.wg.Done()
	for c := range p.hashq {
		h.Write(c.buf[:c.n])
		p.release(c)
	}
}

// Read implements io.Reader; the source's error (io.EOF at the end) is
// returned after its data.
func (p *hashPipe) Read(b []byte) (int, error) {
	for p.cur == nil || p.off == p.cur.n {
		if p.cur != nil {
			if p.cur.err != nil {
				return 0, p.cur.err
			}
			p.release(p.cur)
			p.cur = nil
		}
		c, ok := <-p.chunks
		if !ok {
			return 0, errPipeClosed
		}
		p.cur, p.off = c, 0
	}
	n := copy(b, p.cur.buf[p.off:p.cur.n])
	p.off += n
	return n, nil
}

// Close stops reading the source and waits for the goroutines to finish;
// afterwards the hash covers everything Read returned (all of the source if
// Read returned io.EOF).
func (p *hashPipe) Close() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}
