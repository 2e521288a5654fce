package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
)

func newViubenchBuildCmd() *cobra.Command {
	var (
		videos     []string
		out        string
		perSubtype int
		seed       uint64
		workers    int
		maxPixels  int
		subtypes   []string
		formats    []string
		quiet      bool
	)
	var names []string
	for _, s := range tasks.ViubenchSpecs() {
		names = append(names, s.Subtype)
	}
	cmd := &cobra.Command{
		Use:   "build --videos DIR|FILE... --out DIR",
		Short: "Build VIUBench (9 subtypes of counting, grounding and jigsaw questions) from videos",
		Long: `build generates the VIUBench evaluation set from the same generators as the
training data: ` + strings.Join(names, ", ") + `.
Counting easy draws each class on <=3 frames with <=3 instances per frame, hard
<=4/<=4; the grounding subtypes use one perturbation each; jigsaw easy cuts the
48 frames into 6 clips, hard into 8. Frames are up to 512x512 pixels.

Questions of each subtype are spread over the videos (a seeded round robin).
Inputs that cannot be opened are left out before planning; the output layout
is that of 'trainer gen' (data.jsonl, data.parquet, frames/, manifest.json),
with split "test", and an interrupted build resumes when run again.`,
		Example: `  trainer viubench build --videos third_party/videos --out viubench --per-subtype 300`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if out == "" {
				return errors.New("viubench build: --out is required")
			}
			specs := tasks.ViubenchSpecs()
			if len(subtypes) > 0 {
				var keep []tasks.TaskSpec
				for _, name := range subtypes {
					i := slices.IndexFunc(specs, func(s tasks.TaskSpec) bool { return s.Subtype == strings.TrimSpace(name) })
					if i < 0 {
						return fmt.Errorf("viubench build: --subtypes: unknown subtype %q (want %s)", name, strings.Join(names, ", "))
					}
					keep = append(keep, specs[i])
				}
				specs = keep
			}
			sampling := tasks.ViubenchSampling()
			sampling.MaxPixels = maxPixels
			if err := sampling.Validate(); err != nil {
				return fmt.Errorf("viubench build: %w", err)
			}
			all := append(append([]string{}, videos...), args...)
			if len(all) == 0 {
				return errors.New("viubench build: no input videos (give --videos)")
			}
			inputs, err := dataset.ListInputs(all)
			if err != nil {
				return fmt.Errorf("viubench build: %w", err)
			}
			usable, skipped, err := dataset.ProbeInputs(ctx, inputs)
			if err != nil {
				return fmt.Errorf("viubench build: %w", err)
			}
			for _, s := range skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "skip %s: %s\n", s.Video, s.Reason)
			}
			if len(usable) == 0 {
				return fmt.Errorf("viubench build: %w (%d inputs)", dataset.ErrAllInputsFailed, len(inputs))
			}
			plan, err := dataset.PlanViubench(usable, specs, perSubtype, seed, sampling)
			if err != nil {
				return fmt.Errorf("viubench build: %w", err)
			}
			opts := buildOptions(cmd, out, workers, formats, quiet)
			opts.PreSkipped = skipped
			sum, err := dataset.Build(ctx, plan, opts)
			printSummary(cmd, out, sum)
			if err != nil {
				return fmt.Errorf("viubench build: %w", err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&videos, "videos", nil, "input videos: files and/or directories (walked for video files), comma-separated or repeated; positional arguments are added too")
	fl.StringVar(&out, "out", "", "output directory (created; reused to resume an interrupted build)")
	fl.IntVar(&perSubtype, "per-subtype", 300, "questions per subtype (the paper: 300, 2,700 in all)")
	fl.Uint64Var(&seed, "seed", 2025, "build seed; every question's random stream derives from it")
	fl.IntVar(&workers, "workers", 0, "parallel workers (0 = all cores)")
	fl.IntVar(&maxPixels, "max-pixels", tasks.ViubenchSampling().MaxPixels, "largest frame size in pixels, aspect kept (512x512 for evaluation)")
	fl.StringSliceVar(&subtypes, "subtypes", nil, "build only these subtypes (default all nine)")
	fl.StringSliceVar(&formats, "format", []string{"jsonl", "parquet"}, "data files to write: jsonl, parquet")
	fl.BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}
