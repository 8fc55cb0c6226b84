package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/hsm"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
	"github.com/dataprep/dataprep/transport/drop"
)

// InitOptions are the answers init needs.
type InitOptions struct {
	Admin     string
	AdminPass []byte
	Dev       bool // a SoftHSM2 token inside the home: development and demos only
	// Production HSM (ignored with Dev).
	Module, TokenLabel, PINFile string
	UID                         string // the certificate's user id
	OSUser                      string
}

// Init makes a new home: configuration, state store, audit log, the data
// room's keys in the HSM and its certificate, the drop's host key, and the
// first administrator. It refuses to touch an existing home.
func Init(h config.Home, o InitOptions) (fpr string, err error) {
	if _, err := os.Stat(h.Config()); err == nil {
		return "", fmt.Errorf("%w: %s is already initialised", ErrBadInput, h.Dir)
	}
	if err := people.CheckName(o.Admin); err != nil {
		return "", fmt.Errorf("%w: --admin: %v", ErrBadInput, err)
	}
	if err := people.CheckPassphrase(o.Admin, o.AdminPass); err != nil {
		return "", fmt.Errorf("%w: administrator passphrase: %v", ErrBadInput, err)
	}
	cfg := config.Default()
	var hc hsm.Config
	var tok *hsm.HSM
	if !o.Dev {
		// A production HSM is checked (module, token, PIN) before anything
		// is written, so a typo leaves no half-made home behind.
		if o.Module == "" || o.TokenLabel == "" || o.PINFile == "" {
			return "", fmt.Errorf("%w: without --dev, give --pkcs11-module, --token-label and --pin-file", ErrBadInput)
		}
		pin, err := filepath.Abs(o.PINFile)
		if err != nil {
			return "", err
		}
		hc = hsm.Config{Module: o.Module, TokenLabel: o.TokenLabel, PINFile: pin}
		if tok, err = hsm.Open(hc); err != nil {
			return "", fmt.Errorf("opening the HSM: %w", err)
		}
		defer tok.Close()
	}
	for _, d := range h.Dirs() {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if o.Dev {
		hc, err = hsm.InitDev(h.HSMDev())
		if err != nil {
			return "", fmt.Errorf("creating the development SoftHSM token: %w", err)
		}
		cfg.HSM.Dev = true
		cfg.HSM.SoftHSMConf = hc.SoftHSMConf
	}
	cfg.HSM.Module, cfg.HSM.TokenLabel, cfg.HSM.PINFile = hc.Module, hc.TokenLabel, hc.PINFile
	if err := cfg.Check(); err != nil {
		return "", err
	}

	al, err := audit.Open(h.Audit())
	if err != nil {
		return "", err
	}
	defer al.Close()
	rec := func(e audit.Entry) error {
		e.Actor, e.OSUser = o.Admin, o.OSUser
		if _, err := al.Append(e); err != nil {
			return fmt.Errorf("%w: %v", ErrAuditFailed, err)
		}
		return nil
	}
	if err := rec(audit.Entry{Event: "init", Outcome: "ok", Detail: map[string]string{"home": h.Dir, "dev_hsm": fmt.Sprint(o.Dev), "token": hc.TokenLabel}}); err != nil {
		return "", err
	}

	if tok == nil {
		if tok, err = hsm.Open(hc); err != nil {
			return "", fmt.Errorf("opening the HSM: %w", err)
		}
		defer tok.Close()
	}
	primary, err := tok.GenerateRSAFor(cfg.HSM.PrimaryKey, 3072, hsm.UsageSign)
	if err != nil {
		return "", fmt.Errorf("generating the primary key in the HSM: %w", err)
	}
	enc, err := tok.GenerateRSAFor(cfg.HSM.EncryptKey, 3072, hsm.UsageDecrypt)
	if err != nil {
		return "", fmt.Errorf("generating the encryption key in the HSM: %w", err)
	}
	ckpt, err := tok.GenerateRSAFor(cfg.HSM.AuditKey, 3072, hsm.UsageSign)
	if err != nil {
		return "", fmt.Errorf("generating the audit checkpoint key in the HSM: %w", err)
	}
	pem, err := audit.MarshalPublicKey(ckpt.Public())
	if err != nil {
		return "", err
	}
	if err := config.WriteFileAtomic(h.CheckpointKey(), pem, 0o644); err != nil {
		return "", err
	}
	ckptID, _ := audit.KeyID(ckpt.Public())
	if err := rec(audit.Entry{Event: "key.generate", Outcome: "ok", Detail: map[string]string{
		"key_id": ckptID, "label": cfg.HSM.AuditKey, "algorithm": "RSA-3072", "extractable": "false", "usage": "sign audit checkpoints only"}}); err != nil {
		return "", err
	}
	uid := o.UID
	if uid == "" {
		host, _ := os.Hostname()
		uid = fmt.Sprintf("dataprep data room (%s)", host)
	}
	ent, err := pgp.NewDataRoomKey(primary, enc, uid, time.Now())
	if err != nil {
		return "", fmt.Errorf("making the data room certificate: %w", err)
	}
	armored, err := pgp.ArmorPublic(ent)
	if err != nil {
		return "", err
	}
	if err := config.WriteFileAtomic(h.Cert(), armored, 0o644); err != nil {
		return "", err
	}
	fpr = pgp.Fingerprint(ent)
	if err := rec(audit.Entry{Event: "key.generate", Outcome: "ok", Detail: map[string]string{
		"fingerprint": fpr, "primary": cfg.HSM.PrimaryKey, "encrypt": cfg.HSM.EncryptKey, "algorithm": "RSA-3072", "extractable": "false", "usage": "primary: sign only; subkey: decrypt only"}}); err != nil {
		return "", err
	}
	if _, err := drop.GenerateHostKey(h.DropHostKey()); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("drop host key: %w", err)
	}

	st, err := state.Open(h.State())
	if err != nil {
		return "", err
	}
	defer st.Close()
	hash, err := people.HashPassphrase(o.AdminPass)
	if err != nil {
		return "", err
	}
	if err := rec(audit.Entry{Event: "user.add", Outcome: "ok", Detail: map[string]string{"user": o.Admin, "role": string(people.Admin), "bootstrap": "init"}}); err != nil {
		return "", err
	}
	if err := st.AddPerson(people.Person{Name: o.Admin, Role: people.Admin, Hash: hash, Created: time.Now().UTC(), CreatedBy: "init"}); err != nil {
		return "", err
	}
	// The configuration is written last: its presence means "initialised".
	if err := config.Write(h, cfg); err != nil {
		return "", err
	}
	return fpr, nil
}

// ExportKey returns the data room's armored certificate and fingerprint.
func ExportKey(h config.Home) ([]byte, string, error) {
	cert, err := os.ReadFile(h.Cert())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("no certificate at %s: is %s initialised? (dataprep init)", h.Cert(), h.Dir)
		}
		return nil, "", err
	}
	ent, err := pgp.ReadRecipientKey(cert)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", h.Cert(), err)
	}
	return cert, pgp.Fingerprint(ent), nil
}
