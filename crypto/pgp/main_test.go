package pgp

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/dataprep/dataprep/crypto/hsm"
)

// world is what every test in this package shares, built once by TestMain:
// one SoftHSM token (a PKCS#11 module is initialised once per process and
// RSA-3072 key generation takes seconds), the data room key made on it, and
// one GNUPGHOME with the issuer's and other parties' gpg keys. Nothing of it
// outlives the test binary.
type world struct {
	dir    string
	hsm    *hsm.HSM
	hsmCfg hsm.Config

	primary, encrypt hsm.Key
	dataRoom         *openpgp.Entity // with the HSM keys attached
	dataRoomPub      *openpgp.Entity // as an issuer sees it
	cert             []byte
	dataRoomFpr      string

	gnupg       string
	issuerFpr   string // RSA-3072 signing key made by gpg
	otherSigner string // ed25519 signing key made by gpg
	otherRcpt   string // ed25519 + cv25519, made by gpg
	machineFpr  string // ed25519 + cv25519, a personalization machine's key
	issuer      openpgp.EntityList

	goIssuer    *openpgp.Entity // an issuer key made by go-crypto, for SEIPDv2 messages
	goIssuerPub openpgp.EntityList
}

var w *world

const (
	labelPrimary = "test-only-dataroom-primary"
	labelEncrypt = "test-only-dataroom-encrypt"
)

func TestMain(m *testing.M) {
	code, err := runWithWorld(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crypto/pgp test setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runWithWorld(m *testing.M) (int, error) {
	for _, tool := range []string{"gpg", "gpgconf", "softhsm2-util"} {
		if _, err := exec.LookPath(tool); err != nil {
			return 0, fmt.Errorf("%s not installed (make test installs gnupg and softhsm2): %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "pgp-test-")
	if err != nil {
		return 0, err
	}
	w = &world{dir: dir, gnupg: filepath.Join(dir, "gnupg")}
	defer os.RemoveAll(dir)
	defer func() {
		// gpg started an agent for this GNUPGHOME; stop it.
		exec.Command("gpgconf", "--homedir", w.gnupg, "--kill", "all").Run()
	}()
	if err := w.setupHSM(); err != nil {
		return 0, err
	}
	defer w.hsm.Close()
	if err := w.setupGPG(); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

func (w *world) setupHSM() error {
	var err error
	if w.hsmCfg, err = hsm.InitDev(filepath.Join(w.dir, "hsm")); err != nil {
		return err
	}
	if w.hsm, err = hsm.Open(w.hsmCfg); err != nil {
		return err
	}
	if w.primary, err = w.hsm.GenerateRSAFor(labelPrimary, 3072, hsm.UsageSign); err != nil {
		return err
	}
	if w.encrypt, err = w.hsm.GenerateRSAFor(labelEncrypt, 3072, hsm.UsageDecrypt); err != nil {
		return err
	}
	w.dataRoom, err = NewDataRoomKey(w.primary, w.encrypt,
		"Data Room (test only) <test-only-dataroom@example.invalid>", time.Now())
	if err != nil {
		return err
	}
	if w.cert, err = ArmorPublic(w.dataRoom); err != nil {
		return err
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(w.cert))
	if err != nil {
		return err
	}
	w.dataRoomPub = el[0]
	w.dataRoomFpr = Fingerprint(w.dataRoom)
	return nil
}

func (w *world) setupGPG() error {
	if err := os.Mkdir(w.gnupg, 0o700); err != nil {
		return err
	}
	var err error
	if w.issuerFpr, err = w.genKey("Test Issuer <test-only-issuer@example.invalid>", "rsa3072", "sign"); err != nil {
		return err
	}
	if w.otherSigner, err = w.genKey("Other Signer <test-only-other-signer@example.invalid>", "ed25519", "sign"); err != nil {
		return err
	}
	if w.otherRcpt, err = w.genKey("Other Recipient <test-only-other-rcpt@example.invalid>", "ed25519", "sign"); err != nil {
		return err
	}
	if _, _, err := w.gpg(nil, "--quick-add-key", w.otherRcpt, "cv25519", "encr", "never"); err != nil {
		return err
	}
	if w.machineFpr, err = w.genKey("Machine 1 <test-only-machine1@example.invalid>", "ed25519", "sign"); err != nil {
		return err
	}
	if _, _, err := w.gpg(nil, "--quick-add-key", w.machineFpr, "cv25519", "encr", "never"); err != nil {
		return err
	}
	if _, _, err := w.gpg(w.cert, "--import"); err != nil {
		return err
	}
	pub, _, err := w.gpg(nil, "--armor", "--export", w.issuerFpr)
	if err != nil {
		return err
	}
	if w.issuer, err = ReadIssuerKey(pub); err != nil {
		return err
	}

	w.goIssuer, err = openpgp.NewEntity("Go Issuer", "test only", "test-only-go-issuer@example.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		return err
	}
	goPub, err := ArmorPublic(w.goIssuer)
	if err != nil {
		return err
	}
	w.goIssuerPub, err = ReadIssuerKey(goPub)
	return err
}

// genKey makes a key without passphrase with gpg and returns its fingerprint.
func (w *world) genKey(uid, algo, usage string) (string, error) {
	if _, _, err := w.gpg(nil, "--quick-gen-key", uid, algo, usage, "never"); err != nil {
		return "", err
	}
	return w.fingerprint(uid)
}

func (w *world) fingerprint(uid string) (string, error) {
	out, _, err := w.gpg(nil, "--with-colons", "--list-keys", "="+uid)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" && len(f) > 9 {
			return f[9], nil
		}
	}
	return "", fmt.Errorf("no fingerprint for %q", uid)
}

// gpg runs stock gpg on the test's GNUPGHOME, never the user's.
func (w *world) gpg(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	base := []string{"--homedir", w.gnupg, "--batch", "--no-tty", "--yes",
		"--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always"}
	return w.gpgRaw(stdin, append(base, args...)...)
}

func (w *world) gpgRaw(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.Command("gpg", args...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+w.gnupg, "LC_ALL=C")
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.Bytes(), e.Bytes(), fmt.Errorf("gpg %s: %w\n%s", strings.Join(args, " "), err, e.Bytes())
	}
	return o.Bytes(), e.Bytes(), nil
}

// gpgT is gpg for tests: it fails the test on error.
func gpgT(t testing.TB, stdin []byte, args ...string) ([]byte, []byte) {
	t.Helper()
	o, e, err := w.gpg(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return o, e
}

// openAll decrypts a whole message the way a caller must: everything up to a
// clean io.EOF.
func openAll(ct []byte, dataRoom *openpgp.Entity, issuer openpgp.EntityList, max int64) ([]byte, *Message, error) {
	m, err := Open(bytes.NewReader(ct), dataRoom, issuer, Limits{MaxPlaintext: max})
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	_, err = out.ReadFrom(m) // ReadFrom stops at io.EOF and reports any other error
	if err != nil {
		return out.Bytes(), m, err
	}
	return out.Bytes(), m, nil
}
