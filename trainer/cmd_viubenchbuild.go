package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
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
		prompts    string
		quiet      *quietFlag
		load       opencv.Backend
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
Every input is sampled once before planning and the unusable ones (missing,
empty, truncated, not a video, too short, damaged unless --keep-damaged) are
skipped, so each subtype gets exactly --per-subtype questions. One process at
a time works on an --out directory. The output layout is that of 'trainer gen'
(data.jsonl, data.parquet, frames/, manifest.json), with split "test"; an
interrupted build resumes when run again.`,
		Example: `  trainer viubench build --videos third_party/videos --out viubench --per-subtype 300`,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if out == "" {
				return errors.New("viubench build: --out is required")
			}
			all := append(append([]string{}, videos...), args...)
			if len(all) == 0 {
				return errors.New("viubench build: no input videos (give --videos)")
			}
			if perSubtype < 1 {
				return fmt.Errorf("viubench build: --per-subtype %d, want at least 1", perSubtype)
			}
			wording, err := loadPromptsFlag(prompts)
			if err != nil {
				return fmt.Errorf("viubench build: %w", err)
			}
			o := buildOptions(cmd, out, workers, formats, quiet)
			_, sum, err := dataset.BuildViubench(ctx, dataset.ViubenchRequest{
				Videos: all, Out: out, PerSubtype: perSubtype, Subtypes: subtypes, Seed: seed, Prompts: wording,
				MaxPixels: maxPixels, Backend: load, Workers: o.Workers, Formats: o.Formats, Progress: o.Progress, Log: o.Log,
			})
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
	fl.StringVar(&prompts, "prompts", "", "YAML file with the wording of the questions and the system prompt (data.prompts; default: ours)")
	quiet = addQuietFlag(cmd)
	addLoadFlags(fl, &load)
	return cmd
}
