package pipeline

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/hsm"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/records"
	"github.com/dataprep/dataprep/pipeline/state"
	"github.com/dataprep/dataprep/transport/drop"
)

// Daemon is a running data room: the service plus what feeds it.
type Daemon struct {
	Svc   *Service
	hsm   *hsm.HSM
	drop  *drop.Server
	dropL net.Listener
	home  config.Home
}

// DaemonOptions override the configuration for one run.
type DaemonOptions struct {
	DropListen    string
	MetricsListen string
	Log           zerolog.Logger
}

// hsmConfig resolves the HSM section, relative paths against the home.
func hsmConfig(h config.Home, c config.HSM) hsm.Config {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(h.Dir, p)
	}
	return hsm.Config{Module: c.Module, TokenLabel: c.TokenLabel, PINFile: abs(c.PINFile), SoftHSMConf: abs(c.SoftHSMConf)}
}

// OpenDaemon opens the store, the audit log, the HSM and the data room key,
// and recovers jobs a crash left behind. It serves nothing yet.
func OpenDaemon(h config.Home, o DaemonOptions) (*Daemon, error) {
	cfg, err := config.Load(h)
	if err != nil {
		return nil, err
	}
	if o.DropListen != "" {
		if _, _, err := net.SplitHostPort(o.DropListen); err != nil {
			return nil, fmt.Errorf("%w: --drop-listen %q: want HOST:PORT", ErrBadInput, o.DropListen)
		}
		cfg.Drop.Listen = o.DropListen
	}
	if o.MetricsListen != "" {
		cfg.Metrics.Listen = o.MetricsListen
	}
	ckptKeys, err := checkpointKeys(h)
	if err != nil {
		return nil, err
	}
	al, err := audit.Open(h.Audit(), ckptKeys...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w (check it with 'dataprep audit verify'; the daemon does not start on a broken log)", err)
	}
	st, err := state.Open(h.State())
	if err != nil {
		al.Close()
		return nil, err
	}
	d := &Daemon{home: h}
	fail := func(err error) (*Daemon, error) {
		al.Append(audit.Entry{Event: "daemon.start", Outcome: "failed", Detail: map[string]string{"reason": err.Error()}})
		if d.hsm != nil {
			d.hsm.Close()
		}
		st.Close()
		al.Close()
		return nil, err
	}
	d.hsm, err = hsm.Open(hsmConfig(h, cfg.HSM))
	if err != nil {
		return fail(fmt.Errorf("HSM: %w", err))
	}
	primary, err := d.hsm.FindKey(cfg.HSM.PrimaryKey)
	if err != nil {
		return fail(fmt.Errorf("HSM key %q: %w", cfg.HSM.PrimaryKey, err))
	}
	enc, err := d.hsm.FindKey(cfg.HSM.EncryptKey)
	if err != nil {
		return fail(fmt.Errorf("HSM key %q: %w", cfg.HSM.EncryptKey, err))
	}
	ckpt, err := d.hsm.FindKey(cfg.HSM.AuditKey)
	if err != nil {
		return fail(fmt.Errorf("HSM key %q: %w", cfg.HSM.AuditKey, err))
	}
	host, _ := os.Hostname()
	if err := al.SetCheckpointer(ckpt, "dataprep@"+host); err != nil {
		return fail(fmt.Errorf("audit checkpoints: %w", err))
	}
	pol := audit.DefaultPolicy()
	pol.Every, pol.Interval = cfg.Audit.CheckpointEvery, cfg.Audit.CheckpointInterval.Duration
	pol.MaxSegmentSize, pol.MaxSegmentAge = cfg.Audit.SegmentMaxBytes, cfg.Audit.SegmentMaxAge.Duration
	pol.OnError = func(err error) { o.Log.Error().Err(err).Msg("audit checkpoint failed; retrying") }
	if err := al.SetPolicy(pol); err != nil {
		return fail(fmt.Errorf("audit policy: %w", err))
	}
	cert, err := os.ReadFile(h.Cert())
	if err != nil {
		return fail(fmt.Errorf("data room certificate: %w", err))
	}
	ent, err := pgp.AttachHSM(cert, primary, enc)
	if err != nil {
		return fail(fmt.Errorf("data room certificate does not match the HSM keys: %w", err))
	}
	d.Svc = &Service{Home: h, Cfg: cfg, Store: st, Audit: al, DataRoom: ent, Log: o.Log, HSM: d.hsm, started: time.Now().UTC()}
	// The configuration's hash goes into the start entry: a change between
	// two runs shows in the audit log as a different hash.
	cfgSum, _, _ := sha256File(h.Config())
	if err := d.Svc.record(audit.Entry{Event: "daemon.start", Outcome: "ok", Detail: map[string]string{
		"drop_listen": cfg.Drop.Listen, "key": pgp.Fingerprint(ent), "hsm_token": cfg.HSM.TokenLabel, "config_sha256": cfgSum}}); err != nil {
		return fail(err)
	}
	// Seal what the previous run left unsealed, and prove the key signs.
	if _, err := al.Checkpoint(); err != nil {
		return fail(fmt.Errorf("audit checkpoint at start: %w", err))
	}
	if fp := failpoint.Armed(); fp != "" {
		o.Log.Warn().Str("failpoint", fp).Msg("DATAPREP_FAILPOINT is set: this daemon will kill itself there (crash tests only)")
	}
	if err := d.Svc.Recover(context.Background()); err != nil {
		return fail(err)
	}
	return d, nil
}

// Serve runs the drop and the control socket until ctx ends, then shuts
// down gracefully: stop taking work, let preparations finish, audit the stop.
func (d *Daemon) Serve(ctx context.Context, serveControl func(net.Listener) error, closeControl func(context.Context) error) error {
	s := d.Svc
	hostKey, err := drop.HostKeyFromFile(d.home.DropHostKey())
	if err != nil {
		return fmt.Errorf("drop host key: %w", err)
	}
	d.drop = &drop.Server{
		Root:        d.home.DropRoot(),
		HostKey:     hostKey,
		Authorize:   s.authorizeIssuer,
		Arrived:     s.Arrived,
		Refused:     s.dropRefused,
		MaxFileSize: s.Cfg.Drop.MaxFileSize,
		IdleTimeout: s.Cfg.Drop.IdleTimeout.Duration,
		Log:         s.Log.With().Str("component", "drop").Logger(),
	}
	d.dropL, err = net.Listen("tcp", s.Cfg.Drop.Listen)
	if err != nil {
		return fmt.Errorf("drop: listening on %s: %w (another daemon? use --drop-listen)", s.Cfg.Drop.Listen, err)
	}
	ctl, err := listenSocket(d.home.Socket())
	if err != nil {
		d.dropL.Close()
		return err
	}
	s.dropAddr = d.dropL.Addr().String()
	errc := make(chan error, 4)
	if s.Cfg.Metrics.Listen != "" {
		go func() {
			if err := s.ServeMetrics(ctx, s.Cfg.Metrics.Listen); err != nil {
				errc <- fmt.Errorf("metrics on %s: %w", s.Cfg.Metrics.Listen, err)
			}
		}()
	}
	go func() { errc <- d.drop.Serve(d.dropL) }()
	go func() { errc <- serveControl(ctl) }()
	if s.Cfg.Drop.WatchDir != "" {
		w := &drop.Watcher{Dirs: s.watchDirs(), Arrived: s.ArrivedWatched, Log: s.Log.With().Str("component", "watch").Logger()}
		go func() { errc <- w.Run(ctx) }()
	}
	go s.pruneLoop(ctx)
	s.scanIncoming()
	s.Log.Info().Str("drop", d.dropL.Addr().String()).Str("socket", d.home.Socket()).Msg("dataprep daemon serving")

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	d.drop.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	closeControl(sctx)
	os.Remove(d.home.Socket())
	s.Wait()
	return serveErr
}

// DropAddr is where the drop listens (after Serve started).
func (d *Daemon) DropAddr() string {
	if d.dropL == nil {
		return ""
	}
	return d.dropL.Addr().String()
}

// Close audits the stop and releases the log, the store and the HSM — the
// log first, so that its closing checkpoint is signed while the HSM is open.
func (d *Daemon) Close() error {
	d.Svc.record(audit.Entry{Event: "daemon.stop", Outcome: "ok"})
	err := d.Svc.Audit.Close()
	d.Svc.Store.Close()
	d.hsm.Close()
	return err
}

// checkpointKeys are the public keys whose checkpoints the log trusts.
func checkpointKeys(h config.Home) ([]crypto.PublicKey, error) {
	raw, err := os.ReadFile(h.CheckpointKey())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	k, err := audit.ParsePublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.CheckpointKey(), err)
	}
	return []crypto.PublicKey{k}, nil
}

// CheckpointKeys is checkpointKeys for the CLI's offline verify.
func CheckpointKeys(h config.Home) ([]crypto.PublicKey, error) { return checkpointKeys(h) }

// listenSocket opens the control socket, replacing a stale one left by a
// crash but never one a live daemon answers on.
func listenSocket(path string) (net.Listener, error) {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: a daemon is already running", path)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: a non-socket file is in the way", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	// 0660: the daemon's group may run the CLI; the home itself is 0700/0750.
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// authorizeIssuer admits an SSH login only for a registered issuer whose
// registered key it is.
func (s *Service) authorizeIssuer(user string, key ssh.PublicKey) (string, error) {
	iss, err := s.Store.Issuer(user)
	if err != nil {
		return "", errors.New("unknown issuer")
	}
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(iss.SSHKey))
	if err != nil {
		return "", errors.New("issuer has no usable ssh key")
	}
	if want.Type() != key.Type() || string(want.Marshal()) != string(key.Marshal()) {
		return "", errors.New("key is not the issuer's registered key")
	}
	return iss.Name, nil
}

// dropRefused audits what the drop refused. Failed logins come before
// authentication, so anyone can cause them: per remote host, one entry a
// minute carries the count of the ones it stands for, and the rest go to
// the log only. A flood cannot fill the audit log (and fail it closed).
func (s *Service) dropRefused(issuer, remote, what, reason string) {
	if strings.HasPrefix(what, "auth ") {
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		if n, ok := s.refusals.hold(host, s.now()); !ok {
			s.Log.Warn().Str("remote", remote).Str("what", what).Msg("drop: refused login (audited in the next summary)")
			return
		} else if n > 0 {
			reason = fmt.Sprintf("%s (and %d more refused logins from %s in the last minute)", reason, n, host)
		}
	}
	s.record(audit.Entry{Event: "drop.refused", Outcome: "refused", Issuer: issuer,
		Detail: map[string]string{"remote": remote, "what": what, "reason": reason}})
}

// refusalGate lets one audited refusal per host and minute through and
// counts the ones it holds back.
type refusalGate struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func (g *refusalGate) hold(host string, now time.Time) (held int, audit bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.last == nil {
		g.last, g.held = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := g.last[host]; ok && now.Sub(t) < time.Minute {
		g.held[host]++
		return 0, false
	}
	if len(g.last) > 10000 { // bounded memory under a spread-out flood
		clear(g.last)
	}
	held = g.held[host]
	g.last[host], g.held[host] = now, 0
	return held, true
}

// scanIncoming takes files that arrived while the daemon was down.
func (s *Service) scanIncoming() {
	is, err := s.Store.Issuers()
	if err != nil {
		s.Log.Error().Err(err).Msg("cannot list issuers for the startup scan")
		return
	}
	for _, iss := range is {
		// A crash between registering an issuer and making its drop leaves
		// the directories missing: make them (idempotent).
		if err := drop.EnsureIssuerDirs(s.Home.DropRoot(), iss.Name); err != nil {
			s.Log.Error().Err(err).Str("issuer", iss.Name).Msg("cannot make the issuer's drop directories")
		}
		dir := s.Home.Incoming(iss.Name)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			s.Arrived(iss.Name, e.Name(), filepath.Join(dir, e.Name()))
		}
	}
}

func (s *Service) watchDirs() map[string]string {
	out := map[string]string{}
	is, _ := s.Store.Issuers()
	for _, iss := range is {
		dir := filepath.Join(s.Cfg.Drop.WatchDir, iss.Name)
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			out[iss.Name] = dir
		}
	}
	return out
}

// pruneLoop removes, once a day, closed audit segments whose every entry is
// past its retention (failures 3 months, destructions 18, the rest 24 by
// default). The log stays verifiable: the first kept segment starts from a
// signed checkpoint, and the prune itself is an audit entry.
func (s *Service) pruneLoop(ctx context.Context) {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		now := time.Now().UTC()
		horizon := records.Retention(records.KindFailure, s.Cfg.Retention) // the shortest: nothing younger goes
		res, err := s.Audit.Prune(now.Add(-horizon), func(e audit.Entry) bool { return records.Keep(e, now, s.Cfg.Retention) })
		if err != nil {
			s.Log.Error().Err(err).Msg("audit retention: prune failed")
		} else if len(res.Removed) > 0 {
			s.Log.Info().Strs("segments", res.Removed).Msg("audit retention: pruned")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
