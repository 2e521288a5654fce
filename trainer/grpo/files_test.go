package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// fileRow is a training row of our layout (what 'trainer gen' writes) with
// one video input of two frame files under dir/frames/<id>/.
func fileRow(t *testing.T, dir, id, source, answer string) map[string]any {
	t.Helper()
	var frames []string
	for i := range 2 {
		rel := filepath.Join("frames", id, fmt.Sprintf("%d.jpg", i))
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("jpeg"), 0o644); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, filepath.ToSlash(rel))
	}
	return map[string]any{
		"id": id, "data_source": source, "answer": answer, "fps": 2.0, "frames": frames,
		"prompt": []map[string]string{{"role": "user", "content": tasks.VideoPlaceholder + "\nquestion " + id}},
	}
}

// writeRows writes rows as a JSONL file and returns its path.
func writeRows(t *testing.T, path string, rows ...map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTrainFilesFeedTheSteps: with data.train_files the GRPO steps draw
// the files' rows (a data source of a registered reward that data.mix does
// not name included, weight 1), score them with the run's registry, and
// data.val_files becomes the validation set; generated data is not used.
func TestTrainFilesFeedTheSteps(t *testing.T) {
	dir := t.TempDir()
	var rows []map[string]any
	for k := range 4 {
		rows = append(rows, fileRow(t, dir, fmt.Sprintf("c%d", k), "counting", "1,2,3"))
		rows = append(rows, fileRow(t, dir, fmt.Sprintf("n%d", k), "number", "7"))
	}
	train := writeRows(t, filepath.Join(dir, "train.jsonl"), rows...)
	val := writeRows(t, filepath.Join(dir, "val.jsonl"), fileRow(t, dir, "v0", "number", "7"))

	reg := numberReward(t)
	scored := map[string]int{}
	err := reg.Register("number", reward.ScoreFunc(func(_ context.Context, it reward.Item) (float64, error) {
		scored[it.GroundTruth]++
		return 0.5, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeLoop(t, 1, map[int][]string{}, reg, "data.train_files=["+train+"]", "data.val_files=["+val+"]")
	f.t.data = &Data{Train: map[tasks.DataSource][]tasks.Sample{}}
	if err := f.t.loadDataFiles(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.t.data.Train["counting"]) != 4 || len(f.t.data.Train["number"]) != 4 || len(f.t.data.Val) != 1 {
		t.Fatalf("train pool %v, val %d", f.t.data.Train, len(f.t.data.Val))
	}
	if p := f.t.data.Train["number"][0].Frames.All()[0]; !filepath.IsAbs(p) {
		t.Errorf("frame path %q is not absolute", p)
	}
	if err := f.t.checkGroundTruths(f.t.data); err != nil {
		t.Fatal(err)
	}
	draw, err := newSampler(f.t.cfg.Seed, f.t.data.Train, f.t.cfg.Data.Mix)
	if err != nil {
		t.Fatal(err)
	}
	f.t.draw = draw
	// The fake engine answers by prompt; the file samples get cached ones.
	for src, pool := range f.t.data.Train {
		for i, s := range pool {
			k := 100 + i
			if src == "number" {
				k = 200 + i
			}
			ids := f.t.tok.Encode(fmt.Sprintf("prompt %s", s.ID))
			f.t.cache[s.ID] = rollout.Prompt{IDs: ids}
			f.eng.key[fmt.Sprint(ids)] = k
			f.eng.answers[k] = []string{"1", "0", "0.5", "0.25"}
		}
	}
	sources := map[string]bool{}
	for step := range 2 {
		st, err := f.t.grpoStep(context.Background(), step)
		if err != nil {
			t.Fatal(err)
		}
		for src := range st.SourceRewards {
			sources[string(src)] = true
		}
		if r, ok := st.SourceRewards["number"]; ok && r.Mean != 0.5 {
			t.Errorf("step %d: number reward %v, want the registered scorer's 0.5", step, r.Mean)
		}
	}
	if !sources["counting"] || !sources["number"] || scored["7"] == 0 {
		t.Errorf("sources drawn %v, number scored %d times", sources, scored["7"])
	}
}

// TestTrainFilesProblemsBeforeTraining: broken training files are an error
// naming the file, the row and the field, found before any step: a missing
// frame, a data source without a reward, a malformed ground truth.
func TestTrainFilesProblemsBeforeTraining(t *testing.T) {
	dir := t.TempDir()
	missing := fileRow(t, dir, "m", "counting", "1,2,3")
	missing["frames"] = []string{"frames/m/0.jpg", "frames/m/gone.jpg"}
	train := writeRows(t, filepath.Join(dir, "bad.jsonl"),
		fileRow(t, dir, "ok", "counting", "1,2,3"),
		missing,
		fileRow(t, dir, "u", "temporal_jigsaw", "123"),
		fileRow(t, dir, "g", "counting", "three"),
	)
	f := newFakeLoop(t, 1, nil, nil, "data.train_files=["+train+"]")
	f.t.data = &Data{Train: map[tasks.DataSource][]tasks.Sample{}}
	err := f.t.loadDataFiles(context.Background())
	if !errors.Is(err, dataset.ErrBadTrainingData) {
		t.Fatalf("error %v, want bad training data", err)
	}
	for _, want := range []string{
		"data.train_files", "bad.jsonl: line 2: field frames[0][1]: frame file", "gone.jpg does not exist",
		`bad.jsonl: line 3: field data_source:`, `unknown data source "temporal_jigsaw"`,
		"bad.jsonl: line 4: field answer:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// An alias maps the foreign name; a glob that matches nothing is an error.
	g := newFakeLoop(t, 1, nil, nil, "data.train_files=["+filepath.Join(dir, "nothing*.jsonl")+"]")
	g.t.data = &Data{Train: map[tasks.DataSource][]tasks.Sample{}}
	if err := g.t.loadDataFiles(context.Background()); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Fatalf("empty glob: %v", err)
	}
	ok := writeRows(t, filepath.Join(dir, "alias.jsonl"), fileRow(t, dir, "a", "object_counting", "1,2,3"))
	h := newFakeLoop(t, 1, nil, nil, "data.train_files=["+ok+"]", "data.source_aliases.object_counting=counting")
	h.t.data = &Data{Train: map[tasks.DataSource][]tasks.Sample{}}
	if err := h.t.loadDataFiles(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(h.t.data.Train[tasks.Counting]) != 1 {
		t.Fatalf("aliased pool %v", h.t.data.Train)
	}
}

// TestEvaluateValAndEvalFiles: an evaluation answers data.val_files
// (scored with the training rewards: val/reward/...) and each file of
// eval.files (scored by the evaluator: eval/<name>/...), and the names of
// the files' metrics are unique.
func TestEvaluateValAndEvalFiles(t *testing.T) {
	dir := t.TempDir()
	val := writeRows(t, filepath.Join(dir, "val.jsonl"), fileRow(t, dir, "v0", "counting", "1,2,3"), fileRow(t, dir, "v1", "counting", "1,2,3"))
	mc := fileRow(t, dir, "mc0", "multiple_choice", "B")
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	bench1 := writeRows(t, filepath.Join(dir, "bench.jsonl"), mc)
	bench2 := writeRows(t, filepath.Join(sub, "bench.jsonl"), fileRow(t, sub, "c0", "counting", "1,2,3"))
	f := newFakeLoop(t, 1, map[int][]string{}, nil, "data.val_files=["+val+"]", "eval.files=["+bench1+", "+bench2+"]")
	f.t.data = &Data{Train: map[tasks.DataSource][]tasks.Sample{}}
	if err := f.t.loadDataFiles(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.t.loadEvalFiles(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.t.data.Evals) != 2 || f.t.data.Evals[0].Name != "bench" || f.t.data.Evals[1].Name != "bench_2" {
		t.Fatalf("eval sets %+v", f.t.data.Evals)
	}
	// Cached prompts the fake engine knows, with its answers.
	answer := map[string]string{"val\x00v0": "1,2,3", "val\x00v1": "0,0,0", "eval/bench\x00mc0": "B", "eval/bench_2\x00c0": "1,2,3"}
	k := 300
	for key, a := range answer {
		ids := f.t.tok.Encode("prompt " + key)
		f.t.cache[key] = rollout.Prompt{IDs: ids}
		f.eng.key[fmt.Sprint(ids)] = k
		f.eng.answers[k] = []string{a}
		k++
	}
	if !f.t.hasEvals() {
		t.Fatal("no evaluations")
	}
	rep, vals, err := f.t.evaluateAll(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	smooth, _ := reward.Score("counting", "0,0,0", "1,2,3")
	want := map[string]float64{
		metrics.ValRewardMean: (1 + smooth) / 2, metrics.ValSourceRewardMean("counting"): (1 + smooth) / 2,
		metrics.EvalFileMetric("bench", metrics.EvalScore): 1, metrics.EvalFileMetric("bench", metrics.EvalMCAccuracy): 1,
		metrics.EvalFileMetric("bench_2", metrics.EvalScore): 1, metrics.EvalFileMetric("bench_2", "counting_reward"): 1,
	}
	if rep != nil || len(vals) != len(want) {
		t.Fatalf("report %v, metrics %v", rep, vals)
	}
	for name, v := range want {
		if math.Abs(vals[name]-v) > 1e-12 {
			t.Errorf("%s = %v, want %v", name, vals[name], v)
		}
	}
	// A broken evaluation file is refused before training, naming it.
	bad := writeRows(t, filepath.Join(dir, "bad.jsonl"), fileRow(t, dir, "x", "multiple_choice", ""))
	g := newFakeLoop(t, 1, nil, nil, "eval.files=["+bad+"]")
	g.t.data = &Data{}
	if err := g.t.loadEvalFiles(context.Background()); err == nil || !strings.Contains(err.Error(), "eval.files") ||
		!strings.Contains(err.Error(), "bad.jsonl: row 0 (id x): field answer") {
		t.Fatalf("error %v", err)
	}
}

// TestDataPromptsWordGeneration: data.prompts words the generated
// training samples and the held-out VIUBench (their datasets keyed apart
// from our wording's); a template missing a placeholder is an error naming
// data.prompts and the placeholder before anything is generated.
func TestDataPromptsWordGeneration(t *testing.T) {
	if testing.Short() {
		t.Skip("generates two small datasets")
	}
	if _, err := video.Synthesize(video.DefaultSynthOptions()); err != nil {
		t.Skipf("no video support: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "prompts.yaml")
	if err := os.WriteFile(p, []byte("system: Be brief.\njigsaw: \"Put the {clips} clips in order, e.g. {example}.\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sets := []string{"run_dir=" + filepath.Join(dir, "run"), "data.dir=" + sharedData, "data.synthetic_videos=3", "data.heldout_videos=1",
		"data.use_sample_videos=false", "data.train_samples=2", "viubench.per_subtype=1", "data.mix.grounding=0", "data.mix.counting=0",
		"data.prompts=" + p}
	cfg, err := configs.Load(nil, sets)
	if err != nil {
		t.Fatal(err)
	}
	d, err := PrepareData(context.Background(), cfg, nil, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Train[tasks.Jigsaw]) == 0 || len(d.Bench) == 0 || d.Prompts == nil {
		t.Fatalf("train %d, bench %d", len(d.Train[tasks.Jigsaw]), len(d.Bench))
	}
	for _, s := range append(slices.Clone(d.Train[tasks.Jigsaw]), d.Bench...) {
		if s.Prompt[0].Content != "Be brief." {
			t.Errorf("%s: system prompt %q", s.ID, s.Prompt[0].Content)
		}
		if s.DataSource == tasks.Jigsaw && !strings.HasPrefix(s.Question, "Put the ") {
			t.Errorf("%s: question %q", s.ID, s.Question)
		}
	}
	ours, err := configs.Load(nil, sets[:len(sets)-1])
	if err != nil {
		t.Fatal(err)
	}
	d2, err := PrepareData(context.Background(), ours, nil, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if d2.TrainDir == d.TrainDir || d2.BenchDir == d.BenchDir || d2.Train[tasks.Jigsaw][0].Prompt[0].Content == "Be brief." {
		t.Errorf("our wording reused the other wording's datasets: %s %s", d2.TrainDir, d2.BenchDir)
	}
	if err := os.WriteFile(p, []byte("grounding: \"When does it change?\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PrepareData(context.Background(), cfg, nil, func(string) {}); err == nil ||
		!strings.Contains(err.Error(), "data.prompts") || !strings.Contains(err.Error(), "grounding: missing placeholder {perturbation}") {
		t.Fatalf("error %v", err)
	}
}

// TestBadFilesStopTheRunFirst: a broken training file stops Run before any
// data is made (no VIUBench built, no video synthesized) or any step runs.
func TestBadFilesStopTheRunFirst(t *testing.T) {
	dir := t.TempDir()
	bad := writeRows(t, filepath.Join(dir, "bad.jsonl"), fileRow(t, dir, "g", "counting", "three"))
	data := filepath.Join(dir, "data")
	cfg, err := configs.Load(nil, []string{"run_dir=" + filepath.Join(dir, "run"), "data.dir=" + data, "data.train_files=[" + bad + "]"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), cfg, Options{})
	if !errors.Is(err, dataset.ErrBadTrainingData) || !strings.Contains(err.Error(), "bad.jsonl: line 1: field answer") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data was made before the files were checked: %v", err)
	}
}
