package pipeline

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBlockPipeCarriesEveryByte(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	p := newBlockPipe(64<<10, 3)
	go func() {
		rest := data
		for i := 1; len(rest) > 0; i++ {
			k := min(len(rest), (i*7919)%100000+1)
			_, err := p.Write(rest[:k])
			require.NoError(t, err)
			rest = rest[k:]
		}
		p.CloseWrite(nil)
	}()
	got, err := io.ReadAll(p)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
}

// TestBlockPipeCopyPaths: io.Copy takes ReadFrom into the pipe and WriteTo
// out of it; both carry every byte, also after a Read took part of a block.
func TestBlockPipeCopyPaths(t *testing.T) {
	data := make([]byte, 2<<20+777)
	rand.Read(data)
	p := newBlockPipe(64<<10, 3)
	go func() {
		// A reader that returns odd sizes, and data with io.EOF together.
		n, err := io.Copy(p, &oddReader{data: data})
		require.NoError(t, err)
		require.EqualValues(t, len(data), n)
		p.CloseWrite(nil)
	}()
	head := make([]byte, 1000)
	_, err := io.ReadFull(p, head)
	require.NoError(t, err)
	var rest bytes.Buffer
	_, err = io.Copy(&rest, p)
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, append(head, rest.Bytes()...)))

	// The writer's error comes out of WriteTo.
	boom := errors.New("boom")
	q := newBlockPipe(16, 2)
	go func() { q.Write([]byte("0123456789abcdefXYZ")); q.CloseWrite(boom) }()
	var got bytes.Buffer
	_, err = io.Copy(&got, q)
	require.ErrorIs(t, err, boom)
	require.Equal(t, "0123456789abcdefXYZ", got.String())
}

type oddReader struct {
	data []byte
	i    int
}

func (r *oddReader) Read(p []byte) (int, error) {
	r.i++
	k := min(len(p), len(r.data), (r.i*7919)%50000+1)
	copy(p, r.data[:k])
	r.data = r.data[k:]
	if len(r.data) == 0 {
		return k, io.EOF
	}
	return k, nil
}

func TestBlockPipeErrors(t *testing.T) {
	boom := errors.New("boom")
	p := newBlockPipe(16, 2)
	go func() {
		p.Write([]byte("some bytes"))
		p.CloseWrite(boom)
	}()
	got, err := io.ReadAll(p)
	require.ErrorIs(t, err, boom, "the writer's error reaches the reader after the data")
	require.Equal(t, "some bytes", string(got))

	// A reader that gives up releases a blocked writer.
	q := newBlockPipe(16, 1)
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			_, err = q.Write(make([]byte, 100))
		}
		q.CloseWrite(nil)
		done <- err
	}()
	buf := make([]byte, 10)
	q.Read(buf)
	q.CloseRead(errConverterStopped)
	require.ErrorIs(t, <-done, errConverterStopped)
}

// TestBlockPipeWipe: blocks are reused as they are, but once both ends are
// done Wipe leaves no byte of what went through in any of them, also when
// the reader stopped early with blocks still queued.
func TestBlockPipeWipe(t *testing.T) {
	for _, early := range []bool{false, true} {
		data := bytes.Repeat([]byte{0xA5}, 1<<20+99)
		p := newBlockPipe(64<<10, 3)
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(p, bytes.NewReader(data))
			p.CloseWrite(nil)
		}()
		if early {
			buf := make([]byte, 100<<10)
			io.ReadFull(p, buf)
			p.CloseRead(errConverterStopped)
		} else {
			io.Copy(io.Discard, p)
		}
		<-done
		p.Wipe()
		require.NotEmpty(t, p.all)
		require.LessOrEqual(t, len(p.all), 3+3, "blocks are reused, not made anew")
		for _, b := range p.all {
			require.Zero(t, bytes.Count(b[:cap(b)], []byte{0xA5}), "a block still holds data after Wipe (early=%v)", early)
		}
	}
}
