package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockName is the lock file LockDir keeps in a directory while a process
// writes it.
const LockName = ".lock"

// ErrLocked is wrapped by LockDir's error when another process holds the
// directory.
var ErrLocked = errors.New("directory is in use by another process")

// Lock is an exclusive lock on a directory, held by this process until
// Unlock (or until the process ends, however it ends: the kernel drops the
// lock, so a lock left by a killed process never blocks). It is advisory:
// it keeps out the processes that take it too, such as a second `trainer
// gen` on the same --out.
type Lock struct {
	f    *os.File
	path string
}

// LockDir creates dir if needed and takes its lock (an flock on
// dir/.lock holding the owner's pid). If another process holds it, the
// error wraps ErrLocked and names that process's pid and the lock file.
// The lock is per open file, not per process: taking a directory's lock
// twice in one process also fails.
func LockDir(dir string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	p := filepath.Join(dir, LockName)
	for range 10 {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", dir, err)
		}
		held, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		if !held {
			pid := readPID(f)
			f.Close()
			who := "another process"
			if pid > 0 {
				who = fmt.Sprintf("process %d", pid)
			}
			return nil, fmt.Errorf("%s is in use by %s (lock %s): %w; wait for it to finish or use another directory", dir, who, p, ErrLocked)
		}
		// The holder before us may have removed the file between our open
		// and our lock: then the lock is on a file no one else sees; retry.
		if same(f, p) {
			l := &Lock{f: f, path: p}
			if err := l.writePID(); err != nil {
				l.Unlock()
				return nil, fmt.Errorf("lock %s: %w", p, err)
			}
			return l, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("lock %s: the lock file keeps being replaced", p)
}

// same reports whether the open file f is still the file at path p.
func same(f *os.File, p string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(p)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (l *Lock) writePID() error {
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the holder's pid from a lock file (0 when unreadable).
func readPID(f *os.File) int {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// Unlock removes the lock file and releases the lock; it is idempotent.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(l.path)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}
