package grpo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// TestMemoryPlanRefusedOnCPU: a batch far beyond the RAM is refused by the
// memory plan before any data is generated (on CPU it used to be a
// warning, then the warm-up ran and the kernel killed the process), and
// the error says what to lower.
func TestMemoryPlanRefusedOnCPU(t *testing.T) {
	run := t.TempDir()
	data := filepath.Join(t.TempDir(), "data")
	cfg := smallConfig(t, run, "grpo.batch_prompts=1000000000", "data.dir="+data)
	_, err := Run(context.Background(), cfg, Options{})
	if !errors.Is(err, model.ErrOutOfMemory) {
		t.Fatalf("error %v, want the memory plan's refusal", err)
	}
	for _, w := range []string{"device.provider cpu", "RAM available", "largest item is the rollout arenas", "rollout.chunk_prompts", "grpo.group_size"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data folder exists after the refusal (%v): data generation ran", err)
	}
}

// TestMemoryPlanOverflowRefused: sizes whose plan does not fit in int64
// bytes are refused with the sizes to lower (they used to wrap around).
func TestMemoryPlanOverflowRefused(t *testing.T) {
	cfg := smallConfig(t, t.TempDir(), "grpo.batch_prompts=1099511627776", "grpo.group_size=1048576", "grpo.micro_batch_rows=1099511627776")
	_, err := Run(context.Background(), cfg, Options{})
	if !errors.Is(err, model.ErrOutOfMemory) || !strings.Contains(err.Error(), "grpo.batch_prompts") || !strings.Contains(err.Error(), "4 EiB") {
		t.Fatalf("error %v, want a refusal naming grpo.batch_prompts", err)
	}
}

// TestRunWithoutHeldout: with data.heldout_videos 0 the run trains, says
// once that the VIUBench evaluations are skipped, and reports no scores
// (it used to stop at data preparation: "no held-out videos").
func TestRunWithoutHeldout(t *testing.T) {
	needNative(t)
	run := t.TempDir()
	cfg := smallConfig(t, run, "data.heldout_videos=0", "data.synthetic_videos=3", "sft.steps=2", "grpo.steps=2", "eval.every=1", "checkpoint.every=0")
	var logs, out bytes.Buffer
	res, err := Run(context.Background(), cfg, Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Before != nil || res.After != nil || res.Steps != 2 {
		t.Errorf("result before %v after %v steps %d", res.Before, res.After, res.Steps)
	}
	if n := strings.Count(logs.String(), "no held-out VIUBench"); n != 1 {
		t.Errorf("%d log lines about the skipped VIUBench, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(out.String(), "no held-out VIUBench (data.heldout_videos is 0)") {
		t.Errorf("summary: %s", out.String())
	}
	recs, err := metrics.ReadFile(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Phase == "eval" {
			t.Errorf("eval record without a benchmark: %+v", r)
		}
	}
	if _, err := os.Stat(filepath.Join(run, "final", "model.safetensors")); err != nil {
		t.Error(err)
	}
}

// TestPaperConfigStarts runs the shipped paper config on CPU from a
// synthetic HF folder (the tiny model's weights) and two videos of its own
// (the config takes your videos: data.videos), for one GRPO step. Only
// the device, the model, the videos and the sizes that make it a short
// run are changed; the data settings (48 frames at 256x256, no held-out
// VIUBench, no sample videos) and the algorithm are the file's.
func TestPaperConfigStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("48-frame data and a 2,000-token prompt (about 20 s)")
	}
	needNative(t)
	hf, _ := writeHFFolder(t, safetensors.BF16)
	vids := t.TempDir()
	for i := range 2 {
		opt := video.DefaultSynthOptions()
		opt.Seed = uint64(i + 1)
		if err := video.MakeSyntheticVideo(context.Background(), filepath.Join(vids, fmt.Sprintf("v%d.avi", i)), opt); err != nil {
			t.Fatal(err)
		}
	}
	run := t.TempDir()
	cfg, err := configs.Load([]string{"../../configs/videossr-qwen3vl8b.yaml"}, []string{
		"model.path=" + hf, "device.provider=cpu", "device.intra_op_threads=2", "data.videos=[" + vids + "]",
		"run_dir=" + run, "data.train_samples=6", "grpo.steps=1", "grpo.batch_prompts=2", "grpo.group_size=2",
		"rollout.max_new_tokens=4",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data.HeldoutVideos != 0 || cfg.Data.UseSampleVideos || !cfg.Model.Recompute || cfg.SFT.Steps != 0 || cfg.Data.Sampling.Frames != 48 {
		t.Fatalf("paper data settings not as shipped: %+v, recompute %v", cfg.Data, cfg.Model.Recompute)
	}
	if cfg.GRPO.DynamicSampling {
		t.Fatalf("the paper config runs plain GRPO, but grpo.dynamic_sampling is on (inherited from the default?)")
	}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 1 || res.After != nil {
		t.Fatalf("result %+v", res)
	}
}
