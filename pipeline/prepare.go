package pipeline

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/formats"
	"github.com/dataprep/dataprep/formats/card"
	"github.com/dataprep/dataprep/formats/profile"
	"github.com/dataprep/dataprep/pipeline/config"
	"github.com/dataprep/dataprep/pipeline/failpoint"
	"github.com/dataprep/dataprep/pipeline/state"
)

// maxReportedRejects bounds what one job keeps in memory for the issuer's
// report; the counts stay exact beyond it.
const maxReportedRejects = 1000

// prepared is what a successful preparation fixed.
type prepared struct {
	counts        state.Counts
	signer        string
	cipher        string // the issuer file's encryption
	outCipher     string // the production file's
	sha256        string
	size          int64
	rejects       []card.RecordError
	rejectsCapped bool
}

// prepare decrypts a job's file through the HSM, verifies the issuer's
// signature, converts every record for the job's machine and writes the
// production file encrypted to the machine's key as it goes. Plaintext
// exists only in this goroutine's buffers; nothing of it reaches the disk
// (invariant 1). Everything read is untrusted until the stream ended with
// the integrity check and the signature verified, so the production file
// keeps a temporary name until then.
func (s *Service) prepare(j state.Job) {
	// Hand the preparation's memory back to the OS when it ends: left to
	// the runtime's slow return, it stayed in the process, and the next
	// login's argon2id came on top of it (70 MiB RSS after a 10M-record
	// upload instead of 50).
	defer debug.FreeOSMemory()
	p, err := s.produce(j)
	if errors.Is(err, pgp.ErrKeyUnavailable) {
		// The HSM is down: the file is not at fault. Park the job back in
		// received, alarm, and let the operators start it again later.
		s.Log.Error().Str("job", j.ID).Msg("HSM unavailable during decryption; job parked")
		s.record(audit.Entry{Event: "job.decrypt.result", Outcome: "failed", Job: j.ID, Issuer: j.Issuer, Actor: j.StartedBy, Approver: j.Approver,
			Detail: map[string]string{"reason": "HSM unavailable; job returned to received, start it again when the HSM answers"}})
		s.Store.UpdateJob(j.ID, func(jj *state.Job) error { jj.Updated = s.now(); return advance(jj, state.Received) })
		return
	}
	if err == nil && p.counts.Accepted == 0 {
		// Nothing to produce: an empty production file is no job for a machine.
		os.Remove(s.productionPath(j.ID))
		err = errNoneAccepted
	}
	if err != nil {
		s.metrics().Failures.WithLabelValues("prepare").Inc()
		reason := s.failureReason(err)
		s.Log.Warn().Str("job", j.ID).Str("reason", reason).Msg("job rejected")
		// A rejected job produced nothing: no record counts as accepted. When
		// the OpenPGP layer refused the file, what the formats layer saw came
		// from unauthenticated bytes, so nothing of it is reported either.
		p.counts.Accepted = 0
		var pe *pgpError
		crypto := errors.As(err, &pe)
		if crypto {
			p.counts, p.rejects = state.Counts{}, nil
			// A file that simply ends inside a packet was cut short in
			// transfer (a Ctrl-C in sftp is a clean close): say so, and do
			// not count it towards the crypto-failure hold. The framing is
			// public, so this tells an attacker nothing.
			if errors.Is(err, pgp.ErrCorrupt) && s.cutShort(j.ID) {
				reason += "; it ends in the middle of an OpenPGP packet, so the upload was most likely cut short: upload it again"
				crypto = false
			}
		}
		s.rejectJob(j.ID, reason, "", p.rejects, p.counts, crypto)
		return
	}
	failpoint.Hit("prepare.renamed")
	e := audit.Entry{Event: "job.ready", Outcome: "ok", Job: j.ID, Issuer: j.Issuer, Actor: j.StartedBy, Approver: j.Approver, Machine: j.Machine,
		Detail: map[string]string{"signer": p.signer, "cipher": p.cipher, "output_cipher": p.outCipher, "records_read": fmt.Sprint(p.counts.Read),
			"records_accepted": fmt.Sprint(p.counts.Accepted), "records_rejected": fmt.Sprint(p.counts.Rejected),
			"output_sha256": p.sha256, "output_size": fmt.Sprint(p.size)}}
	if err := s.record(e); err != nil {
		os.Remove(s.productionPath(j.ID))
		s.rejectJob(j.ID, "audit log unavailable: preparation not recorded", "", nil, state.Counts{}, false)
		return
	}
	failpoint.Hit("prepare.audited")
	// The issuer's report is in the outbox before anyone sees the job ready.
	shown := j
	shown.State, shown.Counts = state.Ready, p.counts
	s.report(j.Issuer, j.ID, jobReport(shown, p.rejects, p.rejectsCapped))
	failpoint.Hit("prepare.reported")
	j, err = s.Store.UpdateJob(j.ID, func(jj *state.Job) error {
		if err := advance(jj, state.Ready); err != nil {
			return err
		}
		jj.Counts, jj.Signer, jj.Cipher, jj.Updated = p.counts, p.signer, p.cipher, s.now()
		jj.OutputSHA256, jj.OutputSize = p.sha256, p.size
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("job", j.ID).Msg("cannot mark job ready")
		return
	}
	failpoint.Hit("prepare.ready")
	s.metrics().RecordsPrepared.Add(float64(p.counts.Accepted))
	s.metrics().RecordsRejected.Add(float64(p.counts.Rejected))
}

func (s *Service) productionPath(job string) string {
	return filepath.Join(s.Home.Production(), job+".pgp")
}

// failureReason gives the one line the issuer, the operator and the audit
// log see. Crypto failures come first and in fixed words; a formats failure
// passes its own text, which names lines and fields, never card data.
func (s *Service) failureReason(err error) string {
	var pe *pgpError
	if errors.As(err, &pe) {
		return rejectReason(pe.err)
	}
	switch {
	case errors.Is(err, formats.ErrFileRejected):
		return "records were rejected and the issuer's profile rejects the whole file on any reject: " + safeText(err)
	case errors.Is(err, formats.ErrNoRecords):
		return "the file holds no records"
	case errors.Is(err, errNoneAccepted):
		return errNoneAccepted.Error()
	case errors.Is(err, errSetup):
		return safeText(err)
	}
	return "the content could not be read as the issuer's profile describes: " + safeText(err)
}

// safeText is err's message unless it would carry a card number.
func safeText(err error) string {
	msg := err.Error()
	if audit.ContainsPAN(msg) {
		return "(detail withheld: it would show a card number)"
	}
	return msg
}

var (
	errSetup        = errors.New("job setup")
	errNoneAccepted = errors.New("no record passed validation: nothing to produce (the report lists every reject)")
)

// pgpError marks a failure of the OpenPGP layer, which outranks anything the
// formats layer said about the same (unauthenticated) bytes.
type pgpError struct{ err error }

func (e *pgpError) Error() string { return e.err.Error() }
func (e *pgpError) Unwrap() error { return e.err }

// profiles resolves the issuer's input profile and the machine's layout and certificate.
func (s *Service) profiles(j state.Job) (*profile.Issuer, *profile.Machine, []byte, error) {
	iss, err := s.Store.Issuer(j.Issuer)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: issuer %s: %v", errSetup, j.Issuer, err)
	}
	ip := profile.DefaultIssuer()
	if iss.Profile != "" {
		if ip, err = profile.ParseIssuer([]byte(iss.Profile)); err != nil {
			return nil, nil, nil, fmt.Errorf("%w: issuer %s profile: %v", errSetup, j.Issuer, err)
		}
	}
	m, err := s.Store.Machine(j.Machine)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: machine %q: %v", errSetup, j.Machine, err)
	}
	ml, err := machineLayout(m)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: machine %s layout: %v", errSetup, m.Name, err)
	}
	return ip, ml, []byte(m.PGPKey), nil
}

func machineLayout(m state.Machine) (*profile.Machine, error) {
	if m.Layout == "" {
		return profile.DefaultMachine("machine-fixed")
	}
	return profile.ParseMachine([]byte(m.Layout))
}

func (s *Service) produce(j state.Job) (p prepared, err error) {
	ip, ml, mcert, err := s.profiles(j)
	if err != nil {
		return p, err
	}
	iss, err := s.Store.Issuer(j.Issuer)
	if err != nil {
		return p, fmt.Errorf("%w: %v", errSetup, err)
	}
	keys, err := pgp.ReadIssuerKey([]byte(iss.SigningKey))
	if err != nil {
		return p, fmt.Errorf("%w: issuer %s signing key: %v", errSetup, j.Issuer, err)
	}
	machineCert, err := pgp.ReadRecipientKey(mcert)
	if err != nil {
		return p, fmt.Errorf("%w: machine %s certificate: %v", errSetup, j.Machine, err)
	}
	in, err := os.Open(s.spoolPath(j.ID))
	if err != nil {
		return p, fmt.Errorf("%w: %v", errSetup, err)
	}
	defer in.Close()
	pr := &progress{}
	s.progress.Store(j.ID, pr)
	defer s.progress.Delete(j.ID)
	msg, err := pgp.Open(progressReader{in, pr}, s.DataRoom, keys, pgp.Limits{MaxPlaintext: s.Cfg.Limits.MaxPlaintext})
	if err != nil {
		return p, &pgpError{err}
	}

	final := s.productionPath(j.ID)
	tmp := final + ".part"
	os.Remove(tmp) // a crash's leftover: ciphertext, and never under the final name
	out, err := createOutFile(tmp)
	if err != nil {
		return p, fmt.Errorf("%w: %v", errSetup, err)
	}
	done := false
	defer func() {
		if !done {
			out.Close()
			os.Remove(tmp)
		}
	}()
	enc, err := pgp.Encrypt(out, machineCert, s.DataRoom)
	if err != nil {
		return p, fmt.Errorf("%w: encrypting to machine %s: %v", errSetup, j.Machine, err)
	}
	reject := func(e card.RecordError) {
		if len(p.rejects) < maxReportedRejects {
			p.rejects = append(p.rejects, e)
		} else {
			p.rejectsCapped = true
		}
	}
	var counts formats.Counts
	derr, perr, eerr := overlapped(msg, enc, func(r io.Reader, w io.Writer) error {
		var err error
		counts, err = formats.Prepare(r, ip, ml, formats.Options{JobDate: s.now()}, w, reject)
		return err
	})
	p.counts = state.Counts{Read: counts.Read, Accepted: counts.Accepted, Rejected: counts.Rejected}
	// The message was read to its end whatever the formats layer said: only
	// there are the integrity check and the signature known, and they outrank it.
	if derr != nil {
		return p, &pgpError{derr}
	}
	if perr != nil {
		if isPGP(perr) { // the input layer passed a message error on
			return p, &pgpError{perr}
		}
		return p, perr
	}
	if eerr != nil {
		return p, fmt.Errorf("%w: writing the production file: %v", errSetup, eerr)
	}
	if err := enc.Close(); err != nil {
		return p, fmt.Errorf("%w: finishing the production file: %v", errSetup, err)
	}
	if err := out.Commit(); err != nil {
		return p, fmt.Errorf("%w: writing the production file: %v", errSetup, err)
	}
	failpoint.Hit("prepare.encrypted")
	if err := os.Rename(tmp, final); err != nil {
		return p, fmt.Errorf("%w: %v", errSetup, err)
	}
	done = true
	if err := config.SyncDir(filepath.Dir(final)); err != nil {
		return p, fmt.Errorf("%w: %v", errSetup, err)
	}
	p.signer, p.cipher, p.outCipher = msg.SignerFingerprint(), msg.Cipher(), pgp.OutputCipher(machineCert)
	p.sha256, p.size = out.Sum(), out.Size()
	return p, nil
}

func isPGP(err error) bool {
	for _, s := range []error{pgp.ErrNotForUs, pgp.ErrUnsigned, pgp.ErrWrongSigner, pgp.ErrBadSignature, pgp.ErrCorrupt, pgp.ErrTooLarge, pgp.ErrWeakCipher, pgp.ErrKeyUnavailable} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// cutShort reports whether a job's received file ends inside an OpenPGP packet.
func (s *Service) cutShort(job string) bool {
	f, err := os.Open(s.spoolPath(job))
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(pgp.CheckFraming(f), pgp.ErrIncomplete)
}
