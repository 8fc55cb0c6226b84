package machine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTarget(t *testing.T) {
	good := map[string]struct {
		user, host string
		port       int
	}{
		"dp@emb-1.bureau.local:22": {"dp", "emb-1.bureau.local", 22},
		"dp@10.0.0.7:2222":         {"dp", "10.0.0.7", 2222},
		"dp@[fe80::1]:22":          {"dp", "fe80::1", 22},
		"machine_op.1@emb1:65535":  {"machine_op.1", "emb1", 65535},
	}
	for spec, want := range good {
		u, h, p, err := ParseTarget(spec)
		require.NoError(t, err, spec)
		assert.Equal(t, want.user, u, spec)
		assert.Equal(t, want.host, h, spec)
		assert.Equal(t, want.port, p, spec)
	}
	for _, spec := range []string{
		"", "emb1:22", "@emb1:22", "dp@emb1", "dp@emb1:", "dp@:22", "dp@emb1:0", "dp@emb1:65536",
		"dp@emb1:022", "dp@emb1:+22", "dp@emb1:22x", "dp@a@emb1:22", "dp@emb1:22/path",
		"dp@fe80::1:22", "dp@[10.0.0.1]:22", "dp@emb 1:22", "dp@-emb1:22", "-oProxyCommand=x@emb1:22",
		"d p@emb1:22", "dp@emb1..x:22", "dp@emb1:22 ", " dp@emb1:22", "dp@emb_1:22",
	} {
		_, _, _, err := ParseTarget(spec)
		assert.ErrorIs(t, err, ErrBadTarget, "%q", spec)
	}
}

const edLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGLxkqle/ZKo5BJ6SkR46nkTZggJqKlb2/wMIHqw1CoF"

func TestHostKeyFromAuthorizedLine(t *testing.T) {
	want, err := HostKeyFromAuthorizedLine(edLine)
	require.NoError(t, err)
	fp := FingerprintSHA256(want)
	assert.Equal(t, "SHA256:", fp[:7])

	for _, line := range []string{
		edLine + " root@emb1",
		"  " + edLine + "\n",
		"emb1.bureau.local,10.0.0.7 " + edLine,
		"[10.0.0.7]:2222 " + edLine + " comment",
		"|1|0mPBkigWigZkZKhgr/mI1AOvv98=|i0EWXZPo+YhRG0aaOBI+VpkrU6I= " + edLine,
	} {
		k, err := HostKeyFromAuthorizedLine(line)
		require.NoError(t, err, line)
		assert.Equal(t, fp, FingerprintSHA256(k), line)
	}
	for _, line := range []string{
		"", "   ", "ssh-ed25519", "ssh-ed25519 AAAAnotbase64!", "hello world",
		"@revoked emb1 " + edLine,
		"@cert-authority *.bureau.local " + edLine,
		edLine + "\n" + edLine,
		`command="x" ` + edLine,
	} {
		_, err := HostKeyFromAuthorizedLine(line)
		assert.ErrorIs(t, err, ErrBadTarget, "%q", line)
	}
}

func TestNames(t *testing.T) {
	n, err := FinalName("JOB-2024-0001")
	require.NoError(t, err)
	assert.Equal(t, "dp-JOB-2024-0001.pgp", n)
	job, partial, ok := parseName(tempPrefix("JOB-2024-0001") + "abc")
	assert.True(t, ok)
	assert.True(t, partial)
	assert.Equal(t, "JOB-2024-0001", job)
	job, partial, ok = parseName(n)
	assert.True(t, ok)
	assert.False(t, partial)
	assert.Equal(t, "JOB-2024-0001", job)
}

func TestIsTransient(t *testing.T) {
	for _, e := range []error{ErrUnreachable, ErrConnectionLost, fmt.Errorf("x: %w", ErrConnectionLost)} {
		assert.True(t, IsTransient(e), "%v", e)
	}
	for _, e := range []error{
		nil, errors.New("other"), ErrHostKeyChanged, ErrAuth, ErrPermission, ErrDiskFull, ErrVerify,
		ErrExists, ErrStillThere, ErrBadJobID, context.Canceled,
		// A final error wins over a transient one wrapped with it.
		fmt.Errorf("%w: %w", ErrConnectionLost, ErrDiskFull),
		fmt.Errorf("%w: %w", ErrUnreachable, ErrHostKeyChanged),
	} {
		assert.False(t, IsTransient(e), "%v", e)
	}
}

func TestBackoffWait(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	for i := 0; i < 200; i++ {
		w1 := b.wait(1)
		assert.True(t, w1 >= 50*time.Millisecond && w1 <= 100*time.Millisecond, "%v", w1)
		w3 := b.wait(3)
		assert.True(t, w3 >= 200*time.Millisecond && w3 <= 400*time.Millisecond, "%v", w3)
		w20 := b.wait(20)
		assert.True(t, w20 >= 500*time.Millisecond && w20 <= time.Second, "%v", w20)
	}
	var zero Backoff
	w := zero.wait(1)
	assert.True(t, w >= 500*time.Millisecond && w <= time.Second, "%v", w)
}
