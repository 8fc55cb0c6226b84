package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/formats/testgen"
	"github.com/dataprep/dataprep/transport/machine/sshdtest"
)

// TestAEADMachine: a machine whose key advertises SEIPDv2 (RFC 9580 AEAD)
// gets its production files as SEIPDv2 AES-256-GCM (design.md: several times
// cheaper to write and to read than SEIPDv1), the request, the machine.add
// and job.ready entries say so, and the file decrypts with the machine's
// key to the expected output, signed by the data room. gpg 2.2 reads no
// SEIPDv2, so go-crypto plays the machine here.
func TestAEADMachine(t *testing.T) {
	t.Parallel() // each test owns its world: home, token, ports, sshd
	w, acme, fpr := staffed(t)
	certPEM, secret, err := testgen.AEADMachineKey("test-only AEAD machine <test-only-aead1@example.invalid>")
	require.NoError(t, err)
	certFile := filepath.Join(w.dir, "aead1-machine.asc")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o644))
	srv := sshdtest.Start(t)
	from := w.auditHead()
	out := w.ok("alice", "machine", "add", "aead1", "--sftp", srv.User+"@"+srv.Addr, "--dir", srv.Dir,
		"--host-key", srv.HostKeyLine(), "--ssh-key", srv.ClientKeyFile, "--pgp-key", certFile)
	require.Contains(t, out, "production files SEIPDv2 AES-256-GCM")
	require.Equal(t, "SEIPDv2 AES-256-GCM", w.audited(from, "machine.add", "ok", "").Detail["production_encryption"])
	// A gpg 2.2 machine key gets SEIPDv1, which gpg reads.
	require.Equal(t, "SEIPDv1 AES-256", w.audited(0, "machine.add", "ok", "").Detail["production_encryption"])

	plain := syntheticCSV(t, 120, 5)
	from = w.auditHead()
	id := w.prepareJobFor(acme, fpr, plain, "cards-aead.csv.gpg", "aead1")
	require.Equal(t, "SEIPDv2 AES-256-GCM", w.audited(from, "job.ready", "ok", id).Detail["output_cipher"])

	enc, err := os.ReadFile(filepath.Join(w.home, "spool", "production", id+".pgp"))
	require.NoError(t, err)
	pr := packet.NewReader(bytes.NewReader(enc))
	for {
		p, err := pr.Next()
		require.NoError(t, err)
		if se, ok := p.(*packet.SymmetricallyEncrypted); ok {
			require.Equal(t, 2, se.Version)
			require.Equal(t, packet.CipherAES256, se.Cipher)
			require.Equal(t, packet.AEADModeGCM, se.Mode)
			break
		}
	}

	keys, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(secret))
	require.NoError(t, err)
	exported := w.ok("", "key", "export")
	dr, err := openpgp.ReadArmoredKeyRing(strings.NewReader(exported[strings.Index(exported, "-----BEGIN PGP PUBLIC KEY BLOCK-----"):]))
	require.NoError(t, err)
	md, err := openpgp.ReadMessage(bytes.NewReader(enc), append(keys, dr...), nil, nil)
	require.NoError(t, err)
	got, err := io.ReadAll(md.UnverifiedBody)
	require.NoError(t, err)
	require.True(t, md.IsSigned)
	require.NoError(t, md.SignatureError)
	require.NotNil(t, md.SignedBy)
	require.Equal(t, dr[0].PrimaryKey.KeyId, md.SignedBy.Entity.PrimaryKey.KeyId)
	require.Equal(t, string(expectedOutput(t, plain)), string(got))
}
