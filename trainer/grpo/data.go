package grpo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/trainer/sysinfo"
)

// Data is the training pool and the held-out benchmark of a run.
type Data struct {
	Dir string
	// Train holds the GRPO prompts per data source, in id order.
	Train map[tasks.DataSource][]tasks.Sample
	// Warmup holds the supervised warm-up's samples per data source, in id
	// order: made from the training videos like Train but disjoint from it
	// (other sample ids and seeds, and no sample whose frames and question
	// equal a GRPO prompt's). Empty when data.warmup_samples is 0 or the
	// data comes from data.train_files: the warm-up then draws from Train.
	Warmup map[tasks.DataSource][]tasks.Sample
	// Levels holds, with the curriculum on, each source's GRPO prompts per
	// difficulty level (curriculum.go), easiest first; the base level is
	// Train's pool. Nil when the curriculum is off.
	Levels map[tasks.DataSource][][]tasks.Sample
	// levelDirs are the dataset directories of the level pools' samples,
	// by sample id (their frame paths are relative to them).
	levelDirs map[string]string
	// Bench is the held-out VIUBench (built from videos kept apart); it
	// is empty when data.heldout_videos is 0, and the run then skips its
	// evaluations.
	Bench []tasks.Sample
	// BenchDir and TrainDir are the dataset directories (frame paths in
	// the samples are relative to them). TrainDir is "" for samples from
	// data.train_files, whose frame paths are absolute.
	TrainDir, BenchDir string

	// Data from files (files.go): Val is data.val_files, Evals the files
	// of eval.files.
	Val   []tasks.Sample
	Evals []EvalSet
	// Prompts is the wording of data.prompts (nil: ours).
	Prompts *tasks.Prompts
}

// findSampleVideos returns the opencv-doc sample videos that exist under
// third_party/videos of the repository (found from the working directory) or in
// Debian's opencv-doc folder.
func findSampleVideos() []string {
	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		if root := ort.ModuleRoot(wd); root != "" {
			dirs = append(dirs, filepath.Join(root, "third_party", "videos"))
		}
	}
	dirs = append(dirs, "/usr/share/doc/opencv-doc/examples/data")
	for _, d := range dirs {
		if found := sysinfo.SampleVideos(d); len(found) > 0 {
			return found
		}
	}
	return nil
}

// PrepareData makes the synthetic videos, splits off the held-out videos,
// generates the pretext training samples and builds the held-out VIUBench.
// Finished datasets are reused (the builders resume), so a restarted run does
// not regenerate them.
func PrepareData(ctx context.Context, cfg *configs.Config, progress io.Writer, logf func(string)) (*Data, error) {
	dc := cfg.Data
	dir := dc.Dir
	if dir == "" {
		dir = filepath.Join(cfg.RunDir, "data")
	}
	wording, err := LoadPrompts(dc)
	if err != nil {
		return nil, err
	}
	var heldout, train []string
	if dc.SyntheticVideos > 0 {
		paths, err := dataset.MakeSynthetic(ctx, opencv.Backend{}, filepath.Join(dir, "synthetic"), dc.SyntheticVideos, cfg.Seed)
		if err != nil {
			return nil, err
		}
		// The last heldout_videos synthetic videos are kept apart.
		k := min(dc.HeldoutVideos, len(paths)-1)
		train = append(train, paths[:len(paths)-k]...)
		heldout = append(heldout, paths[len(paths)-k:]...)
	}
	if dc.UseSampleVideos {
		train = append(train, findSampleVideos()...)
	}
	train = append(train, dc.Videos...)
	if len(dc.TrainFiles) > 0 {
		// Training samples from data.train_files: the trainer loads and
		// checks them with its reward registry (loadTrainFiles); only the
		// held-out VIUBench is built here.
		d := &Data{Dir: dir, Train: map[tasks.DataSource][]tasks.Sample{}, Prompts: wording}
		return d, buildBench(ctx, cfg, d, heldout, progress, logf)
	}
	if len(train) == 0 {
		return nil, fmt.Errorf("data: no training videos (set data.synthetic_videos, data.videos or data.use_sample_videos)")
	}
	if len(heldout) == 0 && dc.HeldoutVideos > 0 {
		return nil, fmt.Errorf("data: no held-out videos for VIUBench (data.heldout_videos %d needs data.synthetic_videos >= %d)", dc.HeldoutVideos, dc.HeldoutVideos+1)
	}
	gen := tasks.GenConfig{Sampling: dc.Sampling, Grounding: dc.Grounding, Counting: dc.Counting, Jigsaw: dc.Jigsaw}
	if err := gen.Validate(); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var sources []tasks.DataSource
	for _, s := range tasks.AllDataSources() {
		if dc.Mix[string(s)] > 0 {
			sources = append(sources, s)
		}
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("data.mix: every weight is 0")
	}
	inputs, err := dataset.ListInputs(train)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	specs := tasks.GenSpecs(gen, sources)
	perSample := func(n int) int { return (n + len(inputs)*len(specs) - 1) / (len(inputs) * len(specs)) }
	per := max(1, perSample(dc.TrainSamples))
	perWarm := 0
	if cfg.SFT.Steps > 0 { // no warm-up, no pool to make
		perWarm = perSample(dc.WarmupSamples)
	}
	// One dataset holds both pools: per (video, task) the samples of index
	// below per are GRPO prompts, the next perWarm the warm-up's (their ids
	// and seeds differ, as they derive from the index). Each distinct
	// setting gets its own folder, so runs and ablations can share data.dir
	// and reuse what matches.
	d := &Data{Dir: dir, Train: map[tasks.DataSource][]tasks.Sample{}, Warmup: map[tasks.DataSource][]tasks.Sample{}, Prompts: wording}
	d.TrainDir = filepath.Join(dir, "train-"+settingsKey(withPrompts([]any{train, gen, sources, per + perWarm, cfg.Seed}, wording)...))
	samples, _, err := dataset.Generate(ctx, dataset.GenRequest{
		Videos: train, Out: d.TrainDir, Tasks: sources, Config: gen, PerVideo: per + perWarm, Seed: cfg.Seed, Prompts: wording,
		Formats: []string{"jsonl"}, Progress: progress, Log: logf, Backend: opencv.Backend{},
	})
	if err != nil {
		return nil, fmt.Errorf("data: training samples: %w", err)
	}
	var warm []tasks.Sample
	for _, s := range samples {
		if s.Index < per {
			d.Train[s.DataSource] = append(d.Train[s.DataSource], s)
		} else {
			warm = append(warm, s)
		}
	}
	if err := splitWarmup(d, warm, sources, logf); err != nil {
		return nil, err
	}
	if dc.WarmupAnswers == "shuffled" {
		shuffleAnswers(d.Warmup, cfg.Seed)
	}
	if cfg.Curriculum.Enabled {
		if err := makeLevels(ctx, cfg, d, train, gen, sources, per, wording, progress, logf); err != nil {
			return nil, err
		}
	}

	return d, buildBench(ctx, cfg, d, heldout, progress, logf)
}

// dirOf is the dataset directory a training sample's frame paths are
// relative to.
func (d *Data) dirOf(s *tasks.Sample) string {
	if dir, ok := d.levelDirs[s.ID]; ok {
		return dir
	}
	return d.TrainDir
}

// buildBench builds the held-out VIUBench of d from the held-out videos
// (none: the evaluations on it are skipped).
func buildBench(ctx context.Context, cfg *configs.Config, d *Data, heldout []string, progress io.Writer, logf func(string)) error {
	dc, dir := cfg.Data, d.Dir
	if len(heldout) == 0 && (len(dc.ValFiles) > 0 || len(cfg.Eval.Files) > 0) {
		logf("data.heldout_videos is 0: no held-out VIUBench; the evaluations score data.val_files and eval.files")
		return nil
	}
	if len(heldout) == 0 {
		logf("data.heldout_videos is 0: no held-out VIUBench, so the evaluations before, during and after GRPO are skipped " +
			"(build one from other videos with 'trainer viubench build' and score the run with 'trainer eval')")
		return nil
	}
	// VIUBench from the held-out videos, scaled to the run's frame count.
	hin, err := dataset.ListInputs(heldout)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	bs := dc.Sampling
	bs.MaxPixels = cfg.VIUBench.MaxPixels
	bs.MinPixels = min(bs.MinPixels, bs.MaxPixels)
	bplan, err := dataset.PlanViubench(hin, tasks.WithPrompts(BenchSpecs(dc), d.Prompts), cfg.VIUBench.PerSubtype, cfg.Seed+1, bs)
	if err != nil {
		return fmt.Errorf("data: viubench: %w", err)
	}
	d.BenchDir = filepath.Join(dir, "viubench-"+settingsKey(withPrompts([]any{heldout, bs, BenchSpecs(dc), cfg.VIUBench.PerSubtype, cfg.Seed}, d.Prompts)...))
	opts := dataset.Options{Out: d.BenchDir, Formats: []string{"jsonl"}, Progress: progress, Log: logf, Backend: opencv.Backend{}}
	if _, err := dataset.Build(ctx, bplan, opts); err != nil {
		return fmt.Errorf("data: viubench: %w", err)
	}
	if d.Bench, err = dataset.ReadJSONLFile(filepath.Join(d.BenchDir, dataset.JSONLName)); err != nil {
		return err
	}
	return nil
}

// LoadPrompts reads data.prompts (nil for "": our wording); a template
// missing a placeholder its task needs is an error naming both.
func LoadPrompts(dc configs.DataConfig) (*tasks.Prompts, error) {
	if dc.Prompts == "" {
		return nil, nil
	}
	p, err := tasks.LoadPrompts(dc.Prompts)
	if err != nil {
		return nil, fmt.Errorf("data.prompts: %w", err)
	}
	return &p, nil
}

// withPrompts adds a wording to the values of a settingsKey (none for our
// own, so the datasets made before data.prompts existed keep their keys).
func withPrompts(vals []any, p *tasks.Prompts) []any {
	if p == nil {
		return vals
	}
	return append(vals, p)
}

// settingsKey is a short hash of the values that define a dataset.
func settingsKey(vals ...any) string {
	b, err := json.Marshal(vals)
	if err != nil {
		b = []byte(fmt.Sprint(vals...))
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:4])
}

// BenchSpecs are VIUBench's nine subtypes with the frame-count dependent
// knobs (grounding segment length, counting frame gap) taken from the run's
// data settings, so a run on fewer than 48 frames gets a benchmark of the
// same kinds at its own scale. With the paper's 48 frames they are the
// paper's subtypes.
func BenchSpecs(dc configs.DataConfig) []tasks.TaskSpec {
	specs := tasks.ViubenchSpecs()
	if dc.Sampling.Frames == tasks.DefaultSamplingConfig().Frames {
		return specs
	}
	for i := range specs {
		specs[i].Grounding.MinLen, specs[i].Grounding.MaxLen = dc.Grounding.MinLen, dc.Grounding.MaxLen
		specs[i].Counting.MinFrameGap = dc.Counting.MinFrameGap
		specs[i].Counting.MaxFramesPerClass = min(specs[i].Counting.MaxFramesPerClass, max(dc.Counting.MaxFramesPerClass, 1)+1)
		specs[i].Jigsaw.Clips = largestDivisor(dc.Sampling.Frames, specs[i].Jigsaw.Clips)
	}
	return specs
}

// largestDivisor returns the largest divisor of n that is at most k and at
// least 2 (jigsaw clips must split the frames evenly).
func largestDivisor(n, k int) int {
	for d := min(k, n); d > 2; d-- {
		if n%d == 0 {
			return d
		}
	}
	return 2
}

// splitWarmup keeps in d.Warmup the warm-up candidates that show the model
// something no GRPO prompt shows (a jigsaw order or a deterministic
// perturbation drawn again would otherwise hand the warm-up a GRPO
// prompt's answer), and sorts both pools by id.
func splitWarmup(d *Data, warm []tasks.Sample, sources []tasks.DataSource, logf func(string)) error {
	if len(warm) > 0 {
		if err := keepDistinct(d, warm, sources, logf); err != nil {
			return err
		}
	}
	for _, pool := range []map[tasks.DataSource][]tasks.Sample{d.Train, d.Warmup} {
		for _, v := range pool {
			sort.Slice(v, func(i, j int) bool { return v[i].ID < v[j].ID })
		}
	}
	return nil
}

// keepDistinct adds to d.Warmup the candidates in warm whose fingerprint no
// GRPO prompt of d.Train has; every source must keep at least one.
func keepDistinct(d *Data, warm []tasks.Sample, sources []tasks.DataSource, logf func(string)) error {
	seen := map[string]bool{}
	for _, v := range d.Train {
		for i := range v {
			fp, err := Fingerprint(d.TrainDir, &v[i])
			if err != nil {
				return fmt.Errorf("data: %w", err)
			}
			seen[fp] = true
		}
	}
	dropped := 0
	for i := range warm {
		fp, err := Fingerprint(d.TrainDir, &warm[i])
		if err != nil {
			return fmt.Errorf("data: %w", err)
		}
		if seen[fp] {
			dropped++
			continue
		}
		d.Warmup[warm[i].DataSource] = append(d.Warmup[warm[i].DataSource], warm[i])
	}
	if dropped > 0 && logf != nil {
		logf(fmt.Sprintf("data: %d of %d warm-up samples dropped: their frames and question equal a GRPO prompt's", dropped, len(warm)))
	}
	for _, s := range sources {
		if len(d.Warmup[s]) == 0 {
			return fmt.Errorf("data.warmup_samples: no %s warm-up sample differs from the GRPO prompts (raise data.warmup_samples or the task's variety)", s)
		}
	}
	return nil
}

// shuffleAnswers gives every warm-up sample the answer of another sample
// of the same video and subtype (a seeded permutation of their answers), so
// the warm-up teaches each task's answer format and answer distribution but
// not how to read the answer off the video.
func shuffleAnswers(pool map[tasks.DataSource][]tasks.Sample, seed uint64) {
	for _, src := range tasks.AllDataSources() {
		groups := map[string][]int{}
		var keys []string
		for i, s := range pool[src] {
			k := s.VideoID + "\x00" + s.Subtype
			if _, ok := groups[k]; !ok {
				keys = append(keys, k)
			}
			groups[k] = append(groups[k], i)
		}
		for _, k := range keys {
			idx := groups[k]
			answers := make([]string, len(idx))
			for j, i := range idx {
				answers[j] = pool[src][i].Answer
			}
			rng := tasks.NewRand(seed ^ hashString(k))
			rng.Shuffle(len(answers), func(a, b int) { answers[a], answers[b] = answers[b], answers[a] })
			for j, i := range idx {
				pool[src][i].Answer = answers[j]
			}
		}
	}
}

// Fingerprint is a hash of what a sample shows the model: its question and
// the bytes of its frames in presented order (frame paths are relative to
// dir). Two samples with the same fingerprint are the same prompt.
func Fingerprint(dir string, s *tasks.Sample) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", s.Question)
	for _, v := range s.Frames.Videos() {
		fmt.Fprintf(h, "video %d\x00", len(v))
		for _, p := range v {
			fp := filepath.FromSlash(p)
			if !filepath.IsAbs(fp) {
				fp = filepath.Join(dir, fp)
			}
			b, err := os.ReadFile(fp)
			if err != nil {
				return "", fmt.Errorf("sample %s: %w", s.ID, err)
			}
			fh := sha256.Sum256(b)
			h.Write(fh[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
