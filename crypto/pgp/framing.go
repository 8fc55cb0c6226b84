package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// ErrIncomplete: the file ends inside an OpenPGP packet (or an armored
// file lacks its END line). Such a file is an upload cut short, not an
// attack: the daemon refuses it at arrival and asks for it again, instead
// of decrypting it and failing.
var ErrIncomplete = errors.New("pgp: the file ends in the middle of an OpenPGP packet: the upload was cut short")

// CheckFraming reads r to its end and checks that its OpenPGP packets, as
// their headers say, end exactly where the data ends. It looks at packet
// headers only (RFC 9580 section 4.2: old and new formats, partial body
// lengths); it neither decrypts nor authenticates anything, and a file that
// passes may still be refused later. An armored file must end with its END
// line. It reads every byte once, so callers hash with an io.TeeReader.
func CheckFraming(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(5)
	if err != nil && len(head) == 0 {
		return ErrIncomplete // empty
	}
	if bytes.HasPrefix(head, []byte("-----")) || head[0]&0x80 == 0 {
		return checkArmorEnd(br)
	}
	for {
		tag, err := br.ReadByte()
		if err == io.EOF {
			return nil // the last packet ended with the data
		}
		if err != nil {
			return err
		}
		if tag&0x80 == 0 {
			return ErrIncomplete // not a packet header: we are not where a packet starts
		}
		if tag&0x40 == 0 { // old format
			var n int64
			switch tag & 3 {
			case 0:
				n, err = readBE(br, 1)
			case 1:
				n, err = readBE(br, 2)
			case 2:
				n, err = readBE(br, 4)
			case 3: // indeterminate: to the end of the data
				_, err = io.Copy(io.Discard, br)
				return err
			}
			if err != nil {
				return ErrIncomplete
			}
			if err := skip(br, n); err != nil {
				return err
			}
			continue
		}
		for { // new format, possibly in partial chunks
			n, partial, err := newLength(br)
			if err != nil {
				return ErrIncomplete
			}
			if err := skip(br, n); err != nil {
				return err
			}
			if !partial {
				break
			}
		}
	}
}

func readBE(br *bufio.Reader, k int) (int64, error) {
	var n int64
	for i := 0; i < k; i++ {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		n = n<<8 | int64(b)
	}
	return n, nil
}

func newLength(br *bufio.Reader) (n int64, partial bool, err error) {
	b, err := br.ReadByte()
	if err != nil {
		return 0, false, err
	}
	switch {
	case b < 192:
		return int64(b), false, nil
	case b < 224:
		c, err := br.ReadByte()
		return (int64(b)-192)<<8 + int64(c) + 192, false, err
	case b < 255:
		return 1 << (b & 0x1f), true, nil
	}
	n, err = readBE(br, 4)
	return n, false, err
}

func skip(br *bufio.Reader, n int64) error {
	got, err := io.CopyN(io.Discard, br, n)
	if got < n {
		if err == nil || err == io.EOF {
			return ErrIncomplete
		}
		return err
	}
	return nil
}

// checkArmorEnd reads an armored file and requires its last non-blank line
// to be an END line.
func checkArmorEnd(br *bufio.Reader) error {
	var last []byte
	for {
		line, err := br.ReadSlice('\n')
		if t := bytes.TrimSpace(line); len(t) > 0 {
			last = append(last[:0], t...)
		}
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
	if !bytes.HasPrefix(last, []byte("-----END PGP ")) {
		return ErrIncomplete
	}
	return nil
}
