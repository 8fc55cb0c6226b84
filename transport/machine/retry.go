package machine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"time"
)

// Backoff is the retry policy of PushWithRetry.
type Backoff struct {
	// Attempts is the total number of attempts, the first one included.
	// Less than 1 means 1.
	Attempts int
	// Initial is the wait before the second attempt (default 1s); each
	// further wait doubles, up to Max (default 1m). Every wait is jittered
	// to between half and all of that, so several daemons (or machines) cut
	// off at once don't come back in lockstep.
	Initial time.Duration
	Max     time.Duration
}

func (b Backoff) wait(retry int) time.Duration {
	initial, max := b.Initial, b.Max
	if initial <= 0 {
		initial = time.Second
	}
	if max <= 0 {
		max = time.Minute
	}
	d := initial
	for i := 1; i < retry && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// IsTransient reports whether err is worth retrying: the machine was
// unreachable or the connection broke. Errors that need a person (a changed
// host key, a refused key, permissions, a full disk, a failed verification,
// a taken name) are never transient, even if a transient error is wrapped
// along with them.
func IsTransient(err error) bool {
	for _, final := range []error{ErrHostKeyChanged, ErrAuth, ErrPermission, ErrDiskFull, ErrVerify,
		ErrExists, ErrBadJobID, ErrBadTarget, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, final) {
			return false
		}
	}
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrConnectionLost)
}

// PushWithRetry pushes job with Push, retrying transient failures (see
// IsTransient) with exponential backoff and jitter, up to policy.Attempts.
// Each attempt dials anew and opens the source anew (open must yield the
// same bytes every time; size and sha are the values fixed at preparation).
//
// A push is never doubled: before every retry it looks at what is on the
// machine. If an earlier attempt got the file into place before the
// connection broke and it verifies, that is the result (Recovered); if a
// file is there and does not verify, it stops with ErrExists and ErrVerify
// and leaves the file for a person to look at. Temporary names left by a
// cut-off attempt are removed by the next one.
func PushWithRetry(ctx context.Context, dial func() (*Conn, error), job string, open func() (io.ReadCloser, error),
	size int64, sha []byte, policy Backoff) (Pushed, error) {
	if err := checkJob(job); err != nil {
		return Pushed{}, err
	}
	attempts := max(policy.Attempts, 1)
	var errs []error
	for attempt := 1; ; attempt++ {
		p, err := pushOnce(ctx, dial, job, open, size, sha, attempt > 1)
		if err == nil {
			p.Attempts = attempt
			return p, nil
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
		if !IsTransient(err) || attempt >= attempts {
			// The last error decides what the caller sees via errors.Is;
			// the earlier ones are there for the audit trail.
			if len(errs) == 1 {
				return Pushed{}, err
			}
			return Pushed{}, fmt.Errorf("push job %s: gave up after %d attempts: %w (earlier: %v)",
				job, attempt, err, errors.Join(errs[:len(errs)-1]...))
		}
		t := time.NewTimer(policy.wait(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return Pushed{}, fmt.Errorf("push job %s: %w while waiting to retry after: %w", job, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func pushOnce(ctx context.Context, dial func() (*Conn, error), job string, open func() (io.ReadCloser, error),
	size int64, sha []byte, retry bool) (p Pushed, err error) {
	if err := ctx.Err(); err != nil {
		return Pushed{}, err
	}
	c, err := dial()
	if err != nil {
		return Pushed{}, err
	}
	defer c.Close()

	if retry {
		// Did an earlier attempt get there after all?
		p, err := c.Verify(ctx, job, size, sha)
		switch {
		case err == nil:
			p.Recovered = true
			// A cut-off attempt may have left its temp name (or a hard
			// link of the final file, if RENAME's unlink didn't happen).
			_ = c.removeTemps(job)
			return p, nil
		case errors.Is(err, ErrVerify):
			return Pushed{}, fmt.Errorf("%w: %w", ErrExists, err)
		case errors.Is(err, fs.ErrNotExist):
			// Not there: upload below.
		default:
			return Pushed{}, err
		}
	}

	rc, err := open()
	if err != nil {
		return Pushed{}, fmt.Errorf("push job %s: open source: %w", job, err)
	}
	defer rc.Close()
	return c.Push(ctx, job, rc, size, sha)
}
