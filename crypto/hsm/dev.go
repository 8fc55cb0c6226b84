package hsm

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// DevTokenLabel is the label InitDev gives its token.
const DevTokenLabel = "dataprep-dev"

// ErrAlreadyInitialised is returned by InitDev when dir already holds a token.
var ErrAlreadyInitialised = errors.New("hsm: development token already initialised")

// softHSMModules are where Debian and others install SoftHSM's module.
var softHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// SoftHSMModule returns the path of the installed SoftHSM module.
func SoftHSMModule() (string, error) {
	for _, p := range softHSMModules {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("hsm: SoftHSM module not found (install softhsm2)")
}

// InitDev creates a SoftHSM token for DEVELOPMENT ONLY in dir: its own
// softhsm2.conf, a tokens/ directory, and random SO and user PINs in 0600
// files (so-pin.DEV-ONLY, user-pin.DEV-ONLY). It refuses a dir that already
// has a softhsm2.conf.
//
// softhsm2-util takes the PINs only on its command line (it reads from a
// terminal otherwise), so for the moment it runs they are visible in the
// process list: one more reason this is not for production tokens.
func InitDev(dir string) (Config, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Config{}, fmt.Errorf("hsm: init dev token: %w", err)
	}
	module, err := SoftHSMModule()
	if err != nil {
		return Config{}, err
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return Config{}, fmt.Errorf("hsm: init dev token: %w (install softhsm2)", err)
	}
	cfg := Config{
		Module:      module,
		TokenLabel:  DevTokenLabel,
		PINFile:     filepath.Join(dir, "user-pin.DEV-ONLY"),
		SoftHSMConf: filepath.Join(dir, "softhsm2.conf"),
	}
	soPINFile := filepath.Join(dir, "so-pin.DEV-ONLY")
	tokens := filepath.Join(dir, "tokens")

	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Config{}, fmt.Errorf("hsm: init dev token: %w", err)
	}
	for _, p := range []string{cfg.SoftHSMConf, tokens, cfg.PINFile, soPINFile} {
		if _, err := os.Lstat(p); err == nil {
			return Config{}, fmt.Errorf("%w: %s exists", ErrAlreadyInitialised, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Config{}, fmt.Errorf("hsm: init dev token: %w", err)
		}
	}

	ok := false
	defer func() {
		if !ok { // leave nothing half-made behind, so a retry is not refused
			os.RemoveAll(tokens)
			os.Remove(cfg.SoftHSMConf)
			os.Remove(cfg.PINFile)
			os.Remove(soPINFile)
		}
	}()

	if err := os.Mkdir(tokens, 0o700); err != nil {
		return Config{}, fmt.Errorf("hsm: init dev token: %w", err)
	}
	conf := fmt.Sprintf("# DEVELOPMENT ONLY token made by dataprep hsm.InitDev\n"+
		"directories.tokendir = %s\n"+
		"objectstore.backend = file\n"+
		"log.level = ERROR\n"+
		"slots.removable = false\n", tokens)
	if err := writeNew(cfg.SoftHSMConf, []byte(conf)); err != nil {
		return Config{}, err
	}
	soPIN, err := randomPIN()
	if err != nil {
		return Config{}, fmt.Errorf("hsm: init dev token: %w", err)
	}
	userPIN, err := randomPIN()
	if err != nil {
		return Config{}, fmt.Errorf("hsm: init dev token: %w", err)
	}
	if err := writeNew(soPINFile, []byte(soPIN+"\n")); err != nil {
		return Config{}, err
	}
	if err := writeNew(cfg.PINFile, []byte(userPIN+"\n")); err != nil {
		return Config{}, err
	}

	cmd := exec.Command(util, "--init-token", "--free", "--label", DevTokenLabel,
		"--so-pin", soPIN, "--pin", userPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+cfg.SoftHSMConf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		// softhsm2-util does not echo PINs, so its output is safe to show.
		return Config{}, fmt.Errorf("hsm: softhsm2-util --init-token: %w: %s", err, bytes.TrimSpace(out.Bytes()))
	}
	ok = true
	return cfg, nil
}

// writeNew creates path with mode 0600, refusing to replace anything.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("hsm: init dev token: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hsm: init dev token: write %s: %w", path, err)
	}
	return nil
}
