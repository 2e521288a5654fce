package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks/dataset"
)

// errNotScorable is what the stand-in scorers of `data check --source`
// return: they exist to make a name known, not to score.
var errNotScorable = errors.New("declared for checking only")

type dataCheckFlags struct {
	sources     []string
	aliases     []string
	skipFrames  bool
	maxProblems int
}

func newDataCmd() *cobra.Command {
	data := &cobra.Command{
		Use:   "data",
		Short: "Work with training data files",
	}
	var f dataCheckFlags
	check := &cobra.Command{
		Use:   "check FILE|GLOB|DIR...",
		Short: "Check training files (JSONL, Parquet) as training would, without training",
		Long: `check reads training files the way data.train_files does and reports every
problem it finds, naming the file, the row and the field, without loading a
model. Files are JSONL or Parquet, given as paths, globs or 'trainer gen'
output folders (their data.jsonl or data.parquet). Two row layouts are read:
our own (what 'trainer gen' writes) and the verl RLHF layout (data_source,
prompt messages, videos, reward_model.ground_truth, extra_info), which is how
the paper's data is distributed.

Checked: the required columns; every data source has a reward (the built-in
ones, plus the names given with --source for reward plug-ins); every ground
truth has the form its built-in reward expects; each prompt has one <video>
placeholder per video input; every video input lists frame files and every
frame file exists (relative paths are relative to the file's folder); the
sampling fps is positive; no sample id appears twice.

It exits with an error when any problem is found.`,
		Example: `  trainer data check runs/default/data/gen
  trainer data check 'data/videossr30k/*.parquet' --source-alias temporal_jigsaw=jigsaw
  trainer data check mine.jsonl --source mytask`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDataCheck(cmd.Context(), cmd.OutOrStdout(), args, f)
		},
	}
	fl := check.Flags()
	fl.StringArrayVar(&f.sources, "source", nil, "a data source scored by a reward plug-in (repeatable): known, its ground truths not checked")
	fl.StringArrayVar(&f.aliases, "source-alias", nil, "FROM=TO: read data source FROM as TO (repeatable)")
	fl.BoolVar(&f.skipFrames, "skip-frames", false, "do not check that the frame files exist")
	fl.IntVar(&f.maxProblems, "max-problems", 50, "stop after this many problems")
	data.AddCommand(check)
	return data
}

// runDataCheck is the body of `trainer data check`.
func runDataCheck(ctx context.Context, w io.Writer, patterns []string, f dataCheckFlags) error {
	reg := reward.DefaultRegistry()
	for _, s := range f.sources {
		stand := reward.ScoreFunc(func(context.Context, reward.Item) (float64, error) { return 0, errNotScorable })
		if err := reg.Register(s, stand); err != nil {
			return fmt.Errorf("data check: --source: %w", err)
		}
	}
	aliases := map[string]string{}
	for _, a := range f.aliases {
		from, to, ok := strings.Cut(a, "=")
		if !ok || from == "" || to == "" {
			return fmt.Errorf("data check: --source-alias %q: want FROM=TO", a)
		}
		aliases[from] = to
	}
	rep, err := dataset.CheckFiles(ctx, patterns, dataset.FileOptions{
		Rewards: reg, Aliases: aliases, SkipFrameCheck: f.skipFrames, MaxProblems: f.maxProblems,
	})
	if err != nil {
		return err
	}
	rows := 0
	for _, fs := range rep.Files {
		rows += fs.Rows
		fmt.Fprintf(w, "%s: %d rows (%s layout); per data source: %s\n", fs.Path, fs.Rows, fs.Layout, formatCounts(fs.Sources))
	}
	frames := fmt.Sprintf("%d frame files checked", rep.Frames)
	if f.skipFrames {
		frames = "frame files not checked"
	}
	if rep.Problems == nil {
		fmt.Fprintf(w, "ok: %d samples in %d files, %s\n", len(rep.Samples), len(rep.Files), frames)
		return nil
	}
	fmt.Fprintf(w, "%d of %d rows usable, %s\n", len(rep.Samples), rows, frames)
	return rep.Problems
}
