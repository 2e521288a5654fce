package grpo

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// The trainer on several CPU "devices" (device.devices: separate sessions
// and memory, one intra-op thread each) against one device.

// recordRollout keeps the samples of a Rollout's first call (the first
// GRPO step's) and can run a function after each call.
type recordRollout struct {
	Rollout
	samples []rollout.Sample
	calls   int
	after   func(call int)
}

func (r *recordRollout) Generate(ctx context.Context, ps []rollout.Prompt, g int, s rollout.Sampling, seed uint64, chunk int) ([]rollout.Sample, rollout.ShardStats, error) {
	out, st, err := r.Rollout.Generate(ctx, ps, g, s, seed, chunk)
	if r.samples == nil {
		r.samples = slices.Clone(out)
	}
	if r.after != nil {
		r.after(r.calls)
	}
	r.calls++
	return out, st, err
}

// devicesConfig is the tiny job of the multi-device tests: a warm-up of
// two micro-batches, 20 GRPO steps of 2 prompts x 4 responses in 2
// micro-batches with the KL term (one micro-batch per device: the
// gradient sum in one device's order), rollouts in packs of one prompt (the
// samples do not depend on the device count), one intra-op thread.
func devicesConfig(t *testing.T, dir string, sets ...string) []string {
	return append([]string{"run_dir=" + dir, "sft.steps=2", "sft.batch_size=8", "grpo.steps=20", "grpo.batch_prompts=2", "grpo.group_size=4",
		"grpo.micro_batch_rows=4", "grpo.optim.lr=0.001", "checkpoint.every=5", "eval.before=false", "rollout.chunk_prompts=1",
		"device.intra_op_threads=1", "device.resident=true"}, sets...)
}

// TestDevicesMatchOneDevice runs the same job on one device and on two:
// the first GRPO step samples the same tokens and log-probs, the final
// weights agree within 1e-6 relative per tensor, metrics.jsonl records
// the devices and each one's rollout throughput; and the two-device run
// stopped after 10 GRPO steps and resumed ends with the same weights, bit
// for bit, as the uninterrupted one.
func TestDevicesMatchOneDevice(t *testing.T) {
	if testing.Short() {
		t.Skip("three 20-step runs")
	}
	needNative(t)
	run := func(dir string, opt Options, sets ...string) (*recordRollout, error) {
		cfg := smallConfig(t, dir, devicesConfig(t, dir, sets...)...)
		rec := &recordRollout{}
		opt.wrapRollout = func(r Rollout) Rollout { rec.Rollout = r; return rec }
		_, err := Run(context.Background(), cfg, opt)
		return rec, err
	}
	oneDir, twoDir, resDir := t.TempDir(), t.TempDir(), t.TempDir()
	one, err := run(oneDir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	two, err := run(twoDir, Options{}, "device.devices=[0, 1]")
	if err != nil {
		t.Fatal(err)
	}

	if len(one.samples) == 0 || len(one.samples) != len(two.samples) {
		t.Fatalf("first step: %d samples on one device, %d on two", len(one.samples), len(two.samples))
	}
	for i := range one.samples {
		a, b := one.samples[i], two.samples[i]
		if a.Prompt != b.Prompt || a.Row != b.Row || !slices.Equal(a.Tokens, b.Tokens) {
			t.Fatalf("first step, sample %d: two devices sampled %d/%d %v, one device %d/%d %v", i, b.Prompt, b.Row, b.Tokens, a.Prompt, a.Row, a.Tokens)
		}
		for k := range a.LogProbs {
			if d := math.Abs(a.LogProbs[k] - b.LogProbs[k]); d > 1e-6*(1+math.Abs(a.LogProbs[k])) {
				t.Fatalf("first step, sample %d token %d: log-prob %v on two devices, %v on one", i, k, b.LogProbs[k], a.LogProbs[k])
			}
		}
	}

	ow, tw := finalParams(t, oneDir), finalParams(t, twoDir)
	start := finalParamsInit(t, oneDir)
	worst, moved := 0.0, 0.0
	for _, op := range ow.Params() {
		tp, ok := tw.Get(op.Name)
		if !ok {
			t.Fatalf("two-device run lacks %s", op.Name)
		}
		sp, _ := start.Get(op.Name)
		var diff, scale, change float64
		for i, x := range op.Data {
			diff = math.Max(diff, math.Abs(float64(x-tp.Data[i])))
			scale = math.Max(scale, math.Abs(float64(x)))
			change = math.Max(change, math.Abs(float64(x-sp.Data[i])))
		}
		r := diff / math.Max(scale, 1e-30)
		worst = math.Max(worst, r)
		moved = math.Max(moved, change/math.Max(scale, 1e-30))
		if r > 1e-6 {
			t.Errorf("%s: weights on two devices differ from one device's by %.3g relative after 20 GRPO steps", op.Name, r)
		}
	}
	if moved < 1e-4 {
		t.Fatalf("GRPO moved the weights by at most %.3g relative: the comparison proves nothing", moved)
	}
	t.Logf("after 20 GRPO steps: worst relative weight difference, 2 devices vs 1: %.3g (GRPO moved them by up to %.3g)", worst, moved)

	for _, c := range []struct {
		dir     string
		devices float64
		perDev  []string
	}{
		{oneDir, 1, nil},
		{twoDir, 2, []string{metrics.DeviceRolloutTokensPerS(0), metrics.DeviceRolloutTokensPerS(1)}},
	} {
		recs, err := metrics.ReadFile(filepath.Join(c.dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		grpoSteps := 0
		for _, r := range recs {
			if r.Phase != "grpo" {
				continue
			}
			grpoSteps++
			if r.Values[metrics.Devices] != c.devices || r.Values[metrics.RolloutTokensPerS] <= 0 {
				t.Fatalf("%d devices, step %d: devices %v, rollout_tokens_per_s %v", int(c.devices), r.Step, r.Values[metrics.Devices], r.Values[metrics.RolloutTokensPerS])
			}
			for _, k := range c.perDev {
				if r.Values[k] <= 0 {
					t.Fatalf("%d devices, step %d: %s = %v", int(c.devices), r.Step, k, r.Values[k])
				}
			}
			for k := range r.Values {
				if c.perDev == nil && strings.HasPrefix(k, metrics.RolloutTokensPerS+"/") {
					t.Fatalf("one device logged %s", k)
				}
			}
		}
		if grpoSteps != 20 {
			t.Fatalf("%d GRPO records, want 20", grpoSteps)
		}
	}

	// Exact resume on two devices.
	if _, err := run(resDir, Options{StopAfter: 10}, "device.devices=[0, 1]"); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	if _, err := run(resDir, Options{Resume: true}, "device.devices=[0, 1]"); err != nil {
		t.Fatal(err)
	}
	rw := finalParams(t, resDir)
	for _, p := range tw.Params() {
		q, _ := rw.Get(p.Name)
		if q == nil || !slices.Equal(p.Data, q.Data) {
			t.Fatalf("%s: the resumed two-device run ends with other weights than the uninterrupted one", p.Name)
		}
	}
}

// TestDeviceFailureNamesDevice: on two CPU devices, replica 1 lost before
// a GRPO step's rollout or after it (the reference pass and the update),
// or holding other weights than replica 0 at a checkpoint, stops the run
// with an error naming device 1; the last checkpoint is left byte for byte
// as it was.
func TestDeviceFailureNamesDevice(t *testing.T) {
	needNative(t)
	for _, tc := range []struct {
		name string
		// when returns the hook and the rollout callback that break
		// replica 1 of reps during GRPO step 1 (the second).
		when func(reps **model.Replicas) (hook func(string, int), after func(int))
		want string
	}{
		{"rollout", func(reps **model.Replicas) (func(string, int), func(int)) {
			return func(point string, step int) {
				if point == "grpo/rollout" && step == 1 {
					(*reps).Policy(1).Close()
				}
			}, nil
		}, "device 1 (cpu#1): "},
		{"update", func(reps **model.Replicas) (func(string, int), func(int)) {
			return nil, func(call int) {
				if call == 1 {
					(*reps).Policy(1).Close()
				}
			}
		}, "device 1 (cpu#1): "},
		{"mismatch", func(reps **model.Replicas) (func(string, int), func(int)) {
			return func(point string, step int) {
				if point == "grpo/rollout" && step == 1 {
					// Replica 1 gets one weight changed.
					p := (*reps).Store().Params()[0]
					p.Data[0] += 0.5
					if err := (*reps).Policy(1).UploadWeights(); err != nil {
						t.Error(err)
					}
					p.Data[0] -= 0.5
				}
			}, nil
		}, "checkpoint: device 1 (cpu#1): replicas differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig(t, dir, devicesConfig(t, dir, "sft.steps=1", "grpo.steps=2", "checkpoint.every=1", "device.devices=[0, 1]")...)
			var reps *model.Replicas
			hook, after := tc.when(&reps)
			var before map[string][]byte
			opt := Options{onReplicas: func(r *model.Replicas) { reps = r }}
			opt.hook = func(point string, step int) {
				if point == "grpo/rollout" && step == 1 {
					before = dirFiles(t, dir)
				}
				if hook != nil {
					hook(point, step)
				}
			}
			opt.wrapRollout = func(r Rollout) Rollout { return &recordRollout{Rollout: r, after: after} }
			_, err := Run(context.Background(), cfg, opt)
			var de *model.DeviceError
			if err == nil || !errors.As(err, &de) || de.Replica != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run with device 1 failing: %v (want %q)", err, tc.want)
			}
			if tc.name == "mismatch" && !errors.Is(err, model.ErrReplicaMismatch) {
				t.Fatalf("mismatch not reported as ErrReplicaMismatch: %v", err)
			}
			t.Logf("%s: %v", tc.name, err)
			ck, err := LatestCheckpoint(dir)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(ck) != "1-grpo-000001" {
				t.Fatalf("latest checkpoint %s, want the one after GRPO step 1", ck)
			}
			now := dirFiles(t, dir)
			for name, b := range before {
				if !slices.Equal(now[name], b) {
					t.Fatalf("%s changed by the failed step", name)
				}
			}
			if len(now) != len(before) {
				t.Fatalf("the failed step left %d files in checkpoints/, %d before", len(now), len(before))
			}
		})
	}
}

// dirFiles reads every file under runDir/checkpoints.
func dirFiles(t *testing.T, runDir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	root := filepath.Join(runDir, ckptDir)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[strings.TrimPrefix(p, root)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
