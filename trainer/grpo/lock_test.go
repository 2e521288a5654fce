package grpo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockDirRefusesASecondHolder: a second lock on a directory (another
// open file, as another process would have) is refused naming the holder's
// pid; once released the directory can be locked again.
func TestLockDirRefusesASecondHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second lock: %v", err)
	}
	// A run on the directory is refused before any work.
	_, err = Run(context.Background(), smallConfig(t, dir), Options{})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("run on a locked directory: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Close()
}

// TestLockHelperProcess is the process TestLockAcrossProcesses starts: it
// locks GRPO_TEST_LOCK_DIR, says so, and waits to be killed.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv("GRPO_TEST_LOCK_DIR")
	if dir == "" {
		t.Skip("helper process of TestLockAcrossProcesses")
	}
	os.RemoveAll(sharedData) // this process's own; it never returns to TestMain
	if _, err := LockDir(dir); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin) // until killed
	os.Exit(0)
}

// TestLockAcrossProcesses: a directory locked by another process is refused
// naming that process; once it is killed, the lock file with its dead pid
// does not block.
func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), "GRPO_TEST_LOCK_DIR="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		cmd.Process.Kill()
		t.Fatalf("helper: %q %v", line, err)
	}
	_, err = LockDir(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid)) {
		t.Errorf("lock held by pid %d: %v", cmd.Process.Pid, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	b, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if strings.TrimSpace(string(b)) != strconv.Itoa(cmd.Process.Pid) {
		t.Fatalf("lock file holds %q, want the killed pid %d", b, cmd.Process.Pid)
	}
	l, err := LockDir(dir)
	if err != nil {
		t.Fatalf("stale lock of a killed process blocks: %v", err)
	}
	l.Close()
}
