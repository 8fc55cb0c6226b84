package pipeline

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
)

// newService is an in-process service on a temp home. Its data room key is
// a software key: these tests are about rules, not the HSM (the end-to-end
// tests in cmd/dataprep use SoftHSM).
func newService(t *testing.T) *Service {
	t.Helper()
	h := config.Home{Dir: t.TempDir()}
	for _, d := range h.Dirs() {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	st, err := state.Open(h.State())
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	al, err := audit.Open(h.Audit())
	require.NoError(t, err)
	t.Cleanup(func() { al.Close() })
	cfg := config.Default()
	s := &Service{Home: h, Cfg: cfg, Store: st, Audit: al, DataRoom: softKey(t, "test-only data room"), Log: zerolog.Nop()}
	t.Cleanup(s.Wait)
	return s
}

// softKey is a test-only OpenPGP key held in memory.
func softKey(t testing.TB, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", "test-only@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return time.Now().Add(-time.Hour) }})
	require.NoError(t, err)
	return e
}

// armoredPublic is e's public key, armored.
func armoredPublic(t *testing.T, e *openpgp.Entity) []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	return b.Bytes()
}

// addPerson stores an account directly (setup, not under test).
func addPerson(t *testing.T, s *Service, name string, role people.Role) Caller {
	require.NoError(t, s.Store.AddPerson(people.Person{Name: name, Role: role, Hash: testHash, Created: time.Now()}))
	return Caller{Name: name, Role: role}
}

// addJob stores a received job directly.
func addJob(t *testing.T, s *Service, issuer string) state.Job {
	t.Helper()
	j, err := s.Store.CreateJob(state.Job{Issuer: issuer, FileName: "f.gpg", SHA256: randomHex(t), Size: 1, Received: time.Now(), State: state.Received})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(s.Home.Received(), j.ID+".pgp"), []byte("ciphertext"), 0o600))
	return j
}

func randomHex(t *testing.T) string {
	b := make([]byte, 32)
	f, err := os.Open("/dev/urandom")
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Read(b)
	require.NoError(t, err)
	const hexd = "0123456789abcdef"
	out := make([]byte, 64)
	for i, c := range b {
		out[2*i], out[2*i+1] = hexd[c>>4], hexd[c&15]
	}
	return string(out)
}

// events lists the audit log's events in order.
func events(t *testing.T, s *Service) []audit.Entry {
	t.Helper()
	_, err := audit.Verify(s.Home.Audit())
	require.NoError(t, err)
	var out []audit.Entry
	files, _ := filepath.Glob(filepath.Join(s.Home.Audit(), "*.jsonl"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
			var e audit.Entry
			require.NoError(t, jsonUnmarshal(line, &e))
			out = append(out, e)
		}
	}
	return out
}

// testHash is a valid hash for accounts these tests never sign in with.
var testHash, _ = people.HashPassphraseWith([]byte("test-only passphrase"), people.KDF{MemoryKiB: 8192, Time: 1})
