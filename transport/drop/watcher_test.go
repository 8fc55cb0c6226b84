package drop

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

type watchRec struct {
	mu  sync.Mutex
	got []arrival
}

func (r *watchRec) add(issuer, name, path string) {
	r.mu.Lock()
	r.got = append(r.got, arrival{issuer, name, path})
	r.mu.Unlock()
}

func (r *watchRec) list() []arrival {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]arrival(nil), r.got...)
}

func (r *watchRec) wait(t *testing.T, n int) []arrival {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if l := r.list(); len(l) >= n {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("want %d arrivals, got %+v", n, r.list())
	return nil
}

func startWatcher(t *testing.T, dirs map[string]string) (*watchRec, context.CancelFunc, chan error) {
	t.Helper()
	rec := &watchRec{}
	w := &Watcher{Dirs: dirs, Arrived: rec.add, Settle: 100 * time.Millisecond, Log: zerolog.New(zerolog.NewTestWriter(t))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return rec, cancel, done
}

func TestWatcher(t *testing.T) {
	alpha, beta := t.TempDir(), t.TempDir()
	// Present before the watcher starts.
	os.WriteFile(filepath.Join(alpha, "early.pgp"), []byte("early"), 0o600)
	os.WriteFile(filepath.Join(alpha, ".hidden"), []byte("x"), 0o600)
	os.Symlink("/etc/passwd", filepath.Join(alpha, "link.pgp"))
	rec, cancel, done := startWatcher(t, map[string]string{"alpha": alpha, "beta": beta})

	got := rec.wait(t, 1)
	if got[0] != (arrival{"alpha", "early.pgp", filepath.Join(alpha, "early.pgp")}) {
		t.Errorf("first arrival %+v", got[0])
	}

	// Written slowly, in pieces: announced only once, after it settles.
	p := filepath.Join(beta, "slow.pgp")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		f.Write([]byte("chunk"))
		time.Sleep(60 * time.Millisecond)
		if len(rec.list()) != 1 {
			t.Fatalf("announced while still being written: %+v", rec.list())
		}
	}
	f.Close()
	got = rec.wait(t, 2)
	if got[1] != (arrival{"beta", "slow.pgp", p}) {
		t.Errorf("second arrival %+v", got[1])
	}

	// Renamed in from a hidden temporary name, as careful clients do.
	tmp := filepath.Join(alpha, ".tmp-upload")
	os.WriteFile(tmp, []byte("renamed"), 0o600)
	os.Rename(tmp, filepath.Join(alpha, "renamed.pgp"))
	got = rec.wait(t, 3)
	if got[2].name != "renamed.pgp" {
		t.Errorf("third arrival %+v", got[2])
	}

	// Attribute changes on an announced file do not announce it again,
	// nor do symlinks, dot files or bad names.
	os.Chmod(filepath.Join(alpha, "early.pgp"), 0o400)
	os.Symlink(filepath.Join(beta, "slow.pgp"), filepath.Join(alpha, "link2.pgp"))
	os.WriteFile(filepath.Join(alpha, "bad name.pgp"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(alpha, ".part-x"), []byte("x"), 0o600)
	time.Sleep(500 * time.Millisecond)
	if l := rec.list(); len(l) != 3 {
		t.Errorf("arrivals %+v, want 3", l)
	}

	// Removing a watched directory stops Run with ErrDirGone.
	if err := os.RemoveAll(beta); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrDirGone) {
			t.Errorf("Run = %v, want ErrDirGone", err)
		}
		done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Errorf("Run went on without its directory")
	}
	cancel()
}

func TestWatcherRescanAfterOverflow(t *testing.T) {
	// An overflow cannot be forced portably; a rescan is what it triggers,
	// so check that a rescan finds what no event told of, once.
	dir := t.TempDir()
	rec := &watchRec{}
	w := &Watcher{Arrived: rec.add}
	st := &watchState{w: w, settle: time.Millisecond, dirs: map[string]string{dir: "alpha"},
		pending: map[string]*pending{}, seen: map[string]stamp{}, ignored: map[string]struct{}{}}
	os.WriteFile(filepath.Join(dir, "missed.pgp"), []byte("x"), 0o600)
	for i := 0; i < 3; i++ {
		st.rescan()
		st.check(time.Now())
		time.Sleep(5 * time.Millisecond)
		st.check(time.Now())
	}
	if l := rec.list(); len(l) != 1 || l[0].name != "missed.pgp" {
		t.Errorf("arrivals %+v", l)
	}
}

func TestWatcherBadDirs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o600)
	for _, dirs := range []map[string]string{
		{"alpha": filepath.Join(dir, "missing")},
		{"alpha": file},
		{"alpha": dir, "beta": dir},
		{"Not/An/Issuer": dir},
	} {
		w := &Watcher{Dirs: dirs, Settle: time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := w.Run(ctx)
		cancel()
		if err == nil {
			t.Errorf("Run(%v) = nil, want an error", dirs)
		}
	}
}
