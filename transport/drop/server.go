package drop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
)

// ErrServerClosed is returned by Server.Serve after Server.Close.
var ErrServerClosed = errors.New("drop: server closed")

const (
	dirIncoming = "incoming"
	dirOutbox   = "outbox"

	defaultMaxFileSize = 4 << 30
	defaultIdleTimeout = 15 * time.Minute

	// handshakeTimeout bounds key exchange plus authentication, so that a
	// client that connects and says nothing cannot hold a goroutine and a
	// socket forever.
	handshakeTimeout = 30 * time.Second
	// maxAuthTries is the number of failed authentications (not counting
	// the stock client's initial "none" probe) before the connection is cut.
	maxAuthTries = 3
	// maxSessionsPerConn bounds the session channels of one connection; the
	// stock client opens exactly one.
	maxSessionsPerConn = 4
	// maxOpenFiles bounds the files one connection holds open at once.
	maxOpenFiles = 16
)

// Server is the built-in SFTP drop. Each issuer logs in as itself with its
// registered key and is jailed in Root/<issuer>, where it may put files into
// incoming/ and get files from outbox/, and nothing else.
type Server struct {
	// Root is the drop root; issuer X's jail is Root/X with Root/X/incoming
	// (write only: put, list its own finished files) and Root/X/outbox (read
	// only: get, list). See EnsureIssuerDirs.
	Root string
	// HostKey is the server's private host key (see GenerateHostKey).
	HostKey ssh.Signer
	// Authorize maps an SSH login to an issuer: the login user must be the
	// issuer's name and key must be that issuer's registered key. Return an
	// error to refuse. The returned issuer must equal user.
	Authorize func(user string, key ssh.PublicKey) (issuer string, err error)
	// Arrived is called once per file when an upload into incoming/ is
	// closed after writing. path is the absolute path of the final file.
	// It runs before the client is told that its close succeeded, on the
	// client's connection: keep it short (record and queue the file).
	Arrived func(issuer, name, path string)
	// Refused is told of every refusal (failed authentication, path outside
	// the jail, link or symlink attempt, write to outbox, read of incoming,
	// bad name, file too large, aborted transfer, …) so that the daemon can
	// audit it. remote is the client's address. For failed logins issuer is
	// the claimed login name when it is a syntactically valid issuer name,
	// and empty otherwise. what names the attempted operation with its
	// paths quoted; both what and reason are safe to log (no control
	// characters).
	Refused func(issuer, remote, what, reason string)
	// MaxFileSize is the largest file an issuer may upload; writes past it
	// are refused and the upload is discarded. Default 4 GiB.
	MaxFileSize int64
	// IdleTimeout closes a logged-in connection that has sent nothing for
	// this long (PCI DSS 8.2.8 asks for 15 minutes at most). A transfer in
	// progress is never idle: the client sends data or window updates.
	// Default 15 minutes.
	IdleTimeout time.Duration
	// Log receives operational logs. The zero value logs nothing.
	Log zerolog.Logger

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	reserved  map[string]struct{} // issuer+"/"+name of uploads in flight
	perIssuer map[string]int      // logged-in connections per issuer
	wg        sync.WaitGroup
	sweepOnce sync.Once
}

// Serve accepts connections on l until Close is called, and then returns
// ErrServerClosed. Each connection is served in its own goroutine.
func (s *Server) Serve(l net.Listener) error {
	if s.Root == "" || s.HostKey == nil || s.Authorize == nil {
		return errors.New("drop: Server needs Root, HostKey and Authorize")
	}
	root, err := filepath.Abs(s.Root)
	if err != nil {
		return fmt.Errorf("drop: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return fmt.Errorf("drop: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("drop: root %s is not a directory", root)
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[net.Conn]struct{})
		s.reserved = make(map[string]struct{})
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	// Once per Server: a second Serve (another listener) must not sweep
	// away the first one's uploads in flight. Once.Do also holds any
	// concurrent Serve back from accepting until the sweep is done.
	s.sweepOnce.Do(func() { s.sweep(root) })
	cfg := s.sshConfig(root)

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or a transient error: wait
				// rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("drop: accept")
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("drop: accept: %w", err)
		}
		backoff = 0
		if !s.track(nc) {
			nc.Close()
			return ErrServerClosed
		}
		go s.handleConn(nc, cfg, root)
	}
}

// Close stops all listeners, closes every connection and waits until their
// goroutines have finished, so that partial uploads have been discarded when
// it returns.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	var err error
	for l := range s.listeners {
		if e := l.Close(); e != nil && err == nil && !errors.Is(e, net.ErrClosed) {
			err = e
		}
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	s.wg.Done()
}

// reserve claims a final name for one upload, so that two concurrent
// uploads of the same name cannot both pass the "does it exist" check.
func (s *Server) reserve(issuer, name string) bool {
	key := issuer + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.reserved[key]; ok {
		return false
	}
	s.reserved[key] = struct{}{}
	return true
}

func (s *Server) release(issuer, name string) {
	s.mu.Lock()
	delete(s.reserved, issuer+"/"+name)
	s.mu.Unlock()
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return defaultIdleTimeout
}

// idleConn gives every read, once idle is set, a deadline of idle from
// now: a client that sends nothing for that long gets a read error, and
// the SSH connection closes with it.
type idleConn struct {
	net.Conn
	idle     atomic.Int64 // time.Duration; 0 until login
	timedOut atomic.Bool
}

func (c *idleConn) Read(p []byte) (int, error) {
	if d := time.Duration(c.idle.Load()); d > 0 {
		c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	n, err := c.Conn.Read(p)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && c.idle.Load() > 0 {
		c.timedOut.Store(true)
	}
	return n, err
}

func (s *Server) maxFileSize() int64 {
	if s.MaxFileSize > 0 {
		return s.MaxFileSize
	}
	return defaultMaxFileSize
}

func (s *Server) refused(issuer, remote, what, reason string) {
	// A refused name or path may itself be a card number (an issuer naming
	// files after cards): it must not reach the log or the audit entry.
	what, reason = withholdPAN(what), withholdPAN(reason)
	s.Log.Warn().Str("issuer", issuer).Str("remote", remote).Str("what", what).Str("reason", reason).Msg("drop: refused")
	if s.Refused != nil {
		s.Refused(issuer, remote, what, reason)
	}
}

// sweep removes temporary upload files left behind by a previous process
// that died mid-upload: they are never complete, and nobody else may use
// the .part- prefix (issuers cannot create dot files). Two Servers must
// therefore not share a Root.
func (s *Server) sweep(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		s.Log.Warn().Err(err).Msg("drop: sweep")
		return
	}
	for _, e := range entries {
		if !e.IsDir() || checkIssuer(e.Name()) != nil {
			continue
		}
		r, err := os.OpenRoot(filepath.Join(root, e.Name(), dirIncoming))
		if err != nil {
			continue
		}
		if f, err := r.Open("."); err == nil {
			names, _ := f.Readdirnames(-1)
			f.Close()
			for _, n := range names {
				if isTempName(n) {
					if err := r.Remove(n); err == nil {
						s.Log.Info().Str("issuer", e.Name()).Str("temp", n).Msg("drop: removed stale partial upload")
					}
				}
			}
		}
		r.Close()
	}
}

const tempPrefix = ".part-"

func isTempName(n string) bool {
	if !strings.HasPrefix(n, tempPrefix) || len(n) != len(tempPrefix)+32 {
		return false
	}
	for _, c := range n[len(tempPrefix):] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

const permIssuer = "dataprep-issuer"

func (s *Server) sshConfig(root string) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		MaxAuthTries: maxAuthTries,
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			user := c.User()
			if checkIssuer(user) != nil {
				return nil, fmt.Errorf("unknown user %q", user)
			}
			issuer, err := s.Authorize(user, key)
			if err != nil {
				return nil, err
			}
			// Defence in depth: whatever Authorize says, a login only
			// ever opens the jail of the user it logged in as.
			if issuer != user {
				return nil, fmt.Errorf("key is registered to issuer %q, not to user %q", issuer, user)
			}
			return &ssh.Permissions{Extensions: map[string]string{
				permIssuer:    issuer,
				"fingerprint": ssh.FingerprintSHA256(key),
			}}, nil
		},
		AuthLogCallback: func(c ssh.ConnMetadata, method string, err error) {
			if err == nil || method == "none" {
				// "none" is how every client asks which methods exist.
				return
			}
			issuer := c.User()
			if checkIssuer(issuer) != nil {
				issuer = ""
			}
			s.refused(issuer, c.RemoteAddr().String(), "auth "+method+" as "+quote(c.User()), quote(err.Error()))
		},
		ServerVersion: "SSH-2.0-dataprep-drop",
	}
	cfg.AddHostKey(s.HostKey)
	return cfg
}

// quote makes client-chosen text safe for logs and the audit trail.
func quote(s string) string {
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// maxHandshakes bounds connections in their SSH handshake across the server.
const maxHandshakes = 32

var handshakeSlots = make(chan struct{}, maxHandshakes)

func (s *Server) handleConn(nc net.Conn, cfg *ssh.ServerConfig, root string) {
	defer s.untrack(nc)
	defer nc.Close()
	remote := nc.RemoteAddr().String()
	log := s.Log.With().Str("remote", remote).Logger()

	// At most maxHandshakes connections may be in their handshake at once
	// (sshd's MaxStartups): a flood of slow or failing clients costs a
	// bounded number of goroutines and key exchanges, and the rest wait or
	// are dropped.
	select {
	case handshakeSlots <- struct{}{}:
	case <-time.After(handshakeTimeout):
		log.Info().Msg("drop: too many handshakes in progress; connection dropped")
		return
	}
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	ic := &idleConn{Conn: nc}
	sconn, chans, reqs, err := ssh.NewServerConn(ic, cfg)
	<-handshakeSlots
	if err != nil {
		log.Info().Str("error", withholdPAN(quote(err.Error()))).Msg("drop: handshake failed")
		return
	}
	defer sconn.Close()
	// From now on every read waits at most the idle timeout; the read the
	// SSH layer has already started gets its deadline here.
	ic.idle.Store(int64(s.idleTimeout()))
	nc.SetWriteDeadline(time.Time{})
	nc.SetReadDeadline(time.Now().Add(s.idleTimeout()))

	issuer := sconn.Permissions.Extensions[permIssuer]
	log = log.With().Str("issuer", issuer).Logger()
	// A bank needs a few connections at once, not hundreds: each one holds
	// handles, temp files and name reservations.
	if !s.enter(issuer) {
		s.refused(issuer, remote, "login", fmt.Sprintf("more than %d connections of this issuer at once", maxConnsPerIssuer))
		return
	}
	defer s.leave(issuer)
	j, err := openJail(s, root, issuer, remote, log)
	if err != nil {
		s.refused(issuer, remote, "login", "jail unavailable: "+err.Error())
		return
	}
	defer j.close()
	log.Info().Str("key", sconn.Permissions.Extensions["fingerprint"]).Msg("drop: login")

	go s.globalRequests(reqs, issuer, remote)

	var sessions sync.WaitGroup
	var open atomic.Int32 // sessions open at once
	for nch := range chans {
		if t := nch.ChannelType(); t != "session" {
			s.refused(issuer, remote, "channel "+quote(t), "only the sftp subsystem is served")
			nch.Reject(ssh.Prohibited, "only sftp is allowed")
			continue
		}
		if open.Add(1) > maxSessionsPerConn {
			open.Add(-1)
			nch.Reject(ssh.ResourceShortage, "too many sessions")
			continue
		}
		ch, creqs, err := nch.Accept()
		if err != nil {
			open.Add(-1)
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			defer open.Add(-1)
			s.session(j, ch, creqs)
		}()
	}
	// chans is closed once the connection is gone; the sessions notice too.
	sessions.Wait()
	if ic.timedOut.Load() {
		log.Info().Dur("idle", s.idleTimeout()).Msg("drop: idle connection closed")
	}
	log.Info().Msg("drop: logout")
}

func (s *Server) globalRequests(reqs <-chan *ssh.Request, issuer, remote string) {
	for r := range reqs {
		switch r.Type {
		case "keepalive@openssh.com", "no-more-sessions@openssh.com":
		default:
			s.refused(issuer, remote, "global request "+quote(r.Type), "port forwarding and other requests are not allowed")
		}
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
}

// session serves one session channel: it answers exactly one request, a
// "subsystem" request for "sftp", and refuses shells, commands, agent and
// X11 forwarding and terminals.
func (s *Server) session(j *jail, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	done := make(chan struct{})
	started := false
	for r := range reqs {
		ok := false
		switch r.Type {
		case "subsystem":
			var p struct{ Name string }
			if err := ssh.Unmarshal(r.Payload, &p); err == nil && p.Name == "sftp" && !started {
				ok, started = true, true
				go func() {
					defer close(done)
					s.serveSFTP(j, ch)
				}()
			} else {
				s.refused(j.issuer, j.remote, "subsystem "+quote(p.Name), "only the sftp subsystem is served")
			}
		case "env", "window-change", "signal":
			// Harmless chatter of ordinary clients; refused without audit.
		default:
			s.refused(j.issuer, j.remote, "session request "+quote(r.Type), "only the sftp subsystem is served")
		}
		if r.WantReply {
			r.Reply(ok, nil)
		}
	}
	if started {
		<-done
	}
}

func (s *Server) serveSFTP(j *jail, ch ssh.Channel) {
	h := &handlers{j: j}
	rs := sftp.NewRequestServer(ch, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h},
		sftp.WithStartDirectory("/"))
	err := rs.Serve()
	status := uint32(0)
	if err != nil && !errors.Is(err, fs.ErrClosed) && !errors.Is(err, io.EOF) {
		j.log.Debug().Err(err).Msg("drop: sftp session ended")
		status = 1
	}
	// Like sshd: report how the subsystem ended before closing the channel.
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
	rs.Close()
	ch.Close()
}

// maxConnsPerIssuer bounds one issuer's logged-in connections.
const maxConnsPerIssuer = 8

func (s *Server) enter(issuer string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIssuer == nil {
		s.perIssuer = map[string]int{}
	}
	if s.perIssuer[issuer] >= maxConnsPerIssuer {
		return false
	}
	s.perIssuer[issuer]++
	return true
}

func (s *Server) leave(issuer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIssuer[issuer]--; s.perIssuer[issuer] <= 0 {
		delete(s.perIssuer, issuer)
	}
}
