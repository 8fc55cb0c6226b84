package people

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHashRoundTrip(t *testing.T) {
	h, err := HashPassphrase([]byte("correct horse battery"))
	require.NoError(t, err)
	require.Contains(t, h, "$argon2id$v=19$m=19456,t=2,p=2$")
	ok, err := CheckHash(h, []byte("correct horse battery"))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = CheckHash(h, []byte("correct horse batterz"))
	require.NoError(t, err)
	require.False(t, ok)
	h2, _ := HashPassphrase([]byte("correct horse battery"))
	require.NotEqual(t, h, h2, "salt must differ")
}

func TestCheckHashRefusesMalformed(t *testing.T) {
	for _, h := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$AAAA", "$argon2id$v=18$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$AAAA$"} {
		_, err := CheckHash(h, []byte("x"))
		require.ErrorIs(t, err, ErrBadHash, h)
	}
}

func TestRolesAndNames(t *testing.T) {
	for _, r := range Roles {
		got, err := ParseRole(string(r))
		require.NoError(t, err)
		require.Equal(t, r, got)
	}
	_, err := ParseRole("root")
	require.ErrorIs(t, err, ErrBadRole)
	require.NoError(t, CheckName("alice"))
	for _, n := range []string{"", "Alice", "1bob", "a/b", "a b", "toolongtoolongtoolongtoolongtoolong"} {
		require.ErrorIs(t, CheckName(n), ErrBadName, n)
	}
}

func TestPassphrasePolicy(t *testing.T) {
	require.ErrorIs(t, CheckPassphrase("alice", []byte("short")), ErrWeakPassphrase)
	require.ErrorIs(t, CheckPassphrase("alice", []byte("i-am-alice-1234")), ErrWeakPassphrase)
	require.NoError(t, CheckPassphrase("alice", []byte("a long enough phrase")))
}

func TestLockout(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := &Person{Name: "bob"}
	rule := Lockout{MaxFailures: 3, Duration: time.Minute}
	require.False(t, p.Fail(now, rule))
	require.False(t, p.Fail(now, rule))
	require.True(t, p.Fail(now, rule))
	require.True(t, p.Locked(now.Add(30*time.Second)))
	require.False(t, p.Locked(now.Add(time.Minute)))
	p.Succeed(now)
	require.False(t, p.Locked(now))
	require.Zero(t, p.Failures)
}
