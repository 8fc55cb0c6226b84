package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/people"
	"github.com/dataprep/dataprep/pipeline/state"
)

var jobIDRE = regexp.MustCompile(`^J[0-9]{6}$`)

func checkJobID(id string) error {
	if !jobIDRE.MatchString(id) {
		// The value is not repeated: a card number typed by mistake must not
		// travel back to the terminal or into the audit entry of the refusal.
		return fmt.Errorf("%w: a job id is J followed by 6 digits, as 'dataprep job list' shows", ErrBadInput)
	}
	return nil
}

// Arrived takes a finished upload from an issuer's drop: it hashes it,
// refuses a duplicate, moves it into the spool and records a received job.
// It never fails the daemon: every problem is audited and reported.
func (s *Service) Arrived(issuer, name, path string) {
	s.arrivals.Lock()
	defer s.arrivals.Unlock()
	if audit.ContainsPAN(name) {
		// The drop refuses such names; a watched directory might not. The
		// name must not reach the store, the log or a report.
		q := filepath.Join(s.Home.Quarantine(), fmt.Sprintf("withheld-name-%s", s.now().Format("20060102T150405.000000000")))
		if moveFile(path, q) != nil {
			os.Remove(path)
		}
		s.refuse(audit.Entry{Event: "file.received", Issuer: issuer, Detail: map[string]string{"file": "(withheld)", "quarantine": filepath.Base(q)}},
			errors.New("the file name looks like a card number; name files without cardholder data"))
		return
	}
	log := s.Log.With().Str("issuer", issuer).Str("file", name).Logger()
	sum, size, err := sha256File(path)
	if err != nil {
		log.Error().Err(err).Msg("cannot read arrived file")
		s.record(audit.Entry{Event: "file.received", Outcome: "failed", Issuer: issuer, Detail: map[string]string{"file": name, "reason": "unreadable: " + err.Error()}})
		return
	}
	failpoint.Hit("arrival.hashed")
	e := audit.Entry{Event: "file.received", Issuer: issuer, Detail: map[string]string{"file": name, "sha256": sum, "size": fmt.Sprint(size)}}
	j, err := s.Store.CreateJob(state.Job{Issuer: issuer, FileName: name, SHA256: sum, Size: size, Received: s.now(), State: state.Received, Updated: s.now()})
	if errors.Is(err, state.ErrDuplicate) {
		if s.adoptAfterCrash(sum, path) {
			return
		}
		q := filepath.Join(s.Home.Quarantine(), fmt.Sprintf("duplicate-%s-%s", s.now().Format("20060102T150405.000000000"), name))
		if merr := moveFile(path, q); merr != nil {
			os.Remove(path)
		}
		e.Event = "file.duplicate"
		s.metrics().Files.WithLabelValues("duplicate").Inc()
		s.refuse(e, err)
		s.report(issuer, "duplicate-"+sum[:16], fmt.Sprintf("File %s (SHA-256 %s, %d bytes) was refused: %v.\nThe same bytes were received before; nothing was processed. If this was meant to be a new file, re-export it.\n", name, sum, size, err))
		return
	}
	if err != nil {
		log.Error().Err(err).Msg("cannot record arrived file")
		s.record(audit.Entry{Event: "file.received", Outcome: "failed", Issuer: issuer, Detail: map[string]string{"file": name, "reason": err.Error()}})
		return
	}
	failpoint.Hit("arrival.recorded")
	e.Job, e.Outcome = j.ID, "ok"
	if err := s.record(e); err != nil {
		// Fail closed: without an audit entry the job must not exist.
		s.Store.UpdateJob(j.ID, func(j *state.Job) error {
			j.State, j.Reason = state.Rejected, "audit log unavailable at arrival"
			return nil
		})
		return
	}
	failpoint.Hit("arrival.audited")
	if err := moveFile(path, s.spoolPath(j.ID)); err != nil {
		s.rejectJob(j.ID, "could not move the file into the spool: "+err.Error(), path, nil, state.Counts{}, false)
		return
	}
	s.metrics().Files.WithLabelValues("received").Inc()
	log.Info().Str("job", j.ID).Str("sha256", sum).Int64("size", size).Msg("file received")
}

// adoptAfterCrash finishes an arrival that a crash cut between recording the
// job and moving the file: the job exists, its spool file does not.
func (s *Service) adoptAfterCrash(sum, path string) bool {
	jobs, err := s.Store.Jobs()
	if err != nil {
		return false
	}
	for _, j := range jobs {
		if j.SHA256 != sum || j.State != state.Received {
			continue
		}
		if _, err := os.Stat(s.spoolPath(j.ID)); !errors.Is(err, os.ErrNotExist) {
			return false
		}
		if moveFile(path, s.spoolPath(j.ID)) == nil {
			// The crash may have come before the arrival's audit entry: write it now.
			s.record(audit.Entry{Event: "file.received", Outcome: "ok", Job: j.ID, Issuer: j.Issuer,
				Detail: map[string]string{"file": j.FileName, "sha256": j.SHA256, "size": fmt.Sprint(j.Size), "recovered": "arrival finished after a restart"}})
			return true
		}
	}
	return false
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reportText keeps report lines to printable text: a reason never starts
// with a spreadsheet formula character and holds no control characters.
func reportText(reason string, err error) string {
	if reason == "" && err != nil {
		reason = err.Error()
	}
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, reason)
	if reason != "" && strings.ContainsRune("=+-@", rune(reason[0])) {
		reason = "'" + reason
	}
	return reason
}

func (s *Service) spoolPath(job string) string { return filepath.Join(s.Home.Received(), job+".pgp") }
func (s *Service) quarantinePath(job string) string {
	return filepath.Join(s.Home.Quarantine(), job+".pgp")
}

// StartJob asks for a job to be prepared for a machine; a second person
// approves. The machine is fixed now because its layout shapes the output and
// its key encrypts it; machine may be empty when exactly one is registered.
func (s *Service) StartJob(c Caller, id, machine string) (Outcome, error) {
	e := audit.Entry{Event: "request.create", Actor: c.Name, OSUser: c.OSUser, Job: id, Detail: map[string]string{"action": ActStartJob, "target": id}}
	// The role first: a role that may not ask learns nothing else.
	if err := mayRequest(c, ActStartJob); err != nil {
		return Outcome{}, s.refuse(e, err)
	}
	if err := checkJobID(id); err != nil {
		e.Job, e.Detail["target"] = "", ""
		return Outcome{}, s.refuse(e, err)
	}
	j, err := s.Store.Job(id)
	if errors.Is(err, state.ErrNotFound) {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no job %s", ErrBadInput, id))
	} else if err != nil {
		return Outcome{}, err
	}
	e.Issuer = j.Issuer
	if j.State != state.Received {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: job %s is %s; only a received job can be started", ErrBadState, id, j.State))
	}
	if n := s.recentCryptoFailures(j.Issuer); n >= s.Cfg.Limits.MaxCryptoFailuresPerHour {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: %d files of issuer %s failed decryption or verification in the last hour; starts for it are held for an hour (design: rate-limit decryption failures) — call the bank", ErrForbidden, n, j.Issuer))
	}
	if rid, ok := s.pendingFor(ActStartJob, id); ok {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: request %s already waits to start job %s", ErrBadState, rid, id))
	}
	if rid, ok := s.pendingFor(ActDeleteJob, id); ok {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: request %s waits to delete job %s: decide it first", ErrBadState, rid, id))
	}
	if machine == "" {
		ms, err := s.Store.Machines()
		if err != nil {
			return Outcome{}, err
		}
		switch len(ms) {
		case 0:
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: no machine is registered: an administrator adds one with 'dataprep machine add'", ErrBadState))
		case 1:
			machine = ms[0].Name
		default:
			return Outcome{}, s.refuse(e, fmt.Errorf("%w: several machines are registered: say which with --machine NAME", ErrBadInput))
		}
	}
	if _, err := s.Store.Machine(machine); err != nil {
		return Outcome{}, s.refuse(e, fmt.Errorf("%w: no machine %s", ErrBadInput, shown(machine)))
	}
	e.Machine = machine
	return s.ask(c, ActStartJob, id, map[string]string{"machine": machine})
}

func (s *Service) doStartJob(r state.Request, approver string) (string, error) {
	j, err := s.Store.Job(r.Target)
	if err != nil {
		return "", err
	}
	if j.State != state.Received {
		return "", fmt.Errorf("%w: job %s is %s; only a received job can be started", ErrBadState, j.ID, j.State)
	}
	// Audit first: a job anyone sees preparing has its decrypt entry.
	if err := s.record(audit.Entry{Event: "job.decrypt.start", Outcome: "ok", Actor: r.Requester, Approver: approver, Request: r.ID,
		Job: j.ID, Issuer: j.Issuer, Machine: r.Params["machine"], Detail: map[string]string{"sha256": j.SHA256}}); err != nil {
		return "", err
	}
	failpoint.Hit("prepare.started")
	j, err = s.Store.UpdateJob(r.Target, func(j *state.Job) error {
		if err := advance(j, state.Preparing); err != nil {
			return err
		}
		j.StartReq, j.StartedBy, j.Approver, j.Updated = r.ID, r.Requester, approver, s.now()
		j.Machine = r.Params["machine"]
		return nil
	})
	if err != nil {
		return "", err
	}
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		s.prepare(j)
	}()
	return fmt.Sprintf("job %s is preparing; 'dataprep job show %s' follows it", j.ID, j.ID), nil
}

// rejectReason turns a decrypt/verify failure into the one line the issuer,
// the operator and the audit log see. Crypto failures collapse to fixed texts:
// nothing from inside the RSA or symmetric layers is echoed (no padding oracle).
func rejectReason(err error) string {
	switch {
	case errors.Is(err, pgp.ErrNotForUs):
		return "not encrypted to this data room's key: encrypt to the certificate from 'dataprep key export'"
	case errors.Is(err, pgp.ErrUnsigned):
		return "not signed: sign the file with the issuer's registered key (gpg --sign --encrypt)"
	case errors.Is(err, pgp.ErrWrongSigner):
		return "signed by a key that is not this issuer's registered signing key"
	case errors.Is(err, pgp.ErrWeakHash):
		return "signed with a hash this data room refuses (MD5, SHA-1, RIPEMD-160): sign with SHA-256 or better"
	case errors.Is(err, pgp.ErrBadSignature):
		return "the signature does not match the content"
	case errors.Is(err, pgp.ErrTooLarge):
		return "the decrypted content is larger than the configured limit (possible compression bomb)"
	case errors.Is(err, pgp.ErrWeakCipher):
		return "encrypted with a cipher this data room refuses (3DES/CAST5): re-encrypt to the current certificate, AES-256"
	case errors.Is(err, pgp.ErrTrailingData):
		return "the file holds more than one OpenPGP message or data after its end: upload one gpg --sign --encrypt file"
	case errors.Is(err, pgp.ErrCorrupt):
		return "the file is corrupt, truncated or was changed after encryption"
	}
	return "the file could not be processed"
}

// rejectJob quarantines a job's file, reports to the issuer and audits.
// The order: quarantine, audit, then the state anyone can see, so that a
// job shown as rejected always has its audit entry.
func (s *Service) rejectJob(id, reason, file string, rejects []card.RecordError, counts state.Counts, crypto bool) {
	j, err := s.Store.Job(id)
	if err != nil {
		s.Log.Error().Err(err).Str("job", id).Msg("cannot reject: job not found")
		return
	}
	if file == "" {
		file = s.spoolPath(id)
	}
	if err := moveFile(file, s.quarantinePath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.Log.Error().Err(err).Str("job", id).Msg("cannot quarantine")
	}
	failpoint.Hit("reject.marked")
	if err := s.record(audit.Entry{Event: "job.rejected", Outcome: "failed", Job: id, Issuer: j.Issuer, Actor: j.StartedBy, Approver: j.Approver,
		Detail: map[string]string{"reason": reason, "quarantine": filepath.Base(s.quarantinePath(id))}}); err != nil {
		// Without the audit log nothing more happens to this job; it is
		// still marked rejected so that it is never produced.
		s.Log.Error().Err(err).Str("job", id).Msg("job rejected without its audit entry")
	}
	// The issuer's report is in the outbox before anyone sees the job rejected.
	shown := j
	shown.State, shown.Reason, shown.Counts = state.Rejected, reason, counts
	s.report(j.Issuer, j.ID, jobReport(shown, rejects, len(rejects) < counts.Rejected))
	if _, err = s.Store.UpdateJob(id, func(j *state.Job) error {
		if err := advance(j, state.Rejected); err != nil {
			return err
		}
		j.Reason, j.Updated, j.Counts, j.CryptoFailure = reason, s.now(), counts, crypto
		return nil
	}); err != nil {
		s.Log.Error().Err(err).Str("job", id).Msg("cannot mark job rejected")
	}
}

// jobReport is the issuer's processing report: outcome, counts, and each
// rejected record with its line, masked PAN and reason.
func jobReport(j state.Job, rejects []card.RecordError, capped bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataprep processing report\n\njob:       %s\nfile:      %s\nsha256:    %s\nsize:      %d bytes\nreceived:  %s\nstate:     %s\n",
		j.ID, j.FileName, j.SHA256, j.Size, j.Received.Format(time.RFC3339), j.State)
	if j.Reason != "" {
		fmt.Fprintf(&b, "reason:    %s\n", j.Reason)
	}
	if j.Counts.Read > 0 {
		fmt.Fprintf(&b, "records:   %d read, %d accepted, %d rejected\n", j.Counts.Read, j.Counts.Accepted, j.Counts.Rejected)
	}
	if len(rejects) > 0 {
		fmt.Fprintf(&b, "\nrejected records (line, masked PAN, field, reason):\n")
		for _, r := range rejects {
			fmt.Fprintf(&b, "  line %d\t%s\t%s\t%s\n", r.Line, orDash(r.MaskedPAN), r.Field, reportText(r.Reason, r.Err))
		}
		if capped {
			fmt.Fprintf(&b, "  … only the first %d rejects are listed\n", len(rejects))
		}
	}
	return b.String()
}

// report puts a report signed by the data room's key in the issuer's outbox.
// An issuer checks it with stock 'gpg --verify'.
func (s *Service) report(issuer, name, text string) {
	var buf bytes.Buffer
	if err := pgp.ClearSign(&buf, []byte(text), s.DataRoom); err != nil {
		s.Log.Error().Err(err).Str("issuer", issuer).Msg("cannot sign report; writing it unsigned")
		buf.Reset()
		buf.WriteString(text)
	}
	failpoint.Hit("report.signed")
	path := filepath.Join(s.Home.Outbox(issuer), reportName(name))
	if err := config.WriteFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		s.Log.Error().Err(err).Str("issuer", issuer).Msg("cannot write report")
		s.record(audit.Entry{Event: "report.write", Outcome: "failed", Issuer: issuer, Detail: map[string]string{"report": filepath.Base(path), "reason": err.Error()}})
		return
	}
	s.record(audit.Entry{Event: "report.write", Outcome: "ok", Issuer: issuer, Detail: map[string]string{"report": filepath.Base(path)}})
}

// JobView is a job as one caller may see it. Machine operators never see the
// expected card count (invariant 9: counts are blind).
type JobView struct {
	state.Job
	Counts *state.Counts `json:"counts,omitempty"`
	// Progress is the share of the input read, 0..1, while preparing.
	Progress *float64 `json:"progress,omitempty"`
}

func (s *Service) viewJob(c Caller, j state.Job) JobView {
	v := JobView{Job: j}
	if p, ok := s.progress.Load(j.ID); ok && j.Size > 0 {
		f := float64(p.(*progress).read.Load()) / float64(j.Size)
		v.Progress = &f
	}
	if c.Role != people.MachineOperator {
		cnt := j.Counts
		v.Counts = &cnt
	} else {
		// Sizes are counts in disguise: a fixed-width production file is
		// records × line width. The machine operator sees neither.
		v.Size, v.OutputSize, v.Progress = 0, 0, nil
	}
	return v
}

// Jobs lists jobs as c may see them.
func (s *Service) Jobs(c Caller) ([]JobView, error) {
	js, err := s.Store.Jobs()
	if err != nil {
		return nil, err
	}
	out := make([]JobView, len(js))
	for i, j := range js {
		out[i] = s.viewJob(c, j)
	}
	return out, nil
}

// Job shows one job as c may see it.
func (s *Service) Job(c Caller, id string) (JobView, error) {
	if err := checkJobID(id); err != nil {
		return JobView{}, err
	}
	j, err := s.Store.Job(id)
	if errors.Is(err, state.ErrNotFound) {
		return JobView{}, fmt.Errorf("%w: no job %s", ErrBadInput, id)
	}
	return s.viewJob(c, j), err
}

// reportName is the outbox file name of a report or receipt.
func reportName(name string) string {
	if strings.HasSuffix(name, "-deletion") {
		return name + "-receipt.txt.asc"
	}
	return name + "-report.txt.asc"
}

// recentCryptoFailures counts the issuer's jobs rejected in the last hour
// for an OpenPGP reason.
func (s *Service) recentCryptoFailures(issuer string) int {
	js, err := s.Store.Jobs()
	if err != nil {
		return 0
	}
	since := s.now().Add(-time.Hour)
	n := 0
	for _, j := range js {
		if j.Issuer == issuer && j.State == state.Rejected && j.Updated.After(since) && j.CryptoFailure {
			n++
		}
	}
	return n
}

// ArrivedWatched takes a file from a watched directory that an OpenSSH drop
// in front of the daemon fills. There the issuer can make symlinks and keep
// a handle open, so the file is not trusted as it lies: it is opened
// without following links, must be a regular file with one link, and is
// copied into a file of the daemon's own before it is hashed. Writes the
// issuer makes after this go to its own, removed, inode.
func (s *Service) ArrivedWatched(issuer, name, path string) {
	refuse := func(why string) {
		s.Log.Warn().Str("issuer", issuer).Str("why", why).Msg("watched file refused")
		s.refuse(audit.Entry{Event: "file.received", Issuer: issuer, Detail: map[string]string{"file": shown(name)}}, errors.New(why))
	}
	src, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		refuse("cannot open it without following links: " + err.Error())
		return
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		refuse("cannot stat it: " + err.Error())
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.Mode().IsRegular() || !ok || st.Nlink != 1 {
		refuse("not a plain file with a single link (a link, a device or a hard-linked file)")
		return
	}
	if fi.Size() > s.Cfg.Drop.MaxFileSize {
		refuse(fmt.Sprintf("larger than the drop's limit of %d bytes", s.Cfg.Drop.MaxFileSize))
		return
	}
	dst, err := os.CreateTemp(s.Home.Received(), ".watched-*")
	if err != nil {
		refuse("cannot copy it into the spool: " + err.Error())
		return
	}
	_, err = io.Copy(dst, io.LimitReader(src, s.Cfg.Drop.MaxFileSize+1))
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst.Name())
		refuse("cannot copy it into the spool: " + err.Error())
		return
	}
	os.Remove(path) // the issuer's inode; the daemon works on its own copy
	s.Arrived(issuer, name, dst.Name())
}
