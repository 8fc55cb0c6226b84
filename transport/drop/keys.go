package drop

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// ErrKeyExposed is returned by HostKeyFromFile for a private key file that
// others than its owner may read or write: like sshd, refuse to use it.
var ErrKeyExposed = errors.New("drop: host key file is accessible by group or others")

// HostKeyFromFile loads the server's private host key (OpenSSH or PEM format,
// unencrypted). The file must not be readable by group or others.
func HostKeyFromFile(path string) (ssh.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("drop: host key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("drop: host key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("drop: host key %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v", ErrKeyExposed, path, fi.Mode().Perm())
	}
	// A host key is a few hundred bytes; do not read an arbitrary file whole.
	const maxKeyFile = 64 << 10
	if fi.Size() > maxKeyFile {
		return nil, fmt.Errorf("drop: host key %s: too large", path)
	}
	buf := make([]byte, fi.Size())
	if _, err := f.ReadAt(buf, 0); err != nil {
		return nil, fmt.Errorf("drop: host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(buf)
	if err != nil {
		return nil, fmt.Errorf("drop: host key %s: %w", path, err)
	}
	return signer, nil
}

// GenerateHostKey creates a new Ed25519 host key at path (mode 0600, OpenSSH
// format) and returns it. It refuses to overwrite an existing file: replacing
// a host key makes every issuer's pinned known_hosts entry fail, which must
// be a deliberate act.
func GenerateHostKey(path string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("drop: generate host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "dataprep drop host key")
	if err != nil {
		return nil, fmt.Errorf("drop: generate host key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("drop: write host key: %w", err)
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("drop: write host key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("drop: write host key: %w", err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("drop: write host key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("drop: host key: %w", err)
	}
	return signer, nil
}

// EnsureIssuerDirs creates root/issuer/incoming and root/issuer/outbox with
// mode 0700 (and root itself if it is missing). Existing directories are
// kept but tightened to 0700; a symlink or a non-directory in their place is
// an error, since it would take the issuer's jail somewhere else.
func EnsureIssuerDirs(root, issuer string) error {
	if err := checkIssuer(issuer); err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	defer r.Close()
	for _, dir := range []string{issuer, filepath.Join(issuer, dirIncoming), filepath.Join(issuer, dirOutbox)} {
		if err := r.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("drop: %w", err)
		}
		fi, err := r.Lstat(dir)
		if err != nil {
			return fmt.Errorf("drop: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("drop: %s: not a directory (%v)", filepath.Join(root, dir), fi.Mode().Type())
		}
		if fi.Mode().Perm() != 0o700 {
			if err := r.Chmod(dir, 0o700); err != nil {
				return fmt.Errorf("drop: %w", err)
			}
		}
	}
	return nil
}
