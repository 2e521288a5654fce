package dataset

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLockHolderProcess is not a test: TestLockDir runs the test binary
// with LOCK_HOLDER_DIR set to take the lock in a second process and keep
// it until killed.
func TestLockHolderProcess(t *testing.T) {
	dir := os.Getenv("LOCK_HOLDER_DIR")
	if dir == "" {
		t.Skip("helper process for TestLockDir")
	}
	if _, err := LockDir(dir); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	time.Sleep(time.Minute)
	os.Exit(0)
}

// TestLockDir: a directory locked by another process is refused with that
// process's pid; once the holder is killed (no clean-up), the lock is free.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), "LOCK_HOLDER_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", cmd.Process.Pid)) {
		t.Fatalf("second locker: %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}
	// A build into the held directory is refused before it writes.
	if _, err := Build(t.Context(), genPlan(t, fakeInputs(1), Shard{0, 1}), Options{Out: dir, Backend: testBackend{fakeLoader()}}); !errors.Is(err, ErrLocked) {
		t.Fatalf("build into a locked directory: %v", err)
	}
	if _, err := os.Stat(dir + "/" + RunName); err == nil {
		t.Fatal("the refused build wrote run.json")
	}
	// SIGKILL: the holder cannot clean up; its lock file stays behind.
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(dir + "/" + LockName); err != nil {
		t.Fatalf("stale lock file: %v", err)
	}
	l, err := LockDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	// In one process, a second lock on the same directory is refused too,
	// and Unlock frees it.
	if _, err := LockDir(dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("process %d", os.Getpid())) {
		t.Fatalf("second lock in one process: %v", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l, err = LockDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	l.Unlock()
	l.Unlock() // idempotent
}
