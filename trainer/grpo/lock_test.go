package grpo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/dataset"
)

// TestLockDirRefusesASecondHolder: a run on a directory another holder has
// locked is refused before any work, naming the directory (the lock itself,
// across processes, is tested in tasks/dataset).
func TestLockDirRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := dataset.LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dataset.LockDir(dir)
	if !errors.Is(err, dataset.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	// A run on the directory is refused before any work.
	_, err = Run(context.Background(), smallConfig(t, dir), Options{})
	if !errors.Is(err, dataset.ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("run on a locked directory: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := dataset.LockDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Unlock()
}
