package grpo

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// TestBringYourOwnDataRun is the run of the README's "Bring your own data
// and rewards" section at a tiny size, on the real policy: data made by
// 'trainer gen' and trained on from its files (part of it relabelled as a
// data source scored by a shell reward plug-in from reward.plugins), its
// verl Parquet as data.val_files, a multiple-choice file in eval.files,
// TensorBoard and the rollout logs on, two warm-up and two GRPO steps.
func TestBringYourOwnDataRun(t *testing.T) {
	needNative(t)
	ctx := context.Background()
	dir := t.TempDir()
	def, err := configs.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(dir, "gen")
	gc := tasks.GenConfig{Sampling: def.Data.Sampling, Grounding: def.Data.Grounding, Counting: def.Data.Counting, Jigsaw: def.Data.Jigsaw}
	if _, err := dataset.GenerateDir(ctx, dataset.GenRequest{Synthetic: 2, Out: gen, Tasks: []tasks.DataSource{tasks.Counting, tasks.Jigsaw},
		Config: gc, PerVideo: 2, Seed: 3, Formats: []string{"jsonl", "parquet"}, Backend: opencv.Backend{}}); err != nil {
		t.Fatal(err)
	}
	samples, err := dataset.ReadDir(gen)
	if err != nil {
		t.Fatal(err)
	}
	// Training rows: the jigsaw samples as they are, the counting ones
	// relabelled "parity" (scored by the plug-in), in a file of their own
	// beside gen/ (frame paths relative to it).
	var train []map[string]any
	var mcFrames []string
	for _, s := range samples {
		b, _ := json.Marshal(s)
		var row map[string]any
		json.Unmarshal(b, &row)
		var frames []string
		for _, f := range s.Frames.All() {
			frames = append(frames, filepath.ToSlash(filepath.Join("gen", f)))
		}
		if s.DataSource == tasks.Counting {
			row["data_source"] = "parity"
			row["frames"] = frames
			mcFrames = frames
		} else {
			var clips [][]string
			for _, v := range s.Frames.Videos() {
				var c []string
				for _, f := range v {
					c = append(c, filepath.ToSlash(filepath.Join("gen", f)))
				}
				clips = append(clips, c)
			}
			row["frames"] = clips
		}
		train = append(train, row)
	}
	trainFile := writeRows(t, filepath.Join(dir, "train.jsonl"), train...)
	mc := writeRows(t, filepath.Join(dir, "mc.jsonl"), map[string]any{
		"id": "mc0", "data_source": "multiple_choice", "frames": mcFrames, "fps": 2.0, "answer": "A",
		"question": "Which shapes were drawn? A. circles B. none. Answer with the letter.",
	})
	log := filepath.Join(dir, "requests.log")
	run := filepath.Join(dir, "run")
	cfg := smallConfig(t, run,
		"data.train_files=["+trainFile+"]", "data.val_files=["+filepath.Join(gen, "data.parquet")+"]", "eval.files=["+mc+"]",
		"data.heldout_videos=0", "data.synthetic_videos=0",
		`reward.plugins=[{data_sources: [parity], command: [sh, `+parityPlugin(t, log)+`], timeout: 30s}]`,
		"logging.backends=[jsonl, tensorboard]", "logging.rollouts_every=1",
		"sft.steps=2", "sft.batch_size=4", "grpo.steps=2", "checkpoint.every=0", "rollout.max_new_tokens=6", "eval.max_new_tokens=6")
	res, err := Run(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 2 || res.After != nil || res.Eval[metrics.EvalFileMetric("mc", metrics.EvalScore)] < 0 {
		t.Fatalf("result %+v", res)
	}
	if _, ok := res.Eval[metrics.ValRewardMean]; !ok {
		t.Fatalf("no val reward in %v", res.Eval)
	}
	recs, err := metrics.ReadFile(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	grpoSteps, evals, parity := 0, 0, 0
	for _, r := range recs {
		switch r.Phase {
		case "grpo":
			grpoSteps++
			if v, ok := r.Values[metrics.SourceRewardMean("parity")]; ok {
				parity++
				if v != 0.625 {
					t.Errorf("step %d: parity reward %v, want the plug-in's 0.625", r.Step, v)
				}
			}
		case "eval":
			evals++
			for _, k := range []string{metrics.ValRewardMean, metrics.ValSourceRewardMean("jigsaw"), metrics.EvalFileMetric("mc", metrics.EvalMCAccuracy)} {
				if _, ok := r.Values[k]; !ok {
					t.Errorf("eval record at step %d lacks %s: %v", r.Step, k, r.Values)
				}
			}
		}
	}
	if grpoSteps != 2 || evals != 2 || parity == 0 {
		t.Errorf("%d GRPO records (%d with parity prompts), %d eval records (want 2 and 2: before and after GRPO)", grpoSteps, parity, evals)
	}
	if b, err := os.ReadFile(log); err != nil || !strings.Contains(string(b), `"data_source":"parity"`) {
		t.Errorf("the plug-in was not asked: %v", err)
	}
	files, err := metrics.ListRollouts(run)
	if err != nil || len(files) != 2 {
		t.Fatalf("rollout logs %v %v", files, err)
	}
	groups, err := metrics.ReadRollouts(files[1].Path)
	if err != nil || len(groups) != cfg.GRPO.BatchPrompts || len(groups[0].Responses) != cfg.GRPO.GroupSize {
		t.Fatalf("rollouts of step 2: %v %+v", err, groups)
	}
	view, texts := tensorBoardView(t, filepath.Join(run, TensorBoardDir))
	if len(view[metrics.RewardMean]) != 2 || len(view["sft/loss"]) != 2 || len(view[metrics.ValRewardMean]) != 2 || len(texts["config"]) != 1 {
		t.Errorf("TensorBoard: reward %v, sft loss %v, val %v, %d config texts", view[metrics.RewardMean], view["sft/loss"], view[metrics.ValRewardMean], len(texts["config"]))
	}
	// The charts are drawn after the final evaluation.
	png, err := os.Stat(filepath.Join(run, "plots", "eval.png"))
	if err != nil {
		t.Fatal(err)
	}
	if met, err := os.Stat(filepath.Join(run, "metrics.jsonl")); err != nil || png.ModTime().Before(met.ModTime()) {
		t.Errorf("plots/eval.png older than the last metrics: %v", err)
	}
}
