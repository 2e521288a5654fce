package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/tasks/video"
)

// TestMainChildProcess is the trainer process the signal tests start
// (TRAINER_TEST_CHILD set): "train" runs the command line in
// TRAINER_TEST_ARGS (JSON) as main does; "hang" stands for a command that
// does not return after the first signal (a read that never ends).
func TestMainChildProcess(t *testing.T) {
	mode := os.Getenv("TRAINER_TEST_CHILD")
	if mode == "" {
		t.Skip("child process of the signal tests")
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	ctx, stop := notifyStop(context.Background(), os.Stderr, os.Exit, os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch mode {
	case "hang":
		fmt.Fprintln(os.Stderr, "ready")
		<-ctx.Done()
		time.Sleep(time.Hour) // stuck: only a second signal ends it
	case "train":
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("TRAINER_TEST_ARGS")), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(execute(ctx, newRootCmd(), args, os.Stderr))
	}
	os.Exit(2)
}

// child starts this test binary as TestMainChildProcess in mode with the
// trainer arguments args; its stderr goes to the returned pipe.
func child(t *testing.T, mode string, args ...string) (*exec.Cmd, io.Reader) {
	t.Helper()
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainChildProcess$")
	cmd.Env = append(os.Environ(), "TRAINER_TEST_CHILD="+mode, "TRAINER_TEST_ARGS="+string(js))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stderr
}

// waitExit waits for cmd and returns its exit code; a process that does not
// end within limit is killed and fails the test.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration, why string) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the process did not end %s", why)
	}
	return -1
}

// TestSecondSignalQuitsAtOnce: while the first Ctrl-C is still being
// handled (here: never finishes), a second one ends the process with exit
// code 130.
func TestSecondSignalQuitsAtOnce(t *testing.T) {
	cmd, stderr := child(t, "hang")
	lines := bufio.NewScanner(stderr)
	waitLine := func(prefix string) {
		t.Helper()
		for lines.Scan() {
			if strings.Contains(lines.Text(), prefix) {
				return
			}
		}
		t.Fatalf("child ended before printing %q", prefix)
	}
	waitLine("ready")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	waitLine("stopping")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stderr)
	if code := waitExit(t, cmd, time.Minute, "on a second SIGINT"); code != 130 {
		t.Fatalf("exit code %d, want 130", code)
	}
}

// TestSIGINTThenResumeIsExact breaks a training run the way a user does (a
// SIGINT to the trainer process in the middle of GRPO), resumes it with
// --resume, and checks the final weights against an uninterrupted run's.
func TestSIGINTThenResumeIsExact(t *testing.T) {
	if testing.Short() {
		t.Skip("trains three small runs")
	}
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	if _, err := video.Synthesize(video.DefaultSynthOptions()); err != nil {
		t.Skipf("no video support: %v", err)
	}
	data := t.TempDir()
	args := func(runDir string) []string {
		a := []string{"--quiet", "--run-dir", runDir}
		for _, s := range []string{
			"data.dir=" + data, "data.synthetic_videos=3", "data.heldout_videos=1", "data.use_sample_videos=false",
			"data.train_samples=24", "viubench.per_subtype=1", "sft.steps=2", "sft.batch_size=4", "eval.before=false",
			"grpo.steps=5", "grpo.dynamic_sampling=false", "grpo.batch_prompts=2", "grpo.group_size=4", "grpo.micro_batch_rows=16",
			"checkpoint.every=3", "device.intra_op_threads=2",
		} {
			a = append(a, "--set", s)
		}
		return a
	}
	run := func(a []string) {
		t.Helper()
		root := newRootCmd()
		root.SetOut(io.Discard)
		var errb bytes.Buffer
		if code := execute(context.Background(), root, a, &errb); code != 0 {
			t.Fatalf("trainer %v: exit code %d: %s", a, code, errb.String())
		}
	}
	straight, split := t.TempDir(), t.TempDir()
	run(args(straight))

	// The trainer process, interrupted once its first GRPO step is logged.
	cmd, stderr := child(t, "train", args(split)...)
	var mu sync.Mutex
	var errb bytes.Buffer
	go func() {
		b, _ := io.ReadAll(stderr)
		mu.Lock()
		errb.Write(b)
		mu.Unlock()
	}()
	metrics := filepath.Join(split, "metrics.jsonl")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		b, _ := os.ReadFile(metrics)
		if bytes.Count(b, []byte(`"phase":"grpo"`)) >= 1 {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatal("the run did not reach its first GRPO step")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code := waitExit(t, cmd, 2*time.Minute, "after a SIGINT")
	mu.Lock()
	out := errb.String()
	mu.Unlock()
	if code != 130 || !strings.Contains(out, "--resume "+split) {
		t.Fatalf("exit code %d (want 130), output:\n%s", code, out)
	}
	run([]string{"--quiet", "--resume", split})

	a, err := params.Load(filepath.Join(straight, "final", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := params.Load(filepath.Join(split, "final", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Checksum() != b.Checksum() {
		t.Fatal("interrupted by SIGINT and resumed, the final weights differ from an uninterrupted run's")
	}
}
