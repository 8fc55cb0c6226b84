package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/formats"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/formats/testgen"
)

// BenchmarkOverlapped is the daemon's preparation in memory, on 200,000
// records: decrypt alone (the yardstick), then decrypt, prepare
// and encrypt overlapped as produce runs them, for a machine with a gpg
// 2.2 key (SEIPDv1) and one with an RFC 9580 key (SEIPDv2). make bench
// runs the same through the daemon, with the HSM and the disk.
func BenchmarkOverlapped(b *testing.B) {
	var pt bytes.Buffer
	const n = 200000
	testgen.CSV(&pt, n, 1)
	now := func() time.Time { return time.Now().Add(-time.Hour) }
	// An RSA data room key, as the HSM holds (Open takes RSA decrypters).
	dataRoom, err := openpgp.NewEntity("test-only data room", "", "test-only@example.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048, Time: now})
	if err != nil {
		b.Fatal(err)
	}
	issuer := softKey(b, "test-only issuer")
	v1Machine := softKey(b, "test-only gpg machine")
	cert, _, err := testgen.AEADMachineKey("test-only AEAD machine <test-only-aead@example.invalid>")
	if err != nil {
		b.Fatal(err)
	}
	v2Machine, err := pgp.ReadRecipientKey(cert)
	if err != nil {
		b.Fatal(err)
	}
	// The issuer's file as gpg 2.2 makes it: SEIPDv1 (the data room key
	// advertises no AEAD).
	var ct bytes.Buffer
	wc, err := pgp.Encrypt(&ct, dataRoom, issuer)
	if err != nil {
		b.Fatal(err)
	}
	wc.Write(pt.Bytes())
	if err := wc.Close(); err != nil {
		b.Fatal(err)
	}
	issuers := openpgp.EntityList{issuer}
	ip := profile.DefaultIssuer()
	ml, err := profile.DefaultMachine("machine-fixed")
	if err != nil {
		b.Fatal(err)
	}
	open := func(b *testing.B) *pgp.Message {
		m, err := pgp.Open(bytes.NewReader(ct.Bytes()), dataRoom, issuers, pgp.Limits{MaxPlaintext: 1 << 40})
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	b.Run("decrypt", func(b *testing.B) {
		b.SetBytes(int64(pt.Len()))
		cpu0 := cpuTime()
		for b.Loop() {
			if _, err := io.Copy(io.Discard, open(b)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric((cpuTime()-cpu0).Seconds()/b.Elapsed().Seconds(), "cores")
	})
	for _, mc := range []struct {
		name string
		key  *openpgp.Entity
	}{{"SEIPDv1", v1Machine}, {"SEIPDv2", v2Machine}} {
		b.Run("prepare-"+mc.name, func(b *testing.B) {
			b.SetBytes(int64(pt.Len()))
			dir, k := b.TempDir(), 0
			cpu0 := cpuTime()
			for b.Loop() {
				out, err := createOutFile(filepath.Join(dir, fmt.Sprint(k)))
				if err != nil {
					b.Fatal(err)
				}
				k++
				enc, err := pgp.Encrypt(out, mc.key, dataRoom)
				if err != nil {
					b.Fatal(err)
				}
				var c formats.Counts
				derr, perr, eerr := overlapped(open(b), enc, func(r io.Reader, w io.Writer) error {
					var err error
					c, err = formats.Prepare(r, ip, ml, formats.Options{}, w, nil)
					return err
				})
				if derr != nil || perr != nil || eerr != nil || c.Accepted != n {
					b.Fatal(derr, perr, eerr, c)
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
				if err := out.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			// How busy the cores were: the stages overlap only as far
			// as the scheduler lets them.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/b.Elapsed().Seconds(), "cores")
		})
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
