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
// Blocks hold plaintext: they are cleared before reuse and at the end.
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
	pool  sync.Pool
}

func newBlockPipe(block, depth int) *blockPipe {
	p := &blockPipe{ch: make(chan []byte, depth), done: make(chan struct{}), block: block}
	p.pool.New = func() any { return make([]byte, 0, block) }
	return p
}

var errPipeClosed = errors.New("pipe closed by the reader")

// Write queues p, blocking only when depth blocks wait.
func (p *blockPipe) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		if p.buf == nil {
			p.buf = p.pool.Get().([]byte)[:0]
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
			p.buf = p.pool.Get().([]byte)[:0]
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

// CloseRead tells the writer to stop; queued blocks are cleared.
func (p *blockPipe) CloseRead(err error) {
	p.once.Do(func() {
		p.rerr = err
		close(p.done)
	})
	go func() { // drain what the writer queued, so nothing stays in memory
		for blk := range p.ch {
			clear(blk[:cap(blk)])
		}
	}()
}

func (p *blockPipe) recycle(blk []byte) {
	blk = blk[:cap(blk)]
	clear(blk)
	p.pool.Put(blk[:0])
}
