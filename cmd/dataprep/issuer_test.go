package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stretchr/testify/require"
)

// issuer is a bank on the other side: its gpg signing key in the world's
// GNUPGHOME and its ssh key for the drop.
type issuer struct {
	w      *world
	name   string
	email  string // gpg user id, to pick the key with -u
	sshKey string // private key file
}

// newIssuer makes the keys of a bank (not yet registered).
func (w *world) newIssuer(name string) *issuer {
	w.t.Helper()
	is := &issuer{w: w, name: name, email: "test-only-" + name + "@example.invalid"}
	w.gpg(nil, "--quick-gen-key", "Test issuer "+name+" <"+is.email+">", "ed25519", "sign", "never")
	is.sshKey = filepath.Join(w.dir, "ssh-"+name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test-only-"+name, "-f", is.sshKey).CombinedOutput()
	require.NoError(w.t, err, string(out))
	return is
}

// register asks the administrator to add the issuer (bootstrap: one admin).
func (is *issuer) register() string {
	w := is.w
	pub := filepath.Join(w.dir, is.name+"-signing.asc")
	require.NoError(w.t, os.WriteFile(pub, w.gpg(nil, "--armor", "--export", is.email), 0o644))
	return w.ok("alice", "issuer", "add", is.name, "--signing-key", pub, "--ssh-key", is.sshKey+".pub")
}

// dataRoomCert imports the data room's exported certificate into gpg and returns its fingerprint.
func (w *world) dataRoomCert() string {
	w.t.Helper()
	cert := w.ok("", "key", "export")
	i := strings.Index(cert, "-----BEGIN PGP PUBLIC KEY BLOCK-----")
	require.GreaterOrEqual(w.t, i, 0, cert)
	w.gpg([]byte(cert[i:]), "--import")
	var v map[string]string
	w.jsonOK("", &v, "key", "export")
	return v["fingerprint"]
}

// encrypt makes what a bank sends: signed by the issuer, encrypted to recipient.
func (is *issuer) encrypt(plain []byte, recipient string) []byte {
	return is.w.gpg(plain, "--sign", "--encrypt", "-u", is.email, "-r", recipient, "--output", "-")
}

// put uploads data as name to the issuer's incoming/ with the stock sftp client.
func (is *issuer) put(data []byte, name string) (string, error) {
	w := is.w
	local := filepath.Join(w.dir, "upload-"+name)
	require.NoError(w.t, os.WriteFile(local, data, 0o600))
	defer os.Remove(local)
	return is.sftp(fmt.Sprintf("cd incoming\nput %s %s\n", local, name))
}

// sftp runs a batch of sftp commands as this issuer against the drop.
func (is *issuer) sftp(batch string) (string, error) {
	w := is.w
	host, port, _ := strings.Cut(w.drop, ":")
	// The drop's port changes when the daemon restarts: pin its key for this one.
	kh := filepath.Join(w.dir, "known_hosts")
	pub, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(w.home, "keys", "drop-host-ed25519")).Output()
	require.NoError(w.t, err)
	require.NoError(w.t, os.WriteFile(kh, []byte(fmt.Sprintf("[%s]:%s %s", host, port, pub)), 0o600))
	bf := filepath.Join(w.dir, "batch-"+is.name)
	require.NoError(w.t, os.WriteFile(bf, []byte(batch), 0o600))
	cmd := exec.Command("sftp", "-F", "/dev/null", "-b", bf, "-P", port, "-i", is.sshKey,
		"-o", "UserKnownHostsFile="+kh, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		"-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", is.name+"@"+host)
	cmd.Env = w.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}
