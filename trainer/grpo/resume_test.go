package grpo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// interruptConfig is the run the interruption tests stop and resume: six
// warm-up steps (no periodic warm-up checkpoint), four GRPO steps with a
// checkpoint every second one and two optimizer steps each, evaluations
// before and after.
func interruptConfig(t *testing.T, runDir string, sets ...string) *configs.Config {
	return smallConfig(t, runDir, append([]string{"sft.steps=6", "sft.batch_size=4", "grpo.steps=4", "grpo.mini_batches=2", "checkpoint.every=2", "eval.before=true"}, sets...)...)
}

// stopAt is a place to cancel a run: the first time the run reaches point
// at step (see Options.hook).
type stopAt struct {
	point string
	step  int
	// crash stops the run there as a kill would: nothing of the run
	// after that point happens (but for its deferred Close).
	crash bool
	// stopAfter, instead of a point, stops the run after this many GRPO
	// steps (Options.StopAfter).
	stopAfter int
}

// errCrash is the panic of a simulated crash.
var errCrash = errors.New("simulated crash")

func (s stopAt) String() string {
	if s.stopAfter > 0 {
		return fmt.Sprintf("StopAfter %d", s.stopAfter)
	}
	if s.crash {
		return fmt.Sprintf("crash at %s@%d", s.point, s.step)
	}
	return fmt.Sprintf("%s@%d", s.point, s.step)
}

// stoppedRun is what runUntil reports of a run.
type stoppedRun struct {
	err error
	// saved is the state.json of the last checkpoint written before the
	// stop (nil: none); written names every checkpoint written, in order.
	saved   []byte
	written []string
}

// runUntil runs (or resumes) the run in dir, with the config overrides
// sets, and stops it at s.
func runUntil(t *testing.T, dir string, resume bool, s stopAt, sets ...string) stoppedRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var saved []byte
	var written []string
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
			written = append(written, filepath.Base(name))
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
		_, err = Run(ctx, interruptConfig(t, dir, sets...), Options{Resume: resume, hook: hook, StopAfter: s.stopAfter})
		return err
	}()
	if !stopped && s.stopAfter == 0 {
		t.Fatalf("%s: the run never reached the stop point (err %v)", s, err)
	}
	return stoppedRun{err: err, saved: saved, written: written}
}

// TestInterruptAnywhereResumesExactly cancels a run at one point after
// another (inside a warm-up step, during the evaluation before GRPO, inside
// the rollouts of the first GRPO step, between the two optimizer steps of a
// GRPO step, inside the last GRPO step, right after the last periodic
// checkpoint) and kills it once in the middle of rewriting a checkpoint,
// resuming after each, and checks that the final weights are bit-identical
// to those of an uninterrupted run. It does so on the device-resident path
// (weights, gradients and AdamW state on the device: a checkpoint copies
// them to the host, a resume uploads them) and, at fewer stop points, on
// the host-fed one.
func TestInterruptAnywhereResumesExactly(t *testing.T) {
	needNative(t)
	all := []stopAt{
		{point: "sft", step: 3},  // inside warm-up step 3, its batch drawn
		{point: "eval", step: 0}, // the evaluation before GRPO
		// killed between moving the old 1-grpo-000000 aside and renaming
		// the new one in (the stopped run wrote it without the evaluation)
		{point: "swap", step: 0, crash: true},
		{point: "grpo/rollout", step: 0}, // inside GRPO step 0, its prompts drawn
		{stopAfter: 1},                   // Options.StopAfter: between steps 0 and 1
		{point: "grpo/update", step: 1},  // between the optimizer steps of GRPO step 1
		{point: "grpo/rollout", step: 3}, // inside the last GRPO step
		{point: "checkpoint", step: 4},   // right after the last periodic checkpoint
	}
	// The other path than the default one: a warm-up checkpoint, a crash
	// inside GRPO's first checkpoint and a stop between optimizer steps.
	some := []stopAt{all[0], all[2], all[5]}
	def, err := configs.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, resident := range []bool{true, false} {
		name, stops := map[bool]string{true: "resident", false: "host"}[resident], all
		if resident != def.Device.Resident {
			stops = some
		}
		t.Run(name, func(t *testing.T) {
			if resident != def.Device.Resident && testing.Short() {
				t.Skip("the path that is not the default runs without -short")
			}
			interruptAnywhere(t, stops, "device.resident="+strconv.FormatBool(resident))
		})
	}
}

// interruptAnywhere stops and resumes a run at stops (in the order a run
// reaches them) and compares its final weights with an uninterrupted run's.
func interruptAnywhere(t *testing.T, stops []stopAt, sets ...string) {
	straight := t.TempDir()
	if _, err := Run(context.Background(), interruptConfig(t, straight, sets...), Options{}); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	for i, s := range stops {
		err := runUntil(t, split, i > 0, s, sets...).err
		if s.crash {
			if !errors.Is(err, errCrash) {
				t.Fatalf("%s: want a crash, got %v", s, err)
			}
			continue
		}
		if !errors.Is(err, ErrStopped) || errors.Is(err, context.Canceled) != (s.stopAfter == 0) {
			t.Fatalf("%s: want a stopped run, got %v", s, err)
		}
		if _, err := LatestCheckpoint(split); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := Run(context.Background(), interruptConfig(t, split, sets...), Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	final := finalParams(t, straight)
	if final.Checksum() != finalParams(t, split).Checksum() {
		t.Fatalf("interrupted at %v and resumed, the final weights differ from an uninterrupted run's", stops)
	}
	// GRPO changed the weights (so equal weights are no accident): the
	// reference is the policy as GRPO started.
	ck, err := LatestCheckpoint(straight)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := params.Load(filepath.Join(ck, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Checksum() == final.Checksum() {
		t.Fatal("GRPO left the weights as they were")
	}
	// Metrics hold each step once.
	recs, err := metrics.ReadFile(filepath.Join(split, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, r := range recs {
		if r.Phase == "eval" {
			continue
		}
		if seen[r.Step] {
			t.Fatalf("step %d logged twice after resuming", r.Step)
		}
		seen[r.Step] = true
	}
	if len(seen) != 6+4 {
		t.Fatalf("%d steps logged, want 10", len(seen))
	}
}

// TestStopKeepsThePeriodicCheckpoint: a run stopped inside the step after a
// periodic checkpoint leaves that checkpoint as it was written. Before
// that, the first GRPO checkpoint was written once, after the evaluation.
func TestStopKeepsThePeriodicCheckpoint(t *testing.T) {
	needNative(t)
	dir := t.TempDir()
	r := runUntil(t, dir, false, stopAt{point: "grpo/rollout", step: 2})
	if !errors.Is(r.err, ErrStopped) {
		t.Fatalf("want a stopped run, got %v", r.err)
	}
	if want := []string{"1-grpo-000000", "1-grpo-000002"}; !slices.Equal(r.written, want) {
		t.Errorf("checkpoints written %v, want %v", r.written, want)
	}
	saved := r.saved
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
