package pgp

import (
	"bytes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// benchPlaintext is ~64 MiB of CSV-like records.
func benchPlaintext(b *testing.B) []byte {
	b.Helper()
	rows := csv(1000)
	pt := bytes.Repeat(rows, 64<<20/len(rows)+1)
	return pt[:64<<20]
}

// BenchmarkOpen decrypts and verifies a 64 MiB issuer file per iteration,
// including the session key unwrap in SoftHSM (once per file).
func BenchmarkOpen(b *testing.B) {
	pt := benchPlaintext(b)
	run := func(b *testing.B, ct []byte, issuer openpgp.EntityList, wantCipher string) {
		b.SetBytes(int64(len(pt)))
		b.ResetTimer()
		for b.Loop() {
			m, err := Open(bytes.NewReader(ct), w.dataRoom, issuer, Limits{MaxPlaintext: int64(len(pt))})
			if err != nil {
				b.Fatal(err)
			}
			if n, err := io.Copy(io.Discard, m); err != nil || n != int64(len(pt)) {
				b.Fatalf("read %d bytes: %v", n, err)
			}
			if m.Cipher() != wantCipher {
				b.Fatalf("cipher %s, want %s", m.Cipher(), wantCipher)
			}
		}
	}
	b.Run("SEIPDv1-gpg-AES256", func(b *testing.B) {
		run(b, issuerFile(b, pt), w.issuer, "SEIPDv1 AES-256")
	})
	b.Run("SEIPDv2-AES256-GCM", func(b *testing.B) {
		var ct bytes.Buffer
		wc, err := Encrypt(&ct, w.dataRoomPub, w.goIssuer)
		if err != nil {
			b.Fatal(err)
		}
		wc.Write(pt)
		if err := wc.Close(); err != nil {
			b.Fatal(err)
		}
		run(b, ct.Bytes(), w.goIssuerPub, "SEIPDv2 AES-256-GCM")
	})
}
