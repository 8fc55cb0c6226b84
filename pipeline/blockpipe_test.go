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
