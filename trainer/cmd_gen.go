package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/tasks/video"
)

type genFlags struct {
	videos    []string
	out       string
	tasks     []string
	perVideo  int
	seed      uint64
	shard     string
	workers   int
	config    string
	formats   []string
	maxPixels int
	minPixels int
	synthetic int
	prompts   string
	quiet     *quietFlag
	load      opencv.Backend
}

func newGenCmd() *cobra.Command {
	var f genFlags
	cmd := &cobra.Command{
		Use:   "gen --videos DIR|FILE... --out DIR",
		Short: "Generate pretext-task training data (grounding, counting, jigsaw) from videos",
		Long: `gen samples 48 frames from each input video (5%..95% of its duration) and
makes pretext-task samples from them: anomaly grounding, object counting and
temporal jigsaw. It writes OUT/data.jsonl (one tasks.Sample per line),
OUT/data.parquet (verl RLHF layout), OUT/frames/<id>/ (JPEG frames) and
OUT/manifest.json (counts, skipped inputs, a sha256 per sample).

Samples are deterministic: the same videos, settings and --seed give the same
bytes. An interrupted run keeps every finished sample; running the same
command again makes only the missing ones. With --shard i/n each machine
makes a disjoint part (split by a hash of the video names); join the parts
with 'trainer gen merge'. Unusable inputs (missing, empty, truncated, not a
video, too short, not a regular file, over --max-video-bytes) are skipped
with a reason; the run fails only if every input is unusable. A video whose
decoder reports errors while its frames are decoded (damaged data) is
skipped and listed as damaged, unless --keep-damaged. Running the same
command again also repairs frame files damaged since (see 'gen verify').
One process at a time works on an --out directory: a second one is refused
with the first one's pid.`,
		Example: `  trainer gen --videos third_party/videos --out data/train
  trainer gen --synthetic 8 --out /tmp/synth --tasks jigsaw --per-video 4
  trainer gen --videos /data/k400 --out part0 --shard 0/2 && trainer gen merge --out all part0 part1`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGen(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.videos, "videos", nil, "input videos: files and/or directories (walked for video files), comma-separated or repeated; positional arguments are added too")
	fl.StringVar(&f.out, "out", "", "output dataset directory (created; reused to resume an interrupted run)")
	fl.StringSliceVar(&f.tasks, "tasks", []string{"grounding", "counting", "jigsaw"}, "pretext tasks to generate: grounding, counting, jigsaw")
	fl.IntVar(&f.perVideo, "per-video", 1, "samples per task per video")
	fl.Uint64Var(&f.seed, "seed", 1, "run seed; every sample's random stream derives from it, the video name, the task and the index")
	fl.StringVar(&f.shard, "shard", "", "make only part i of n (0-based, e.g. 0/4) of the input videos, for several machines")
	fl.IntVar(&f.workers, "workers", 0, "parallel workers (0 = all cores)")
	fl.StringVar(&f.config, "config", "", "YAML file with generator settings (sections sampling, grounding, counting, jigsaw); unknown keys are an error")
	fl.StringSliceVar(&f.formats, "format", []string{"jsonl", "parquet"}, "data files to write: jsonl, parquet")
	fl.IntVar(&f.maxPixels, "max-pixels", tasks.DefaultSamplingConfig().MaxPixels, "largest frame size in pixels, aspect kept (overrides sampling.max_pixels of --config)")
	fl.IntVar(&f.minPixels, "min-pixels", tasks.DefaultSamplingConfig().MinPixels, "smallest frame size in pixels (overrides sampling.min_pixels of --config)")
	fl.IntVar(&f.synthetic, "synthetic", 0, "first make N synthetic videos under OUT/synthetic and use them as inputs (works with no downloaded data)")
	fl.StringVar(&f.prompts, "prompts", "", "YAML file with the wording of the questions and the system prompt (data.prompts; default: ours)")
	f.quiet = addQuietFlag(cmd)
	addLoadFlags(fl, &f.load)
	cmd.AddCommand(newGenMergeCmd(), newGenVerifyCmd(), newGenExportVerlCmd())
	return cmd
}

func runGen(cmd *cobra.Command, f genFlags, args []string) error {
	ctx := cmd.Context()
	if f.out == "" {
		return errors.New("gen: --out is required")
	}
	cfg := tasks.DefaultGenConfig()
	if f.config != "" {
		var err error
		if cfg, err = tasks.LoadGenConfig(f.config, cfg); err != nil {
			return fmt.Errorf("gen: %w", err)
		}
	}
	if cmd.Flags().Changed("max-pixels") || f.config == "" {
		cfg.Sampling.MaxPixels = f.maxPixels
	}
	if cmd.Flags().Changed("min-pixels") || f.config == "" {
		cfg.Sampling.MinPixels = f.minPixels
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	var ts []tasks.DataSource
	for _, name := range f.tasks {
		t, err := tasks.ParseDataSource(strings.TrimSpace(name))
		if err != nil {
			return fmt.Errorf("gen: --tasks: %w", err)
		}
		ts = append(ts, t)
	}
	shard, err := dataset.ParseShard(f.shard)
	if err != nil {
		return fmt.Errorf("gen: --shard: %w", err)
	}
	videos := append(append([]string{}, f.videos...), args...)
	if len(videos) == 0 && f.synthetic == 0 {
		return errors.New("gen: no input videos (give --videos or --synthetic)")
	}
	wording, err := loadPromptsFlag(f.prompts)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	o := buildOptions(cmd, f.out, f.workers, f.formats, f.quiet)
	sum, err := dataset.GenerateDir(ctx, dataset.GenRequest{
		Videos: videos, Synthetic: f.synthetic, Out: f.out, Tasks: ts, Config: cfg, Prompts: wording,
		PerVideo: f.perVideo, Seed: f.seed, Shard: shard, Backend: f.load,
		Workers: o.Workers, Formats: o.Formats, Progress: o.Progress, Log: o.Log,
	})
	printSummary(cmd, f.out, sum)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	return nil
}

// addLoadFlags adds the flags of the video back end's choices (which
// videos are used).
func addLoadFlags(fl *pflag.FlagSet, o *opencv.Backend) {
	fl.BoolVar(&o.KeepDamaged, "keep-damaged", false, "use videos whose decoder reports errors (listed as damaged in the summary and manifest) instead of skipping them")
	fl.Int64Var(&o.MaxVideoBytes, "max-video-bytes", video.DefaultMaxFileBytes, "skip video files larger than this many bytes (negative: no cap)")
}

// buildOptions wires the progress bar and skip lines to stderr.
func buildOptions(cmd *cobra.Command, out string, workers int, formats []string, q *quietFlag) dataset.Options {
	stderr := cmd.ErrOrStderr()
	return dataset.Options{Out: out, Workers: workers, Formats: formats, Log: func(line string) { fmt.Fprintln(stderr, line) }, Progress: q.progress(cmd)}
}

func printSummary(cmd *cobra.Command, out string, sum *dataset.Summary) {
	if sum == nil {
		return
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "%s: %d planned, %d made, %d resumed, %d failed, %d lost to %d skipped input(s) of %d\n",
		out, sum.Planned, sum.Generated, sum.Reused, sum.Failed, sum.Lost, len(sum.Skipped), sum.Inputs)
	if sum.Repaired > 0 {
		fmt.Fprintf(w, "  %d sample(s) had damaged or missing files and were made again\n", sum.Repaired)
	}
	for _, s := range sum.Skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", s.Video, s.Reason)
	}
	if n := len(sum.Damaged); n > 0 {
		fmt.Fprintf(w, "  %d damaged video(s) (decoder errors; listed in manifest.json):", n)
		for _, d := range sum.Damaged {
			fmt.Fprintf(w, " %s", d.Video)
		}
		fmt.Fprintln(w)
	}
	if m := sum.Manifest; m != nil {
		fmt.Fprintf(w, "  %d samples from %d videos; per task %v; per subtype %v\n", m.Total, m.Videos, m.Counts, m.Subtypes)
	}
}

func newGenMergeCmd() *cobra.Command {
	var out string
	var formats []string
	cmd := &cobra.Command{
		Use:   "merge --out DIR SHARD_DIR...",
		Short: "Join the output directories of 'trainer gen --shard i/n' runs into one dataset",
		Long: `merge links (or copies) the samples and frames of finished shard directories
into --out and writes data files and a manifest byte-identical to what one
unsharded run would have written. All shards must be made with the same
settings.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("gen merge: --out is required")
			}
			m, err := dataset.Merge(cmd.Context(), out, args, formats)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d samples from %d videos; per task %v; %d skipped inputs\n", out, m.Total, m.Videos, m.Counts, len(m.Skipped))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "merged dataset directory")
	cmd.Flags().StringSliceVar(&formats, "format", []string{"jsonl", "parquet"}, "data files to write: jsonl, parquet")
	return cmd
}

func newGenVerifyCmd() *cobra.Command {
	var ro dataset.ReadOptions
	cmd := &cobra.Command{
		Use:   "verify DIR",
		Short: "Check every data file and sample of a dataset directory against its manifest checksums",
		Long: `verify recomputes the sha256 of the data files and of every sample (its row
and frame files) and compares them with manifest.json. A damaged sample is
traced to the file that changed, and every damaged file is named. Running
the same 'trainer gen' command again makes the samples that use a damaged
frame again, which repairs it. Frame paths must lie inside DIR unless
--allow-outside is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := dataset.Verify(args[0], ro); err != nil {
				return fmt.Errorf("gen verify: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&ro.AllowOutside, "allow-outside", false, "accept frame paths outside the dataset directory")
	return cmd
}

func newGenExportVerlCmd() *cobra.Command {
	var out string
	var ro dataset.ReadOptions
	cmd := &cobra.Command{
		Use:   "export-verl DIR --out FILE",
		Short: "Write a dataset directory as a verl Parquet file with absolute frame paths",
		Long: `export-verl writes the samples of a dataset directory (made by 'trainer gen' or
'trainer viubench build') as a Parquet file in the verl RLHF layout with
absolute frame paths, for the reference Python trainer. The data.parquet in
the directory itself keeps paths relative to the directory, so it can move.
A frame path outside the directory is an error unless --allow-outside.`,
		Example: `  trainer gen export-verl data/train --out /shared/videossr_train.parquet`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return errors.New("gen export-verl: --out is required")
			}
			n, err := dataset.ExportVerl(args[0], out, ro)
			if err != nil {
				return fmt.Errorf("gen export-verl: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %d rows\n", out, n)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "Parquet file to write")
	cmd.Flags().BoolVar(&ro.AllowOutside, "allow-outside", false, "accept frame paths outside the dataset directory")
	return cmd
}

// loadPromptsFlag reads a --prompts file (nil for "": our wording).
func loadPromptsFlag(path string) (*tasks.Prompts, error) {
	if path == "" {
		return nil, nil
	}
	p, err := tasks.LoadPrompts(path)
	if err != nil {
		return nil, fmt.Errorf("--prompts: %w", err)
	}
	return &p, nil
}
