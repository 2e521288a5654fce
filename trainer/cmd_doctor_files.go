package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/trainer/eval"
)

// dataFiles checks the data files a config names, as the run will before
// its first step: data.train_files and data.val_files row by row (the
// data sources of reward.plugins count as known, their ground truths
// unchecked), and each file of eval.files.
func (d *doctor) dataFiles(ctx context.Context, cfg *configs.Config) {
	reg := reward.DefaultRegistry()
	for _, src := range cfg.PluginSources() {
		stand := reward.ScoreFunc(func(context.Context, reward.Item) (float64, error) { return 0, errNotScorable })
		if err := reg.Replace(src, stand); err != nil {
			d.line(docMissing, "data files", "reward.plugins: %v", err)
			return
		}
	}
	for _, set := range []struct {
		key      string
		patterns []string
	}{{"data.train_files", cfg.Data.TrainFiles}, {"data.val_files", cfg.Data.ValFiles}} {
		if len(set.patterns) == 0 {
			continue
		}
		rep, err := dataset.CheckFiles(ctx, set.patterns, dataset.FileOptions{Rewards: reg, Aliases: cfg.Data.SourceAliases, MaxProblems: 5})
		switch {
		case err != nil:
			d.line(docMissing, "data files", "%s: %v", set.key, err)
		case rep.Problems != nil:
			d.line(docMissing, "data files", "%s: %s", set.key, indent(rep.Problems.Error()))
		default:
			d.line(docOK, "data files", "%s: %d rows in %d files, %d frame files", set.key, len(rep.Samples), len(rep.Files), rep.Frames)
		}
	}
	if len(cfg.Eval.Files) == 0 {
		return
	}
	paths, err := dataset.ExpandPatterns(cfg.Eval.Files)
	if err != nil {
		d.line(docMissing, "data files", "eval.files: %v", err)
		return
	}
	src := eval.Sources{Rewards: reg}
	for _, p := range paths {
		rows, base, err := eval.LoadRows(ctx, p, src)
		if err == nil && len(rows) == 0 {
			err = errors.New("no rows")
		}
		if err == nil {
			err = eval.CheckRows(p, base, rows, src)
		}
		if err != nil {
			d.line(docMissing, "data files", "eval.files: %s", indent(err.Error()))
			continue
		}
		d.line(docOK, "data files", "eval.files: %s: %d rows", p, len(rows))
	}
}

// indent puts the continuation lines of a multi-line message under the
// message column of a doctor line.
func indent(s string) string {
	return strings.ReplaceAll(s, "\n", "\n"+fmt.Sprintf("%-7s %-13s ", "", ""))
}
