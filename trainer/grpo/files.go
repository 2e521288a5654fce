package grpo

// Data from files: data.train_files (the training pool instead of
// generated samples), data.val_files (a held-out set scored with the
// training rewards) and eval.files (evaluation files scored as 'trainer
// eval' scores them). Every row is checked when the run starts, before any
// step: a problem is an error naming the file, the row and the field.

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/trainer/eval"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// EvalSet is one file of eval.files: rows the evaluator scores (VIUBench,
// multiple choice, temporal grounding, pretext samples), evaluated with
// the held-out VIUBench.
type EvalSet struct {
	// Name labels the file's metrics (eval/<name>/...): its base name
	// without the extension, made unique.
	Name string
	// Path is the file; Base the folder its relative paths start from.
	Path, Base string
	Rows       []tasks.Sample
}

// runSources checks the data sources and ground truths of file rows
// against the run's reward registry, as the run scores them (rewardSource:
// with data.reward strict, the strict variant of a built-in reward).
type runSources struct{ t *Trainer }

// ValidateGroundTruth implements dataset.GroundTruthChecker.
func (r runSources) ValidateGroundTruth(dataSource, gt string) error {
	return r.t.rewards.ValidateGroundTruth(r.t.rewardSourceName(dataSource), gt)
}

// loadDataFiles reads data.train_files into the training pool and
// data.val_files into the validation set. Every row is checked (columns,
// a reward for its data source, its ground truth, its frame files) before
// anything trains.
func (t *Trainer) loadDataFiles(ctx context.Context) error {
	dc := t.cfg.Data
	opts := dataset.FileOptions{Rewards: runSources{t}, Aliases: dc.SourceAliases}
	if len(dc.TrainFiles) > 0 {
		samples, err := dataset.LoadFiles(ctx, dc.TrainFiles, opts)
		if err != nil {
			return fmt.Errorf("data.train_files: %w", err)
		}
		if len(samples) == 0 {
			return fmt.Errorf("data.train_files: %s hold no rows", strings.Join(dc.TrainFiles, ", "))
		}
		counts := map[tasks.DataSource]int{}
		for _, s := range samples {
			t.data.Train[s.DataSource] = append(t.data.Train[s.DataSource], s)
			counts[s.DataSource]++
		}
		t.log.Info("data.train_files", "samples", len(samples), "per_source", fmt.Sprint(counts))
	}
	if len(dc.ValFiles) > 0 {
		samples, err := dataset.LoadFiles(ctx, dc.ValFiles, opts)
		if err != nil {
			return fmt.Errorf("data.val_files: %w", err)
		}
		if len(samples) == 0 {
			return fmt.Errorf("data.val_files: %s hold no rows", strings.Join(dc.ValFiles, ", "))
		}
		t.data.Val = samples
	}
	return nil
}

// loadFiles reads and checks data.train_files, data.val_files and
// eval.files before any data is made (addFiles puts them into the run's
// Data).
func (t *Trainer) loadFiles(ctx context.Context) (*Data, error) {
	keep := t.data
	defer func() { t.data = keep }()
	t.data = &Data{Train: map[tasks.DataSource][]tasks.Sample{}}
	if err := t.loadDataFiles(ctx); err != nil {
		return nil, err
	}
	if err := t.loadEvalFiles(ctx); err != nil {
		return nil, err
	}
	return t.data, nil
}

// addFiles adds the samples read from files to d: the training pool of
// data.train_files (d then holds no generated one), data.val_files and
// eval.files.
func (d *Data) addFiles(f *Data) {
	for src, v := range f.Train {
		d.Train[src] = append(d.Train[src], v...)
	}
	d.Val, d.Evals = f.Val, f.Evals
}

// poolSources lists the data sources of a training pool: the built-in
// ones first, in their order, then the others (reward plug-ins) sorted.
func poolSources(pool map[tasks.DataSource][]tasks.Sample) []tasks.DataSource {
	var out, extra []tasks.DataSource
	for _, s := range tasks.AllDataSources() {
		if len(pool[s]) > 0 {
			out = append(out, s)
		}
	}
	for s, v := range pool {
		if len(v) > 0 && !slices.Contains(out, s) {
			extra = append(extra, s)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

// rewardSourceName is the reward a data source is scored with: itself, or
// with data.reward strict the binary variant of a built-in reward (a
// plug-in's data source, a built-in one it replaces included, scores as
// its plug-in does).
func (t *Trainer) rewardSourceName(src string) string {
	if t.cfg.Data.Reward == "strict" && !slices.Contains(t.cfg.PluginSources(), src) {
		if _, err := tasks.ParseDataSource(src); err == nil {
			return reward.StrictPrefix + src
		}
	}
	return src
}

// loadEvalFiles reads and checks the files of eval.files.
func (t *Trainer) loadEvalFiles(ctx context.Context) error {
	if len(t.cfg.Eval.Files) == 0 {
		return nil
	}
	paths, err := dataset.ExpandPatterns(t.cfg.Eval.Files)
	if err != nil {
		return fmt.Errorf("eval.files: %w", err)
	}
	src := eval.Sources{Rewards: t.rewards}
	used := map[string]bool{}
	for _, p := range paths {
		rows, base, err := eval.LoadRows(ctx, p, src)
		if err != nil {
			return fmt.Errorf("eval.files: %w", err)
		}
		if len(rows) == 0 {
			return fmt.Errorf("eval.files: %s has no rows", p)
		}
		if err := eval.CheckRows(p, base, rows, src); err != nil {
			return fmt.Errorf("eval.files: %w", err)
		}
		t.data.Evals = append(t.data.Evals, EvalSet{Name: evalName(p, used), Path: p, Base: base, Rows: rows})
	}
	return nil
}

// unsafeName matches the characters an evaluation file's name may not
// keep in its metric names.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// evalName names an evaluation file's metrics: its base name without the
// extension (the folder's name for a data.jsonl or data.parquet that
// 'trainer gen' or 'viubench build' wrote), made unique among used.
func evalName(path string, used map[string]bool) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if base == "data" {
		base = filepath.Base(filepath.Dir(path))
	}
	base = strings.Trim(unsafeName.ReplaceAllString(base, "_"), "_")
	if base == "" {
		base = "file"
	}
	name := base
	for i := 2; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[name] = true
	return name
}

// hasEvals reports whether the run has anything to evaluate: a held-out
// VIUBench, data.val_files or eval.files.
func (t *Trainer) hasEvals() bool {
	return len(t.data.Bench) > 0 || len(t.data.Val) > 0 || len(t.data.Evals) > 0
}

// evaluateAll answers the held-out VIUBench, data.val_files and eval.files
// greedily and returns the VIUBench report (nil without one) and the
// metrics of the evaluation's record.
func (t *Trainer) evaluateAll(ctx context.Context, name string) (*reward.VIUBenchReport, map[string]float64, error) {
	t.at("eval", t.state.GRPOStep)
	vals := map[string]float64{}
	var rep *reward.VIUBenchReport
	if len(t.data.Bench) > 0 {
		var err error
		if rep, err = t.evaluate(ctx, name); err != nil {
			return nil, nil, err
		}
		vals[metrics.HeldoutMetric] = rep.Overall
	}
	if len(t.data.Val) > 0 {
		if err := t.evaluateVal(ctx, name, vals); err != nil {
			return nil, nil, err
		}
	}
	for i := range t.data.Evals {
		if err := t.evaluateFile(ctx, name, &t.data.Evals[i], vals); err != nil {
			return nil, nil, err
		}
	}
	return rep, vals, nil
}

// evalBatch is the number of prompts an evaluation decodes together.
const evalBatch = 16

// evaluateVal answers data.val_files greedily and adds the mean reward
// (and per data source) to vals, scored as the training responses are.
func (t *Trainer) evaluateVal(ctx context.Context, name string, vals map[string]float64) error {
	bar := metrics.NewBar(t.progress(), "val "+name, len(t.data.Val))
	prompt := func(s *tasks.Sample) (rollout.Prompt, error) {
		return t.cachedPrompt("val\x00"+s.ID, s, func() ([][]*frame.Frame, []tasks.Message, error) {
			frames, err := dataset.LoadFramesWith(opencv.Backend{}, "", s, dataset.ReadOptions{AllowOutside: true})
			return frames, s.Prompt, err
		})
	}
	sums := map[string][2]float64{}
	var total float64
	score := func(s *tasks.Sample, response string) error {
		it := reward.Item{DataSource: t.rewardSource(s), Response: response, GroundTruth: s.Answer, ExtraInfo: extraInfo(s)}
		v, err := t.rewards.ScoreOne(ctx, it)
		if err != nil {
			return fmt.Errorf("data.val_files: score sample %s: %w", s.ID, err)
		}
		src := string(s.DataSource)
		sums[src] = [2]float64{sums[src][0] + 1, sums[src][1] + v}
		total += v
		return nil
	}
	if err := eval.Answer(ctx, t.engine, t.data.Val, evalBatch, t.sampling(t.cfg.Eval.MaxNewTokens, 0), bar, prompt, score); err != nil {
		return err
	}
	vals[metrics.ValRewardMean] = total / float64(len(t.data.Val))
	for src, v := range sums {
		vals[metrics.ValSourceRewardMean(src)] = v[1] / v[0]
	}
	t.log.Info("val", "name", name, "reward", vals[metrics.ValRewardMean])
	return nil
}

// evaluateFile answers an eval.files file greedily, scores it as 'trainer
// eval' does and adds its metrics (eval/<name>/...) to vals.
func (t *Trainer) evaluateFile(ctx context.Context, name string, set *EvalSet, vals map[string]float64) error {
	bar := metrics.NewBar(t.progress(), "eval "+set.Name+" "+name, len(set.Rows))
	prompt := func(s *tasks.Sample) (rollout.Prompt, error) {
		return t.cachedPrompt("eval/"+set.Name+"\x00"+s.ID, s, func() ([][]*frame.Frame, []tasks.Message, error) {
			frames, err := eval.Frames(ctx, set.Base, s, t.cfg.Data.Sampling.Frames)
			return frames, eval.Messages(s, len(frames), t.data.Prompts), err
		})
	}
	tally := eval.NewTally(eval.Sources{Rewards: t.rewards})
	score := func(s *tasks.Sample, response string) error { return tally.Add(ctx, s, response) }
	if err := eval.Answer(ctx, t.engine, set.Rows, evalBatch, t.sampling(t.cfg.Eval.MaxNewTokens, 0), bar, prompt, score); err != nil {
		return fmt.Errorf("eval.files: %s: %w", set.Path, err)
	}
	rep := tally.Report(set.Name)
	for k, v := range rep.Metrics(set.Name) {
		vals[k] = v
	}
	t.log.Info("eval file", "file", set.Path, "name", name, "score", rep.Score())
	return nil
}
