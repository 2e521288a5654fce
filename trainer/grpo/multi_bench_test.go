package grpo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model/ort"
)

// BenchmarkTrainerDevices compares the trainer's GRPO step on one CPU
// device (one intra-op thread) and on two (two replicas, one thread each)
// for the default model and batch: the tiny Qwen2-VL of default.yaml, 8
// prompts x G=8, 12 new tokens, the KL reference pass, trained in 2
// micro-batches of 32 rows (default.yaml trains all 64 rows as one
// micro-batch, which one device would run alone). Both trainers are held
// in one process and step in turn (A B B A ...), each through the same
// steps' prompts; it reports the medians over the pairs of the 2-device /
// 1-device ratios of the rollout tokens per second (rollout-x, from
// metrics.jsonl's rollout_tokens_per_s) and of GRPO steps per second
// (step-x), of the rest of the step (update-x: rewards, reference pass,
// micro-batches, all-reduce, AdamW), and each setting's median rollout
// tokens/s and steps/s.
//
// The ratios mean something only on an otherwise idle machine:
//
//	go test ./trainer/grpo -run '^$' -bench BenchmarkTrainerDevices -benchtime 10x
func BenchmarkTrainerDevices(b *testing.B) {
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		b.Skipf("ONNX Runtime not installed: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	rt.Close()
	ctx := context.Background()
	open := func(devices string) *Trainer {
		cfg, err := configs.Load(nil, []string{"run_dir=" + b.TempDir(), "data.dir=" + sharedData, "data.synthetic_videos=5", "data.heldout_videos=2",
			"data.use_sample_videos=false", "data.train_samples=60", "viubench.per_subtype=2", "grpo.steps=1000", "grpo.dynamic_sampling=false", "grpo.micro_batch_rows=32",
			"device.intra_op_threads=1", "device.rollout_threads=1", "device.devices=" + devices})
		if err != nil {
			b.Fatal(err)
		}
		t, err := newTrainer(ctx, cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { t.Close() })
		t.state.Phase = "grpo"
		if cfg.GRPO.KLCoef > 0 {
			if err := t.freezeReference(); err != nil {
				b.Fatal(err)
			}
		}
		if err := t.newOptimizer(); err != nil {
			b.Fatal(err)
		}
		return t
	}
	trainers := []*Trainer{open("[0]"), open("[0, 1]")}
	step := func(i, k int) StepStats {
		st, err := trainers[i].grpoStep(ctx, k)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	// One step each to warm up the sessions' arenas.
	step(0, 0)
	step(1, 0)
	b.ResetTimer()
	var roll, upd, steps, tok1, tok2, sps1, sps2 []float64
	for k := range b.N {
		var st [2]StepStats
		order := []int{0, 1}
		if k%2 == 1 {
			order = []int{1, 0}
		}
		for _, i := range order {
			st[i] = step(i, k+1)
		}
		roll = append(roll, st[1].RolloutTokensPerS/st[0].RolloutTokensPerS)
		steps = append(steps, st[0].Seconds/st[1].Seconds)
		upd = append(upd, (st[0].Seconds-st[0].RolloutSeconds)/(st[1].Seconds-st[1].RolloutSeconds))
		tok1, tok2 = append(tok1, st[0].RolloutTokensPerS), append(tok2, st[1].RolloutTokensPerS)
		sps1, sps2 = append(sps1, 1/st[0].Seconds), append(sps2, 1/st[1].Seconds)
		if st[1].Devices != 2 {
			b.Fatalf("step %d: %d devices rolled out on the 2-device trainer", k+1, st[1].Devices)
		}
	}
	b.ReportMetric(median(roll), "rollout-x")
	b.ReportMetric(median(upd), "update-x")
	b.ReportMetric(median(steps), "step-x")
	b.ReportMetric(median(tok1), "tok/s-1dev")
	b.ReportMetric(median(tok2), "tok/s-2dev")
	b.ReportMetric(median(sps1), "steps/s-1dev")
	b.ReportMetric(median(sps2), "steps/s-2dev")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}
