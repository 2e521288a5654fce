package dataset

import (
	"bytes"
	"context"
	"encoding/json"
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

// Options control a build, not its output bytes.
type Options struct {
	// Out is the dataset directory (created if needed).
	Out string
	// Workers is the number of parallel workers (0: all cores).
	Workers int
	// Formats lists the data files to write: "jsonl", "parquet" (nil:
	// both).
	Formats []string
	// Backend samples the videos and encodes the frames written
	// (required; tasks/dataset/opencv is OpenCV's).
	Backend Backend
	// Progress, if set, receives a progress bar.
	Progress io.Writer
	// Log, if set, receives one line per skipped input or failed sample.
	Log func(line string)
	// PreSkipped lists inputs already rejected before planning (e.g. by a
	// probe); they go into the summary and manifest.
	PreSkipped []Skip
}

// Summary reports what a build did.
type Summary struct {
	// Planned samples; Generated now; Reused from an earlier, interrupted
	// run; Repaired: committed by an earlier run but with a damaged or
	// missing frame file or record, so made again (and counted in
	// Generated when that succeeds); Failed ones (their video loaded but
	// generation failed); Lost ones (their video was skipped).
	Planned, Generated, Reused, Repaired, Failed, Lost int
	// Inputs is the number of inputs of this shard; Skipped those that
	// gave nothing, with reasons.
	Inputs  int
	Skipped []Skip
	// Damaged lists the inputs whose decoder reported errors, whether
	// skipped (then in Skipped too) or kept (the Loader gave their frames
	// with an error wrapping media.ErrDamaged).
	Damaged []Skip
	// Failures lists failed samples.
	Failures []Failure
	// Manifest is the finished directory's manifest (nil when interrupted).
	Manifest *Manifest
}

// ErrAllInputsFailed is returned when no input video could be used.
var ErrAllInputsFailed = errors.New("every input video failed")

// cacheEntry is one input's sampled frames, loaded once and dropped when
// its last job is done.
type cacheEntry struct {
	once   sync.Once
	frames []*frame.Frame
	fps    float64
	err    error
	warn   error // the frames are used, but the decoder reported damage
	refs   int
	// srcOnce writes the shared copy of the frames (src) the first time a
	// sample of this input needs it; a donor use does not.
	srcOnce sync.Once
	src     *sourceFrames
	srcErr  error
}

type frameCache struct {
	mu       sync.Mutex
	entries  map[int]*cacheEntry
	loader   Loader
	enc      Encoder
	sampling tasks.SamplingConfig
	inputs   []Input
}

func (c *frameCache) get(ctx context.Context, i int) *cacheEntry {
	c.mu.Lock()
	e := c.entries[i]
	c.mu.Unlock()
	e.once.Do(func() {
		e.frames, e.fps, e.err = c.loader.Load(ctx, c.inputs[i].Path, c.sampling)
		if keptDamaged(e.frames, e.err) {
			e.warn, e.err = e.err, nil
		}
		if e.err == nil && len(e.frames) != c.sampling.Frames {
			e.err = fmt.Errorf("got %d frames, want %d", len(e.frames), c.sampling.Frames)
		}
		if e.err == nil && !(e.fps > 0) {
			e.err = fmt.Errorf("sampling fps %g is not positive", e.fps)
		}
	})
	return e
}

func (c *frameCache) release(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[i]
	e.refs--
	if e.refs <= 0 {
		e.frames, e.src = nil, nil
	}
}

// runSettings is what run.json records: everything that decides the bytes
// of the samples.
func runSettings(p *Plan) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode run settings: %w", err)
	}
	return append(b, '\n'), nil
}

// checkRun writes out/run.json, or checks that an existing one matches:
// resuming with other settings would mix incompatible samples.
func checkRun(out string, settings []byte) error {
	p := filepath.Join(out, RunName)
	old, err := ReadRegular(p, maxMetaBytes)
	if err == nil {
		if !bytes.Equal(old, settings) {
			return fmt.Errorf("output directory %s was made with other settings (see %s); use a new --out", out, p)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return writeFileAtomic(p, settings, true)
}

// Build makes every planned sample that is not already committed in
// opts.Out, then writes the data files and the manifest. An interrupted
// build (ctx cancelled) keeps every finished sample; running it again
// makes only the missing ones and gives the same bytes. Inputs that cannot
// be sampled are skipped with a reason; if none can be used Build returns
// ErrAllInputsFailed (after writing what it has). Build holds the lock of
// opts.Out (LockDir) while it works: a second build into the same
// directory is refused with an error naming the first one's pid.
func Build(ctx context.Context, plan *Plan, opts Options) (*Summary, error) {
	lock, err := LockDir(opts.Out)
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	return build(ctx, plan, opts)
}

// build is Build with the lock of opts.Out already held.
func build(ctx context.Context, plan *Plan, opts Options) (*Summary, error) {
	formats := opts.Formats
	if formats == nil {
		formats = []string{"jsonl", "parquet"}
	}
	for _, f := range formats {
		if f != "jsonl" && f != "parquet" {
			return nil, fmt.Errorf("unknown format %q (want jsonl or parquet)", f)
		}
	}
	if opts.Backend == nil {
		return nil, fmt.Errorf("build: %w", errNoBackend)
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	logf := func(format string, a ...any) {
		if opts.Log != nil {
			opts.Log(strings.ReplaceAll(fmt.Sprintf(format, a...), "\n", " "))
		}
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	settings, err := runSettings(plan)
	if err != nil {
		return nil, err
	}
	if err := checkRun(opts.Out, settings); err != nil {
		return nil, err
	}
	if err := writeShardInfo(opts.Out, newShardInfo(plan.Shard, plan.Inputs)); err != nil {
		return nil, err
	}

	sum := &Summary{Planned: len(plan.Jobs), Skipped: slices.Clone(opts.PreSkipped)}
	inShard := map[int]bool{}
	var pending []Job
	known := map[string]bool{}
	for _, j := range plan.Jobs {
		inShard[j.Input] = true
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("build interrupted: %w", err)
		}
		if reusable(opts.Out, j.ID, known, logf) {
			sum.Reused++
			continue
		}
		if _, err := os.Stat(recordPath(opts.Out, j.ID)); err == nil {
			if err := os.Remove(recordPath(opts.Out, j.ID)); err != nil {
				return sum, fmt.Errorf("repair sample %s: %w", j.ID, err)
			}
			sum.Repaired++
		}
		pending = append(pending, j)
	}
	sum.Inputs = len(inShard)
	// Work through the jobs video by video so few videos are held at once.
	slices.SortStableFunc(pending, func(a, b Job) int { return a.Input - b.Input })
	cache := &frameCache{entries: map[int]*cacheEntry{}, loader: opts.Backend, enc: opts.Backend, sampling: plan.Sampling, inputs: plan.Inputs}
	for _, j := range pending {
		for _, i := range []int{j.Input, j.Donor} {
			if i < 0 {
				continue
			}
			if cache.entries[i] == nil {
				cache.entries[i] = &cacheEntry{}
			}
			cache.entries[i].refs++
		}
	}

	bar := newProgress(opts.Progress, len(plan.Jobs), sum.Reused)
	var mu sync.Mutex
	skipped := map[int]bool{}
	damaged := map[int]bool{}
	usedInput := map[int]bool{}
	for _, j := range plan.Jobs {
		if _, ok := cache.entries[j.Input]; !ok {
			usedInput[j.Input] = true // all its samples were already made
		}
	}
	jobs := make(chan Job)
	var wg sync.WaitGroup
	for range min(workers, max(len(pending), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				warn, err := runJob(ctx, plan, cache, opts.Out, j)
				mu.Lock()
				if in := plan.Inputs[j.Input]; !damaged[j.Input] {
					switch {
					case warn != nil:
						damaged[j.Input] = true
						reason := damageReason(in, warn)
						sum.Damaged = append(sum.Damaged, Skip{Video: in.Path, VideoID: in.ID, Reason: reason})
						bar.log(fmt.Sprintf("damaged %s: %s (its samples are kept)", in.Path, reason), logf)
					case errors.Is(err, media.ErrDamaged):
						damaged[j.Input] = true
						reason := strings.TrimPrefix(damageReason(in, err), errInput.Error()+": ")
						sum.Damaged = append(sum.Damaged, Skip{Video: in.Path, VideoID: in.ID, Reason: strings.TrimPrefix(reason, fmt.Sprintf("video %q: ", in.Path))})
					}
				}
				switch {
				case err == nil:
					sum.Generated++
					usedInput[j.Input] = true
				case ctx.Err() != nil:
					// interrupted: nothing to report
				case errors.Is(err, errInput):
					sum.Lost++
					if !skipped[j.Input] {
						skipped[j.Input] = true
						in := plan.Inputs[j.Input]
						reason := strings.TrimPrefix(err.Error(), errInput.Error()+": ")
						// The line names the file already.
						reason = strings.TrimPrefix(reason, fmt.Sprintf("video %q: ", in.Path))
						reason = strings.TrimPrefix(reason, in.Path+": ")
						sum.Skipped = append(sum.Skipped, Skip{Video: in.Path, VideoID: in.ID, Reason: reason})
						bar.log(fmt.Sprintf("skip %s: %s", in.Path, reason), logf)
					}
				default:
					sum.Failed++
					usedInput[j.Input] = true
					in := plan.Inputs[j.Input]
					f := Failure{ID: j.ID, VideoID: in.ID, Spec: plan.Specs[j.Spec].Key(), Reason: err.Error()}
					sum.Failures = append(sum.Failures, f)
					bar.log(fmt.Sprintf("failed sample %s (%s, %s): %s", j.ID, in.Path, f.Spec, f.Reason), logf)
				}
				bar.add(1)
				mu.Unlock()
				cache.release(j.Input)
				if j.Donor >= 0 {
					cache.release(j.Donor)
				}
			}
		}()
	}
feed:
	for _, j := range pending {
		select {
		case <-ctx.Done():
			break feed
		case jobs <- j:
		}
	}
	close(jobs)
	wg.Wait()
	bar.done()
	if err := ctx.Err(); err != nil {
		return sum, fmt.Errorf("build interrupted (finished samples are kept; run again to resume): %w", err)
	}
	ids := make([]string, len(plan.Jobs))
	for i, j := range plan.Jobs {
		ids[i] = j.ID
	}
	head := Manifest{Kind: plan.Kind, Split: plan.Split, Seed: plan.Seed, Skipped: sum.Skipped, Failed: sum.Failures, Damaged: sum.Damaged}
	m, err := finalize(opts.Out, head, ids, formats)
	if err != nil {
		return sum, err
	}
	sum.Manifest = m
	sum.Skipped, sum.Failures, sum.Damaged = m.Skipped, m.Failed, m.Damaged
	if sum.Inputs > 0 && len(usedInput) == 0 {
		return sum, fmt.Errorf("%w (%d inputs, see the skip reasons)", ErrAllInputsFailed, sum.Inputs)
	}
	return sum, nil
}

// reusable reports whether the committed record of sample id under out can
// be reused: it reads, and every frame file it names still holds the
// recorded bytes. Damaged or missing frame files are removed (a shared
// source frame folder missing a file is written again whole by the next
// sample of its video) and logged; the caller then makes the sample again.
func reusable(out, id string, known map[string]bool, logf func(string, ...any)) bool {
	rec, err := readRecord(recordPath(out, id))
	if errors.Is(err, errNoRecord) {
		return false
	}
	if err != nil {
		logf("repair sample %s: %v; making it again", id, err)
		return false
	}
	ok, bad := intact(out, rec, known)
	if ok {
		return true
	}
	for _, p := range bad {
		if rel := filepath.FromSlash(p); filepath.IsLocal(rel) {
			os.Remove(filepath.Join(out, rel))
		}
	}
	if len(bad) == 0 {
		logf("repair sample %s: its record is damaged; making it again", id)
	} else {
		logf("repair sample %s: frame file(s) %s damaged or missing; making it again", id, strings.Join(bad, ", "))
	}
	return false
}

// errInput marks errors of loading the input video (the input is skipped).
var errInput = errors.New("input")

// runJob makes and commits one sample. warn is the damage its input's
// loader reported for frames it still gave (the sample is made).
func runJob(ctx context.Context, plan *Plan, cache *frameCache, out string, j Job) (warn, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e := cache.get(ctx, j.Input)
	if e.err != nil {
		return nil, fmt.Errorf("%w: %w", errInput, e.err)
	}
	return e.warn, makeSample(ctx, plan, cache, e, out, j)
}

// makeSample generates, stores and commits the sample of job j from its
// input's loaded frames e.
func makeSample(ctx context.Context, plan *Plan, cache *frameCache, e *cacheEntry, out string, j Job) error {
	in := plan.Inputs[j.Input]
	spec := plan.Specs[j.Spec]
	src := tasks.Source{Frames: e.frames, FPS: e.fps}
	if j.Donor >= 0 {
		d := cache.get(ctx, j.Donor)
		if d.err == nil {
			src.Donor = fitFrames(d.frames, e.frames[0].W, e.frames[0].H)
			src.DonorID = plan.Inputs[j.Donor].ID
		}
	}
	g, err := spec.Generate(src, tasks.NewRand(j.Seed))
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	g.Meta.Seed = j.Seed
	e.srcOnce.Do(func() {
		e.src, e.srcErr = writeSources(cache.enc, out, sourceKey(in.ID), e.frames, plan.Sampling.JPEGQuality)
	})
	if e.srcErr != nil {
		return e.srcErr
	}
	frames, blobs, sums, err := writeFrames(cache.enc, out, j.ID, g, plan.Sampling.JPEGQuality, e.src)
	if err != nil {
		return err
	}
	s := tasks.Sample{
		ID: j.ID, DataSource: g.DataSource, Subtype: g.Subtype, Split: plan.Split, Index: j.Index,
		Video: videoField(out, in.Path), VideoID: in.ID, Frames: frames, FPS: e.fps,
		MaxPixels: plan.Sampling.MaxPixels, MinPixels: plan.Sampling.MinPixels,
		Prompt:   spec.Messages(g.Question, len(g.Videos()), g.Clips != nil),
		Question: g.Question, Answer: g.Answer, Meta: g.Meta,
	}
	row, err := MarshalRow(&s)
	if err != nil {
		return err
	}
	return writeRecord(out, j.ID, record{sum: SampleChecksum(row, blobs), row: row, files: sums})
}

// fitFrames resizes donor frames to w x h (shared when already that size).
func fitFrames(fs []*frame.Frame, w, h int) []*frame.Frame {
	out := make([]*frame.Frame, len(fs))
	for i, f := range fs {
		if f.W == w && f.H == h {
			out[i] = f
		} else {
			out[i] = frame.Resize(f, w, h)
		}
	}
	return out
}

// videoField returns the path stored in a sample's video field: relative
// (slash-separated) when the video lies inside the dataset directory, as
// synthetic videos do, so the directory can move; else as given.
func videoField(out, p string) string {
	ao, err1 := filepath.Abs(out)
	ap, err2 := filepath.Abs(p)
	if err1 != nil || err2 != nil {
		return p
	}
	rel, err := filepath.Rel(ao, ap)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return p
	}
	return filepath.ToSlash(rel)
}
