package grpo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/videossr/videossr-go/configs"
)

// interruptConfig is the run the interruption tests stop and resume: six
// warm-up steps (no periodic warm-up checkpoint), four GRPO steps with a
// checkpoint every second one and two optimizer steps each, evaluations
// before and after.
func interruptConfig(t *testing.T, runDir string) *configs.Config {
	return smallConfig(t, runDir, "sft.steps=6", "sft.batch_size=4", "grpo.steps=4", "grpo.mini_batches=2", "checkpoint.every=2", "eval.before=true")
}

// stopAt is a place to cancel a run: the first time the run reaches point
// at step (see Options.hook).
type stopAt struct {
	point string
	step  int
	// crash stops the run there as a kill would: nothing of the run
	// after that point happens (but for its deferred Close).
	crash bool
}

// errCrash is the panic of a simulated crash.
var errCrash = errors.New("simulated crash")

func (s stopAt) String() string {
	if s.crash {
		return fmt.Sprintf("crash at %s@%d", s.point, s.step)
	}
	return fmt.Sprintf("%s@%d", s.point, s.step)
}

// runUntil runs (or resumes) the run in dir and cancels its context at s.
// It returns the run's error and the state.json bytes of the last
// checkpoint the run wrote before the cancel (nil: none).
func runUntil(t *testing.T, dir string, resume bool, s stopAt) (error, []byte) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var saved []byte
	stopped := false
	hook := func(point string, step int) {
		if stopped {
			return
		}
		if point == "checkpoint" {
			name, err := LatestCheckpoint(dir)
			if err != nil {
				t.Errorf("%s: after a checkpoint: %v", s, err)
				return
			}
			if saved, err = os.ReadFile(filepath.Join(name, "state.json")); err != nil {
				t.Errorf("%s: %v", s, err)
			}
		}
		if point == s.point && step == s.step {
			stopped = true
			if s.crash {
				panic(errCrash)
			}
			cancel()
		}
	}
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r != errCrash {
					panic(r)
				}
				err = errCrash
			}
		}()
		_, err = Run(ctx, interruptConfig(t, dir), Options{Resume: resume, hook: hook})
		return err
	}()
	if !stopped {
		t.Fatalf("%s: the run never reached the stop point (err %v)", s, err)
	}
	return err, saved
}

// TestInterruptAnywhereResumesExactly cancels a run at one point after
// another (inside a warm-up step, during the evaluation before GRPO, inside
// the rollouts of the first GRPO step, between the two optimizer steps of a
// GRPO step, inside the last GRPO step, right after the last periodic
// checkpoint) and kills it once in the middle of rewriting a checkpoint,
// resuming after each, and checks that the final weights are bit-identical
// to those of an uninterrupted run.
func TestInterruptAnywhereResumesExactly(t *testing.T) {
	needNative(t)
	straight := t.TempDir()
	if _, err := Run(context.Background(), interruptConfig(t, straight), Options{}); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	stops := []stopAt{
		{point: "sft", step: 3},  // inside warm-up step 3, its batch drawn
		{point: "eval", step: 0}, // the evaluation before GRPO
		// killed between moving the old 1-grpo-000000 aside and renaming
		// the new one in (the stopped run wrote it without the evaluation)
		{point: "swap", step: 0, crash: true},
		{point: "grpo/rollout", step: 0}, // inside GRPO step 0, its prompts drawn
		{point: "grpo/update", step: 1},  // between the optimizer steps of GRPO step 1
		{point: "grpo/rollout", step: 3}, // inside the last GRPO step
		{point: "checkpoint", step: 4},   // right after the last periodic checkpoint
	}
	for i, s := range stops {
		err, _ := runUntil(t, split, i > 0, s)
		if s.crash {
			if !errors.Is(err, errCrash) {
				t.Fatalf("%s: want a crash, got %v", s, err)
			}
			continue
		}
		if !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: want a stopped run, got %v", s, err)
		}
		if _, err := LatestCheckpoint(split); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := Run(context.Background(), interruptConfig(t, split), Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	if finalParams(t, straight).Checksum() != finalParams(t, split).Checksum() {
		t.Fatalf("interrupted at %v and resumed, the final weights differ from an uninterrupted run's", stops)
	}
}

// TestStopKeepsThePeriodicCheckpoint: a run stopped inside the step after a
// periodic checkpoint leaves that checkpoint as it was written.
func TestStopKeepsThePeriodicCheckpoint(t *testing.T) {
	needNative(t)
	dir := t.TempDir()
	err, saved := runUntil(t, dir, false, stopAt{point: "grpo/rollout", step: 2})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("want a stopped run, got %v", err)
	}
	ck, err := LatestCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(ck) != "1-grpo-000002" {
		t.Fatalf("latest is %s, want the periodic 1-grpo-000002", ck)
	}
	got, err := os.ReadFile(filepath.Join(ck, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if saved == nil || !bytes.Equal(got, saved) {
		t.Fatalf("the stop replaced the periodic checkpoint's state:\nwritten %s\nnow %s", saved, got)
	}
}
