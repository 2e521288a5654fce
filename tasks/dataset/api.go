package dataset

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/media"
)

// GenRequest describes a pretext-data run (`trainer gen`).
type GenRequest struct {
	// Videos lists video files and/or directories (walked for files with a
	// video extension).
	Videos []string
	// Synthetic, when > 0, first makes that many synthetic videos under
	// Out/synthetic (seeded by Seed) and adds them to the inputs.
	Synthetic int
	// Out is the dataset directory; running the same request again
	// resumes an interrupted run.
	Out string
	// Tasks lists the pretext tasks (nil: grounding, counting, jigsaw).
	Tasks []tasks.DataSource
	// Config holds every generator knob (zero value: tasks.DefaultGenConfig).
	Config tasks.GenConfig
	// PerVideo is the number of samples per task per video (0: 1).
	PerVideo int
	// Prompts is the wording of the questions and the system message
	// (nil: tasks.DefaultPrompts).
	Prompts *tasks.Prompts
	// Seed is the run seed.
	Seed uint64
	// Shard selects part of the inputs (zero value: all).
	Shard Shard
	// Backend samples the videos, encodes the frames and writes the
	// synthetic videos (required; tasks/dataset/opencv is OpenCV's, which
	// also holds the video size cap and whether damaged videos are kept).
	Backend Backend
	// Workers, Formats, Progress and Log are passed to Build.
	Workers  int
	Formats  []string
	Progress io.Writer
	Log      func(line string)
}

// Generate runs a pretext-data request (GenerateDir) and returns the
// finished dataset's samples in file order with the build summary. Frame
// paths in the samples are relative to req.Out (see LoadFrames).
func Generate(ctx context.Context, req GenRequest) ([]tasks.Sample, *Summary, error) {
	sum, err := GenerateDir(ctx, req)
	if err != nil {
		return nil, sum, err
	}
	samples, err := ReadDir(req.Out)
	if err != nil {
		return nil, sum, err
	}
	return samples, sum, nil
}

// GenerateDir runs a pretext-data request: it lists the inputs, plans the
// samples and builds them into req.Out (see Build) without reading them
// back. Inputs that cannot be used are skipped and listed in the summary;
// an error is returned when every input fails, and on cancellation
// (finished samples are kept, so the same request resumes). It holds the
// lock of req.Out (LockDir) while it works.
func GenerateDir(ctx context.Context, req GenRequest) (*Summary, error) {
	if req.Out == "" {
		return nil, errors.New("generate: no output directory")
	}
	if req.Backend == nil {
		return nil, fmt.Errorf("generate: %w", errNoBackend)
	}
	cfg := req.Config
	if cfg.Sampling.Frames == 0 {
		cfg = tasks.DefaultGenConfig()
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	ts := req.Tasks
	if len(ts) == 0 {
		ts = tasks.AllDataSources()
	}
	per := req.PerVideo
	if per == 0 {
		per = 1
	}
	lock, err := LockDir(req.Out)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	videos := slices.Clone(req.Videos)
	if req.Synthetic > 0 {
		paths, err := MakeSynthetic(ctx, req.Backend, filepath.Join(req.Out, "synthetic"), req.Synthetic, req.Seed)
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		videos = append(videos, paths...)
	}
	if len(videos) == 0 {
		return nil, errors.New("generate: no input videos")
	}
	inputs, err := ListInputs(videos)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if len(inputs) == 0 {
		return nil, fmt.Errorf("generate: no video files found in %s", strings.Join(videos, ", "))
	}
	plan, err := PlanGen(inputs, tasks.WithPrompts(tasks.GenSpecs(cfg, ts), req.Prompts), per, req.Seed, cfg.Sampling, req.Shard)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	return build(ctx, plan, Options{
		Out: req.Out, Workers: req.Workers, Formats: req.Formats, Backend: req.Backend,
		Progress: req.Progress, Log: req.Log,
	})
}

// ViubenchRequest describes a VIUBench build (`trainer viubench build`).
type ViubenchRequest struct {
	// Videos lists video files and/or directories.
	Videos []string
	// Out is the output directory.
	Out string
	// PerSubtype is the number of questions per subtype (0: 300).
	PerSubtype int
	// Subtypes restricts the build to these subtypes (nil: all nine, see
	// tasks.ViubenchSpecs).
	Subtypes []string
	// Prompts is the wording of the questions and the system message
	// (nil: tasks.DefaultPrompts).
	Prompts *tasks.Prompts
	// Seed is the build seed.
	Seed uint64
	// MaxPixels bounds the frame size (0: 512x512).
	MaxPixels int
	// Backend samples the videos and encodes the frames (required;
	// tasks/dataset/opencv is OpenCV's, which also holds the video size
	// cap and whether damaged videos are kept).
	Backend Backend
	// Workers, Formats, Progress and Log are passed to Build.
	Workers  int
	Formats  []string
	Progress io.Writer
	Log      func(line string)
}

// ViubenchSpecsFor returns the VIUBench specs of the named subtypes in the
// given order (nil or empty: all nine in canonical order).
func ViubenchSpecsFor(names []string) ([]tasks.TaskSpec, error) {
	specs := tasks.ViubenchSpecs()
	if len(names) == 0 {
		return specs, nil
	}
	var all []string
	for _, s := range specs {
		all = append(all, s.Subtype)
	}
	var keep []tasks.TaskSpec
	for _, name := range names {
		i := slices.Index(all, strings.TrimSpace(name))
		if i < 0 {
			return nil, fmt.Errorf("unknown VIUBench subtype %q (want %s)", name, strings.Join(all, ", "))
		}
		keep = append(keep, specs[i])
	}
	return keep, nil
}

// BuildViubench builds VIUBench from videos into req.Out and returns its
// samples in file order with the build summary. Every input is first
// sampled once (CheckInputs), so that videos that cannot give the frames
// (missing, empty, truncated, not a video, too short) are skipped before
// the questions are spread over the videos, and each subtype gets exactly
// PerSubtype questions. This decodes each video twice; VIUBench is built
// once. It holds the lock of req.Out (LockDir) while it works.
func BuildViubench(ctx context.Context, req ViubenchRequest) ([]tasks.Sample, *Summary, error) {
	if req.Out == "" {
		return nil, nil, errors.New("viubench: no output directory")
	}
	if req.Backend == nil {
		return nil, nil, fmt.Errorf("viubench: %w", errNoBackend)
	}
	specs, err := ViubenchSpecsFor(req.Subtypes)
	if err != nil {
		return nil, nil, fmt.Errorf("viubench: %w", err)
	}
	specs = tasks.WithPrompts(specs, req.Prompts)
	lock, err := LockDir(req.Out)
	if err != nil {
		return nil, nil, fmt.Errorf("viubench: %w", err)
	}
	defer lock.Unlock()
	per := req.PerSubtype
	if per == 0 {
		per = 300
	}
	sampling := tasks.ViubenchSampling()
	if req.MaxPixels != 0 {
		sampling.MaxPixels = req.MaxPixels
		sampling.MinPixels = min(sampling.MinPixels, req.MaxPixels)
	}
	if err := sampling.Validate(); err != nil {
		return nil, nil, fmt.Errorf("viubench: %w", err)
	}
	if len(req.Videos) == 0 {
		return nil, nil, errors.New("viubench: no input videos")
	}
	inputs, err := ListInputs(req.Videos)
	if err != nil {
		return nil, nil, fmt.Errorf("viubench: %w", err)
	}
	usable, skipped, err := CheckInputs(ctx, inputs, sampling, req.Backend, req.Workers)
	if err != nil {
		return nil, nil, fmt.Errorf("viubench: %w", err)
	}
	for _, s := range skipped {
		if req.Log != nil {
			req.Log(fmt.Sprintf("skip %s: %s", s.Video, s.Reason))
		}
	}
	if len(usable) == 0 {
		sum := &Summary{Inputs: len(inputs), Skipped: skipped}
		return nil, sum, fmt.Errorf("viubench: %w (%d inputs, see the skip reasons)", ErrAllInputsFailed, len(inputs))
	}
	plan, err := PlanViubench(usable, specs, per, req.Seed, sampling)
	if err != nil {
		return nil, nil, fmt.Errorf("viubench: %w", err)
	}
	return buildAndRead(ctx, plan, Options{
		Out: req.Out, Workers: req.Workers, Formats: req.Formats, Backend: req.Backend,
		Progress: req.Progress, Log: req.Log, PreSkipped: skipped,
	})
}

// buildAndRead builds a plan (the lock of opts.Out held) and reads the
// finished samples back.
func buildAndRead(ctx context.Context, plan *Plan, opts Options) ([]tasks.Sample, *Summary, error) {
	sum, err := build(ctx, plan, opts)
	if err != nil {
		return nil, sum, err
	}
	samples, err := ReadDir(opts.Out)
	if err != nil {
		return nil, sum, err
	}
	return samples, sum, nil
}

// CheckInputs loads every input once with loader at the given sampling (in
// parallel, workers at a time; 0: all cores) and returns the inputs that
// give the frames, in input order, and the others with the reason. A
// binary built without OpenCV (an error wrapping media.ErrNoOpenCV) is an
// error, not a skip.
func CheckInputs(ctx context.Context, inputs []Input, sampling tasks.SamplingConfig, loader Loader, workers int) ([]Input, []Skip, error) {
	if loader == nil {
		return nil, nil, fmt.Errorf("check inputs: %w", errNoBackend)
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	errs := make([]error, len(inputs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(len(inputs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				frames, fps, err := loader.Load(ctx, inputs[i].Path, sampling)
				if keptDamaged(frames, err) {
					err = nil
				}
				if err == nil && len(frames) != sampling.Frames {
					err = fmt.Errorf("got %d frames, want %d", len(frames), sampling.Frames)
				}
				if err == nil && !(fps > 0) {
					err = fmt.Errorf("sampling fps %g is not positive", fps)
				}
				errs[i] = err
			}
		}()
	}
feed:
	for i := range inputs {
		select {
		case <-ctx.Done():
			break feed
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("check inputs: %w", err)
	}
	var ok []Input
	var skipped []Skip
	for i, in := range inputs {
		switch err := errs[i]; {
		case err == nil:
			ok = append(ok, in)
		case errors.Is(err, media.ErrNoOpenCV):
			return nil, nil, err
		default:
			reason := strings.ReplaceAll(err.Error(), "\n", " ")
			reason = strings.TrimPrefix(reason, fmt.Sprintf("video %q: ", in.Path))
			skipped = append(skipped, Skip{Video: in.Path, VideoID: in.ID, Reason: reason})
		}
	}
	return ok, skipped, nil
}

// ReadJSONLFile reads every sample of a JSONL file (a regular file of at
// most DefaultMaxDataBytes).
func ReadJSONLFile(path string) ([]tasks.Sample, error) {
	f, err := OpenRegular(path, DefaultMaxDataBytes)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	s, err := ReadJSONL(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ReadDir reads the samples of a dataset directory made by Build: its
// data.jsonl, or its data.parquet when there is no JSONL file. Frame
// paths stay relative to dir.
func ReadDir(dir string) ([]tasks.Sample, error) {
	p := filepath.Join(dir, JSONLName)
	if _, err := os.Stat(p); err == nil {
		return ReadJSONLFile(p)
	}
	q := filepath.Join(dir, ParquetName)
	if _, err := os.Stat(q); err == nil {
		return ReadParquet(q)
	}
	return nil, fmt.Errorf("read samples: %s has neither %s nor %s", dir, JSONLName, ParquetName)
}

// ReadOptions say where the files named by a dataset's rows may lie and
// how large they may be.
type ReadOptions struct {
	// AllowOutside lets rows name files outside the dataset directory
	// (see ResolvePath); by default such a row is an error.
	AllowOutside bool
	// MaxFrameBytes caps each frame file (0: DefaultMaxFrameBytes).
	MaxFrameBytes int64
}

func (o ReadOptions) maxFrameBytes() int64 {
	if o.MaxFrameBytes > 0 {
		return o.MaxFrameBytes
	}
	return DefaultMaxFrameBytes
}

// LoadFrames decodes with dec the frames of a sample whose frame paths are
// relative to dir, with the default ReadOptions (see LoadFramesWith).
func LoadFrames(dec Decoder, dir string, s *tasks.Sample) ([][]*frame.Frame, error) {
	return LoadFramesWith(dec, dir, s, ReadOptions{})
}

// LoadFramesWith decodes with dec the frames of a sample whose frame paths
// are resolved against dir (ResolvePath): one list per video input, so a
// grounding or counting sample gives one list and a jigsaw sample one list
// per clip, in presented order. Only regular files within the size cap are
// read; the decoder refuses oversized images (OpenCV's: larger than
// video.MaxImagePixels) before it decodes them.
func LoadFramesWith(dec Decoder, dir string, s *tasks.Sample, opt ReadOptions) ([][]*frame.Frame, error) {
	if dec == nil {
		return nil, fmt.Errorf("sample %s: %w", s.ID, errNoBackend)
	}
	vids := s.Frames.Videos()
	out := make([][]*frame.Frame, len(vids))
	for i, v := range vids {
		if len(v) == 0 {
			return nil, fmt.Errorf("sample %s: video input %d has no frames", s.ID, i+1)
		}
		out[i] = make([]*frame.Frame, len(v))
		for j, p := range v {
			fp, err := ResolvePath(dir, p, opt.AllowOutside)
			if err != nil {
				return nil, fmt.Errorf("sample %s: frame %w", s.ID, err)
			}
			data, err := ReadRegular(fp, opt.maxFrameBytes())
			if err != nil {
				return nil, fmt.Errorf("sample %s: frame %w", s.ID, err)
			}
			f, err := dec.DecodeJPEG(data)
			if err != nil {
				return nil, fmt.Errorf("sample %s: frame %s: %w", s.ID, fp, err)
			}
			out[i][j] = f
		}
	}
	return out, nil
}

// ExportVerl writes the samples of the dataset directory dir as a verl
// Parquet file at out with absolute frame paths, so the reference trainer
// can read the frames from any working directory. (The data.parquet inside
// dir keeps paths relative to dir, so the directory can move.) Paths are
// resolved with ResolvePath: a frame outside dir is an error unless
// opt.AllowOutside. It returns the number of rows written.
func ExportVerl(dir, out string, opt ReadOptions) (int, error) {
	samples, err := ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for i := range samples {
		s := &samples[i]
		for _, v := range s.Frames.Videos() {
			for k, p := range v {
				fp, err := ResolvePath(dir, p, opt.AllowOutside)
				if err != nil {
					return 0, fmt.Errorf("export: sample %s: frame %w", s.ID, err)
				}
				if v[k], err = filepath.Abs(fp); err != nil {
					return 0, fmt.Errorf("export: %w", err)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := WriteParquet(&buf, samples); err != nil {
		return 0, err
	}
	if err := writeFileAtomic(out, buf.Bytes(), true); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	return len(samples), nil
}
