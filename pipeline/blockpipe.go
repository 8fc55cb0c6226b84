package pipeline

import (
	"errors"
	"io"
	"sync"
)

// blockPipe is an in-memory pipe with a bounded queue of blocks between a
// writer and a reader goroutine. Unlike io.Pipe, whose Write waits until the
// reader has taken every byte, the writer here runs up to depth blocks
// ahead, so that two stages of the preparation work at the same time.
// Blocks hold plaintext. A block is reused as it is (it is overwritten);
// Wipe clears every block the pipe made, once both ends are done.
type blockPipe struct {
	ch    chan []byte
	done  chan struct{} // closed when the reader gives up
	once  sync.Once
	werr  error  // the writer's close error, read after ch is closed
	rerr  error  // the reader's abort error
	buf   []byte // the block being written
	cur   []byte // the block being read
	off   int    // read position in cur
	block int
	free  chan []byte // blocks the reader is done with, for the writer
	mu    sync.Mutex
	all   [][]byte // every block made, for Wipe
}

func newBlockPipe(block, depth int) *blockPipe {
	return &blockPipe{ch: make(chan []byte, depth), done: make(chan struct{}), block: block,
		free: make(chan []byte, depth+2)}
}

// get returns an empty block: a free one, or a new one.
func (p *blockPipe) get() []byte {
	select {
	case b := <-p.free:
		return b[:0]
	default:
	}
	b := make([]byte, 0, p.block)
	p.mu.Lock()
	p.all = append(p.all, b)
	p.mu.Unlock()
	return b
}

// recycle hands a block the reader is done with back to the writer. It is
// not cleared: the writer overwrites it, and Wipe clears it at the end.
func (p *blockPipe) recycle(blk []byte) {
	select {
	case p.free <- blk[:0]:
	default: // more blocks than the writer can use: Wipe still clears it
	}
}

// Wipe clears every block the pipe made. Call it once neither end uses the
// pipe any more.
func (p *blockPipe) Wipe() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range p.all {
		clear(b[:cap(b)])
	}
}

var errPipeClosed = errors.New("pipe closed by the reader")

// Write queues p, blocking only when depth blocks wait.
func (p *blockPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.buf == nil {
			p.buf = p.get()
		}
		k := min(len(b), p.block-len(p.buf))
		p.buf = append(p.buf, b[:k]...)
		b, n = b[k:], n+k
		if len(p.buf) == p.block {
			if err := p.send(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (p *blockPipe) send() error {
	select {
	case p.ch <- p.buf:
		p.buf = nil
		return nil
	case <-p.done:
		if p.rerr != nil {
			return p.rerr
		}
		return errPipeClosed
	}
}

// CloseWrite ends the stream; the reader gets err after the last block, or
// io.EOF when err is nil.
func (p *blockPipe) CloseWrite(err error) {
	if len(p.buf) > 0 {
		p.send()
	}
	p.werr = err
	close(p.ch)
}

// Read takes bytes from the queue.
func (p *blockPipe) Read(b []byte) (int, error) {
	for p.off == len(p.cur) {
		if p.cur != nil {
			p.recycle(p.cur)
			p.cur, p.off = nil, 0
		}
		blk, ok := <-p.ch
		if !ok {
			if p.werr != nil {
				return 0, p.werr
			}
			return 0, io.EOF
		}
		p.cur = blk
	}
	n := copy(b, p.cur[p.off:])
	p.off += n
	return n, nil
}

// ReadFrom fills blocks straight from r until r ends, saving io.Copy's
// intermediate buffer and one copy of every byte. r's io.EOF is not an
// error; the last, partial block goes out with CloseWrite.
func (p *blockPipe) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if p.buf == nil {
			p.buf = p.get()
		}
		k, err := r.Read(p.buf[len(p.buf):p.block])
		p.buf = p.buf[:len(p.buf)+k]
		n += int64(k)
		if len(p.buf) == p.block {
			if serr := p.send(); serr != nil {
				return n, serr
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// WriteTo hands every block to w as it comes, saving io.Copy's
// intermediate buffer and one copy of every byte. It returns the writer's
// close error, or nil at the end of the stream.
func (p *blockPipe) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if p.off < len(p.cur) { // what an earlier Read left of its block
		k, err := w.Write(p.cur[p.off:])
		n += int64(k)
		p.off += k
		if err != nil {
			return n, err
		}
	}
	for {
		if p.cur != nil {
			p.recycle(p.cur)
			p.cur, p.off = nil, 0
		}
		blk, ok := <-p.ch
		if !ok {
			return n, p.werr
		}
		p.cur = blk
		k, err := w.Write(blk)
		n += int64(k)
		p.off = k
		if err != nil {
			return n, err
		}
	}
}

// CloseRead tells the writer to stop. What it queued stays until Wipe.
func (p *blockPipe) CloseRead(err error) {
	p.once.Do(func() {
		p.rerr = err
		close(p.done)
	})
}
