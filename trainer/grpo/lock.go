package grpo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// LockFile is the lock file a trainer holds in its run directory.
const LockFile = "run.lock"

// ErrLocked reports a directory locked by another process.
var ErrLocked = errors.New("in use by another process")

// DirLock is an exclusive lock on a directory, held by this process until
// Close (or its exit: the operating system drops the lock of a process that
// dies, so a killed process leaves no lock behind, only the file with its
// pid). Where the operating system offers no file locks it holds nothing.
type DirLock struct {
	f    *os.File
	path string
}

// LockDir takes the lock of dir (the file dir/run.lock, which records the
// holder's pid). When another process holds it the error wraps ErrLocked
// and names that process's pid.
func LockDir(dir string) (*DirLock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	held, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !held {
		pid := "unknown"
		if b, err := os.ReadFile(path); err == nil {
			if p, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil {
				pid = strconv.Itoa(p)
			}
		}
		f.Close()
		return nil, fmt.Errorf("%s is %w: pid %s holds %s (stop that process, or use another directory)", dir, ErrLocked, pid, path)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &DirLock{f: f, path: path}, nil
}

// Close releases the lock. It is idempotent.
func (l *DirLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	_ = f.Truncate(0) // no pid: nobody holds it
	return f.Close()  // closing the descriptor drops the lock
}
