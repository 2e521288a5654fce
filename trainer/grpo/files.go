package grpo

// Data from files: data.train_files (the training pool instead of
// generated samples) and data.val_files (a held-out set scored with the
// training rewards). Every row is checked when the run starts, before any
// step: a problem is an error naming the file, the row and the field.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
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
// plug-in's data source scores as its plug-in does).
func (t *Trainer) rewardSourceName(src string) string {
	if t.cfg.Data.Reward == "strict" {
		if _, err := tasks.ParseDataSource(src); err == nil {
			return reward.StrictPrefix + src
		}
	}
	return src
}
