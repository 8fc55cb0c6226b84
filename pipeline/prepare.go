package pipeline

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dataprep/dataprep/audit"
	"github.com/dataprep/dataprep/crypto/pgp"
	"github.com/dataprep/dataprep/pipeline/state"
)

// prepare decrypts a job's file through the HSM, verifies the issuer's
// signature and streams the plaintext on. Plaintext exists only in memory,
// in buffers of this goroutine; nothing of it is written to disk
// (invariant 1). Everything read is untrusted until the stream ended with
// the signature checked, so results are only committed after that.
func (s *Service) prepare(j state.Job) {
	counts, signer, cipher, err := s.decryptAndCount(j)
	if errors.Is(err, pgp.ErrKeyUnavailable) {
		// The HSM is down: the file is not at fault. Park the job back in
		// received, alarm, and let the operators start it again later.
		s.Log.Error().Str("job", j.ID).Msg("HSM unavailable during decryption; job parked")
		s.record(audit.Entry{Event: "job.decrypt.result", Outcome: "failed", Job: j.ID, Issuer: j.Issuer, Actor: j.StartedBy, Approver: j.Approver,
			Detail: map[string]string{"reason": "HSM unavailable; job returned to received, start it again when the HSM answers"}})
		s.Store.UpdateJob(j.ID, func(jj *state.Job) error { jj.Updated = s.now(); return advance(jj, state.Received) })
		return
	}
	if err != nil {
		reason := rejectReason(err)
		s.Log.Warn().Str("job", j.ID).Str("reason", reason).Msg("job rejected")
		s.rejectJob(j.ID, reason, "")
		return
	}
	e := audit.Entry{Event: "job.decrypt.result", Outcome: "ok", Job: j.ID, Issuer: j.Issuer, Actor: j.StartedBy, Approver: j.Approver,
		Detail: map[string]string{"signer": signer, "cipher": cipher, "records_read": fmt.Sprint(counts.Read),
			"records_accepted": fmt.Sprint(counts.Accepted), "records_rejected": fmt.Sprint(counts.Rejected)}}
	if err := s.record(e); err != nil {
		s.rejectJob(j.ID, "audit log unavailable: preparation not recorded", "")
		return
	}
	j, err = s.Store.UpdateJob(j.ID, func(jj *state.Job) error {
		if err := advance(jj, state.Ready); err != nil {
			return err
		}
		jj.Counts, jj.Signer, jj.Cipher, jj.Updated = counts, signer, cipher, s.now()
		return nil
	})
	if err != nil {
		s.Log.Error().Err(err).Str("job", j.ID).Msg("cannot mark job ready")
		return
	}
	s.report(j.Issuer, j.ID, jobReport(j))
}

func (s *Service) decryptAndCount(j state.Job) (state.Counts, string, string, error) {
	iss, err := s.Store.Issuer(j.Issuer)
	if err != nil {
		return state.Counts{}, "", "", err
	}
	keys, err := pgp.ReadIssuerKey([]byte(iss.SigningKey))
	if err != nil {
		return state.Counts{}, "", "", err
	}
	f, err := os.Open(s.spoolPath(j.ID))
	if err != nil {
		return state.Counts{}, "", "", err
	}
	defer f.Close()
	msg, err := pgp.Open(f, s.DataRoom, keys, pgp.Limits{MaxPlaintext: s.Cfg.Limits.MaxPlaintext})
	if err != nil {
		return state.Counts{}, "", "", err
	}
	n, err := countRecords(msg)
	if err != nil {
		return state.Counts{}, "", "", err
	}
	return state.Counts{Read: n, Accepted: n}, msg.SignerFingerprint(), msg.Cipher(), nil
}

// countRecords counts the non-empty lines after a header line. It reads the
// whole stream so that the signature is checked at its end.
func countRecords(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := -1
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return 0, fmt.Errorf("a line is longer than 1 MiB")
		}
		return 0, err
	}
	return max(n, 0), nil
}
