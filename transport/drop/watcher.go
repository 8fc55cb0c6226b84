package drop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// ErrDirGone is returned by Watcher.Run when a watched directory is removed
// or renamed: there is nothing left to watch, and carrying on quietly would
// lose files.
var ErrDirGone = errors.New("drop: watched directory removed or renamed")

const defaultSettle = 3 * time.Second

// Watcher watches plain drop directories, one per issuer, that something
// else (usually OpenSSH's sftp-server) writes into.
//
// fsnotify v1.10 offers no portable close-after-write event (inotify's
// IN_CLOSE_WRITE is unexported there), so a file counts as arrived once it
// has had no events for Settle and its size and modification time were the
// same at two checks Settle apart. A file renamed into the directory
// arrives the same way, just with nothing to wait for. An upload that
// stalls for longer than that would be announced early; where that matters,
// have issuers upload to a dot-name and rename, or use Server.
type Watcher struct {
	// Dirs maps an issuer to the directory to watch for it.
	Dirs map[string]string
	// Arrived is called once per file (per path, size and modification
	// time), from Run's goroutine. Files already present when Run starts
	// are announced too; the caller deduplicates across restarts.
	Arrived func(issuer, name, path string)
	// Settle is how long a file must stay unchanged to count as complete.
	// Default 3s.
	Settle time.Duration
	// Log receives operational logs. The zero value logs nothing.
	Log zerolog.Logger
}

type pending struct {
	issuer   string
	last     time.Time // last event or change seen
	observed bool      // size and mtime hold a previous observation
	size     int64
	mtime    time.Time
}

type stamp struct {
	size  int64
	mtime time.Time
}

type watchState struct {
	w       *Watcher
	settle  time.Duration
	dirs    map[string]string // absolute directory → issuer
	pending map[string]*pending
	seen    map[string]stamp    // announced files
	ignored map[string]struct{} // logged once as ignored
}

// Run watches until ctx is done (and then returns nil) or a watched
// directory disappears (ErrDirGone) or the watch fails.
func (w *Watcher) Run(ctx context.Context) error {
	settle := w.Settle
	if settle <= 0 {
		settle = defaultSettle
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("drop: watcher: %w", err)
	}
	defer fw.Close()

	st := &watchState{w: w, settle: settle, dirs: make(map[string]string),
		pending: make(map[string]*pending), seen: make(map[string]stamp), ignored: make(map[string]struct{})}
	for issuer, dir := range w.Dirs {
		if err := checkIssuer(issuer); err != nil {
			return err
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("drop: watcher: %w", err)
		}
		if fi, err := os.Stat(abs); err != nil {
			return fmt.Errorf("drop: watcher: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("drop: watcher: %s is not a directory", abs)
		}
		if other, ok := st.dirs[abs]; ok {
			return fmt.Errorf("drop: watcher: %s is watched for both %q and %q", abs, other, issuer)
		}
		if err := fw.Add(abs); err != nil {
			return fmt.Errorf("drop: watcher: %w", err)
		}
		st.dirs[abs] = issuer
	}
	// Scan only now that the watches are in place: a file that arrives
	// between a scan and its watch would otherwise never be seen.
	st.rescan()

	tick := time.NewTicker(max(settle/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("drop: watcher closed")
			}
			if err := st.event(ev); err != nil {
				return err
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("drop: watcher closed")
			}
			// Overflow means events were lost; any other error may
			// mean the same. Either way the directories are the
			// truth: read them again.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.Log.Warn().Msg("drop: watcher event overflow; rescanning")
			} else {
				w.Log.Error().Err(err).Msg("drop: watcher error; rescanning")
			}
			st.rescan()
		case <-tick.C:
			st.check(time.Now())
		}
	}
}

func (st *watchState) event(ev fsnotify.Event) error {
	if issuer, ok := st.dirs[ev.Name]; ok {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			return fmt.Errorf("%w: %s (issuer %s)", ErrDirGone, ev.Name, issuer)
		}
		return nil
	}
	issuer, ok := st.dirs[filepath.Dir(ev.Name)]
	if !ok {
		return nil
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		// Gone (a rename event names the old path); forget it, so a
		// new file of the same name is a new arrival.
		delete(st.pending, ev.Name)
		delete(st.seen, ev.Name)
		delete(st.ignored, ev.Name)
		return nil
	}
	st.touch(issuer, ev.Name, time.Now())
	return nil
}

// touch notes activity on a file, which restarts its settle time.
func (st *watchState) touch(issuer, path string, now time.Time) {
	name := filepath.Base(path)
	if strings.HasPrefix(name, ".") {
		return // temporary and hidden files are not deliveries
	}
	if _, err := cleanName(name); err != nil {
		if _, done := st.ignored[path]; !done {
			st.ignored[path] = struct{}{}
			st.w.Log.Warn().Str("issuer", issuer).Str("name", withholdPAN(quote(name))).Msg("drop: ignoring file with a bad name")
		}
		return
	}
	p := st.pending[path]
	if p == nil {
		p = &pending{issuer: issuer}
		st.pending[path] = p
	}
	p.last = now
}

func (st *watchState) rescan() {
	for dir, issuer := range st.dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			st.w.Log.Error().Err(err).Str("dir", dir).Msg("drop: scan")
			continue
		}
		present := make(map[string]bool, len(entries))
		for _, e := range entries {
			path := filepath.Join(dir, e.Name())
			present[path] = true
			if _, ok := st.pending[path]; !ok {
				// A zero time: check at once, announce a settle later.
				st.touch(issuer, path, time.Time{})
			}
		}
		for path := range st.seen {
			if filepath.Dir(path) == dir && !present[path] {
				delete(st.seen, path)
			}
		}
	}
}

// check announces the pending files that have settled.
func (st *watchState) check(now time.Time) {
	for path, p := range st.pending {
		if now.Sub(p.last) < st.settle {
			continue
		}
		fi, err := os.Lstat(path)
		if err != nil {
			delete(st.pending, path)
			continue
		}
		if !fi.Mode().IsRegular() {
			// A symlink could point anywhere, at another issuer's
			// files or at secrets; a FIFO would block the reader.
			delete(st.pending, path)
			if _, done := st.ignored[path]; !done {
				st.ignored[path] = struct{}{}
				st.w.Log.Warn().Str("issuer", p.issuer).Str("name", quote(filepath.Base(path))).Str("type", fi.Mode().Type().String()).Msg("drop: refusing non-regular file")
			}
			continue
		}
		if !p.observed || fi.Size() != p.size || !fi.ModTime().Equal(p.mtime) {
			p.observed, p.size, p.mtime, p.last = true, fi.Size(), fi.ModTime(), now
			continue
		}
		delete(st.pending, path)
		s := stamp{fi.Size(), fi.ModTime()}
		if prev, ok := st.seen[path]; ok && prev.size == s.size && prev.mtime.Equal(s.mtime) {
			continue
		}
		st.seen[path] = s
		name := filepath.Base(path)
		st.w.Log.Info().Str("issuer", p.issuer).Str("name", name).Int64("size", s.size).Msg("drop: arrived")
		if st.w.Arrived != nil {
			st.w.Arrived(p.issuer, name, path)
		}
	}
}
