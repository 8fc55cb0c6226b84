package pipeline

import (
	"errors"
	"io"
)

// The preparation runs as three stages on their own goroutines, so that on
// a machine with several cores decryption, conversion and encryption overlap
// instead of taking turns:
//
//	decrypt (msg) ──pipe──▶ formats.Prepare ──pipe──▶ encrypt (enc)
//
// The pipes are blockPipes: bounded queues of blocks, so a stage hands over
// a block and goes on with the next while the other works on it. Plaintext
// stays in these few in-memory blocks (invariant 1), cleared at the end.

const (
	stageBlock = 256 << 10
	stageDepth = 4 // blocks a stage may run ahead: 1 MiB of plaintext at most per pipe
)

// errConverterStopped tells the decrypt stage that the converter gave up;
// it then reads the message to its end anyway, for the crypto verdict.
var errConverterStopped = errors.New("converter stopped")

// readErr remembers the first error of a reader other than io.EOF.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// overlapped runs convert between a decrypting reader and an encrypting
// writer. It returns the crypto error of the input first (it outranks what
// the converter said about unauthenticated bytes), then the converter's,
// then the encryption's.
func overlapped(msg io.Reader, enc io.Writer, convert func(r io.Reader, w io.Writer) error) (cryptoErr, convErr, encErr error) {
	in := newBlockPipe(stageBlock, stageDepth)
	decDone := make(chan error, 1)
	go func() {
		src := &readErr{r: msg}
		_, err := io.Copy(in, src)
		if src.err == nil && err != nil {
			// The converter stopped reading: read on to the end, where the
			// integrity check and the signature are decided.
			io.Copy(io.Discard, src)
		}
		in.CloseWrite(src.err) // nil: the converter sees io.EOF
		decDone <- src.err
	}()

	out := newBlockPipe(stageBlock, stageDepth)
	encDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(enc, out)
		if err != nil {
			out.CloseRead(err)
		}
		encDone <- err
	}()

	convErr = convert(in, out)
	out.CloseWrite(convErr)
	in.CloseRead(errConverterStopped)
	encErr = <-encDone
	cryptoErr = <-decDone
	// Neither end of either pipe is in use any more.
	in.Wipe()
	out.Wipe()
	return cryptoErr, convErr, encErr
}
