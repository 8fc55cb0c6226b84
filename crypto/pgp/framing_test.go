package pgp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckFraming(t *testing.T) {
	good := issuerFile(t, csv(2000))
	require.NoError(t, CheckFraming(bytes.NewReader(good)), "a whole gpg file")
	armored := gpgOut(t, csv(50), "--encrypt", "--sign", "--armor", "-u", w.issuerFpr, "-r", w.dataRoomFpr)
	require.NoError(t, CheckFraming(bytes.NewReader(armored)), "a whole armored file")
	for name, b := range map[string][]byte{
		"cut at half":       good[:len(good)/2],
		"last byte missing": good[:len(good)-1],
		"only a header":     good[:3],
		"empty":             nil,
		"armor without END": armored[:len(armored)*2/3],
	} {
		require.ErrorIs(t, CheckFraming(bytes.NewReader(b)), ErrIncomplete, name)
	}
}

func FuzzCheckFraming(f *testing.F) {
	f.Add([]byte{0xc1, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{0x85, 0x01, 0x00})
	f.Add([]byte("-----BEGIN PGP MESSAGE-----\n\nabc\n-----END PGP MESSAGE-----\n"))
	f.Add([]byte{0xd2, 0xe1, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		CheckFraming(bytes.NewReader(b)) // must not panic or hang
	})
}
