// Package config holds the daemon's configuration file and the layout of its
// home directory. Everything the daemon keeps lives under one home, so that a
// systemd unit can give it one ReadWritePaths= and an operator one backup.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/records"
)

// ErrBadConfig wraps every configuration problem.
var ErrBadConfig = errors.New("bad configuration")

// Home is the daemon's directory and the names inside it.
type Home struct{ Dir string }

func (h Home) Config() string                { return filepath.Join(h.Dir, "dataprep.toml") }
func (h Home) State() string                 { return filepath.Join(h.Dir, "state.db") }
func (h Home) Audit() string                 { return filepath.Join(h.Dir, "audit") }
func (h Home) HSMDev() string                { return filepath.Join(h.Dir, "hsm-dev") }
func (h Home) Cert() string                  { return filepath.Join(h.Dir, "keys", "dataroom-cert.asc") }
func (h Home) CheckpointKey() string         { return filepath.Join(h.Dir, "keys", "audit-checkpoint.pub") }
func (h Home) DropRoot() string              { return filepath.Join(h.Dir, "drop") }
func (h Home) DropHostKey() string           { return filepath.Join(h.Dir, "keys", "drop-host-ed25519") }
func (h Home) Received() string              { return filepath.Join(h.Dir, "spool", "received") }
func (h Home) Production() string            { return filepath.Join(h.Dir, "spool", "production") }
func (h Home) Quarantine() string            { return filepath.Join(h.Dir, "quarantine") }
func (h Home) Socket() string                { return filepath.Join(h.Dir, "control.sock") }
func (h Home) Incoming(issuer string) string { return filepath.Join(h.DropRoot(), issuer, "incoming") }
func (h Home) Outbox(issuer string) string   { return filepath.Join(h.DropRoot(), issuer, "outbox") }

// Dirs lists the directories init creates (mode 0700).
func (h Home) Dirs() []string {
	return []string{h.Dir, h.Audit(), filepath.Dir(h.Cert()), h.DropRoot(), h.Received(), h.Production(), h.Quarantine()}
}

// Duration is a time.Duration written as "30m" in TOML.
type Duration struct{ time.Duration }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Config is dataprep.toml.
type Config struct {
	HSM      HSM      `toml:"hsm"`
	Drop     Drop     `toml:"drop"`
	Auth     Auth     `toml:"auth"`
	Requests Requests `toml:"requests"`
	Limits   Limits   `toml:"limits"`
	Metrics  Metrics  `toml:"metrics"`
	Audit    Audit    `toml:"audit"`
	// Retention of audit entries by kind, in months (records.RetentionConfig):
	// failures 3, destructions 18, everything else 24 by default.
	Retention records.RetentionConfig `toml:"retention"`
}

// Audit is how the audit log seals itself.
type Audit struct {
	// A checkpoint signed in the HSM every CheckpointEvery entries and every
	// CheckpointInterval, at start and at shutdown.
	CheckpointEvery    uint64   `toml:"checkpoint_every"`
	CheckpointInterval Duration `toml:"checkpoint_interval"`
	// A new segment begins past either bound; old segments are pruned whole.
	SegmentMaxBytes int64    `toml:"segment_max_bytes"`
	SegmentMaxAge   Duration `toml:"segment_max_age"`
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	// Listen is a loopback HOST:PORT for /metrics; empty turns it off.
	Listen string `toml:"listen"`
}

// HSM says where the data room's keys live.
type HSM struct {
	Module      string `toml:"module"`
	TokenLabel  string `toml:"token_label"`
	PINFile     string `toml:"pin_file"`
	SoftHSMConf string `toml:"softhsm_conf,omitempty"` // development tokens only
	Dev         bool   `toml:"dev"`
	PrimaryKey  string `toml:"primary_key_label"`
	EncryptKey  string `toml:"encrypt_key_label"`
	AuditKey    string `toml:"audit_key_label"`
}

// Drop is the issuers' way in.
type Drop struct {
	Listen string `toml:"listen"`
	// WatchDir, when set, is watched for files that an OpenSSH drop in front
	// of the daemon places in WatchDir/<issuer>/.
	WatchDir    string `toml:"watch_dir,omitempty"`
	MaxFileSize int64  `toml:"max_file_size"`
	// IdleTimeout closes an issuer's SFTP connection that sent nothing for
	// this long (PCI DSS 8.2.8: 15 minutes at most).
	IdleTimeout Duration `toml:"idle_timeout"`
}

// Auth is the rule for passphrases and lockouts.
type Auth struct {
	MaxFailures int      `toml:"max_failures"`
	Lockout     Duration `toml:"lockout"`
	// Argon2id cost of new passphrase hashes. Each hash keeps its own cost,
	// so raising these never locks anyone out.
	KDFMemoryKiB uint32 `toml:"kdf_memory_kib"`
	KDFTime      uint32 `toml:"kdf_time"`
}

// Requests is the rule for dual-control requests.
type Requests struct {
	Expiry Duration `toml:"expiry"`
}

// Limits bound what one file may cost.
type Limits struct {
	// MaxPlaintext refuses a file whose decrypted (decompressed) size passes
	// it: the defence against compression bombs.
	MaxPlaintext int64 `toml:"max_plaintext"`
	// MaxCryptoFailuresPerHour holds starts for an issuer whose files failed
	// this often at the OpenPGP layer in the last hour (each start is an RSA
	// decryption in the HSM: a stream of failures may be a padding oracle).
	MaxCryptoFailuresPerHour int `toml:"max_crypto_failures_per_hour"`
}

// Default is the configuration init writes, before the HSM part is filled.
func Default() Config {
	return Config{
		HSM:      HSM{PrimaryKey: "dataprep-primary", EncryptKey: "dataprep-encrypt", AuditKey: "dataprep-audit-checkpoint"},
		Audit:    Audit{CheckpointEvery: 256, CheckpointInterval: Duration{time.Minute}, SegmentMaxBytes: 64 << 20, SegmentMaxAge: Duration{7 * 24 * time.Hour}},
		Drop:     Drop{Listen: "127.0.0.1:2222", MaxFileSize: 4 << 30, IdleTimeout: Duration{15 * time.Minute}},
		Auth:     Auth{MaxFailures: 5, Lockout: Duration{30 * time.Minute}, KDFMemoryKiB: people.DefaultKDF.MemoryKiB, KDFTime: people.DefaultKDF.Time},
		Requests: Requests{Expiry: Duration{30 * time.Minute}},
		Limits:   Limits{MaxPlaintext: 16 << 30, MaxCryptoFailuresPerHour: 10},
	}
}

// Load reads and checks the configuration of home. Unknown keys are errors:
// a misspelt setting must not silently fall back to a default.
func Load(h Home) (Config, error) {
	raw, err := os.ReadFile(h.Config())
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Config{}, fmt.Errorf("%w: no %s: run 'dataprep init --home %s' first, or set --home / DATAPREP_HOME", ErrBadConfig, h.Config(), h.Dir)
		}
		return Config{}, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(raw)).DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return Config{}, fmt.Errorf("%w: %s: %s", ErrBadConfig, h.Config(), sm.String())
		}
		return Config{}, fmt.Errorf("%w: %s: %v", ErrBadConfig, h.Config(), err)
	}
	return c, c.Check()
}

// Check validates values that TOML types cannot.
func (c Config) Check() error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%w: "+f, append([]any{ErrBadConfig}, a...)...) }
	if c.HSM.Module == "" || c.HSM.TokenLabel == "" || c.HSM.PINFile == "" {
		return bad("[hsm] needs module, token_label and pin_file")
	}
	if _, _, err := net.SplitHostPort(c.Drop.Listen); err != nil {
		return bad("[drop] listen %q: want HOST:PORT", c.Drop.Listen)
	}
	if c.Drop.MaxFileSize <= 0 || c.Limits.MaxPlaintext <= 0 {
		return bad("[drop] max_file_size and [limits] max_plaintext must be positive")
	}
	if d := c.Drop.IdleTimeout.Duration; d != 0 && (d < 10*time.Second || d > 15*time.Minute) {
		return bad("[drop] idle_timeout must be 10s..15m (PCI DSS 8.2.8 allows at most 15 minutes idle)")
	}
	if c.Limits.MaxCryptoFailuresPerHour < 1 {
		return bad("[limits] max_crypto_failures_per_hour must be at least 1")
	}
	if c.Auth.MaxFailures < 1 || c.Auth.MaxFailures > 10 {
		return bad("[auth] max_failures must be 1..10 (PCI DSS 8.3.4)")
	}
	if c.Auth.KDFMemoryKiB < 8*1024 || c.Auth.KDFMemoryKiB > people.MaxKDFMemoryKiB || c.Auth.KDFTime < 1 || c.Auth.KDFTime > people.MaxKDFTime {
		return bad("[auth] kdf_memory_kib must be 8192..%d and kdf_time 1..%d", people.MaxKDFMemoryKiB, people.MaxKDFTime)
	}
	if c.Auth.Lockout.Duration < time.Minute {
		return bad("[auth] lockout must be at least 1m")
	}
	if c.Audit.CheckpointEvery < 1 || c.Audit.CheckpointInterval.Duration < time.Second || c.Audit.SegmentMaxBytes < 1<<20 || c.Audit.SegmentMaxAge.Duration < time.Hour {
		return bad("[audit] checkpoint_every >= 1, checkpoint_interval >= 1s, segment_max_bytes >= 1 MiB, segment_max_age >= 1h")
	}
	if err := c.Retention.Validate(); err != nil {
		return bad("[retention] %v", err)
	}
	if c.Requests.Expiry.Duration < time.Minute || c.Requests.Expiry.Duration > 24*time.Hour {
		return bad("[requests] expiry must be between 1m and 24h")
	}
	return nil
}

// Write stores c as the home's configuration (0600), atomically.
func Write(h Home, c Config) error {
	raw, err := toml.Marshal(c)
	if err != nil {
		return err
	}
	head := []byte("# dataprep configuration. Changes take effect at the next daemon start.\n")
	if c.HSM.Dev {
		head = append(head, "# DEVELOPMENT ONLY: the HSM is a SoftHSM2 token inside this home, its PINs in plain files.\n"...)
	}
	return WriteFileAtomic(h.Config(), append(head, raw...), 0o600)
}

// WriteFileAtomic writes data to path so that a crash leaves either the old
// file or the new one: temp file, fsync, close, rename, fsync the directory
// (the order matters: tailscale's atomicfile).
func WriteFileAtomic(path string, data []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that a rename or create in it is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
