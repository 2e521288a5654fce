package dataset

import (
	"context"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
)

// trainingFrames returns 48 synthetic frames at the training size of a 4:3
// video (295x221 inside the 256x256 pixel budget).
func trainingFrames(b *testing.B) []*frame.Frame {
	o := video.DefaultSynthOptions()
	o.Frames = 48
	fs, err := video.Synthesize(o)
	if err != nil {
		b.Fatal(err)
	}
	w, h := frame.FitPixels(o.W, o.H, 256*256, 128*128)
	for i, f := range fs {
		fs[i] = frame.Resize(f, w, h)
	}
	return fs
}

// BenchmarkSample makes and commits one sample per op from frames already
// sampled: generation, JPEG encoding of the changed frames, the frame
// folder, the JSONL row and the record (the per-sample work of `gen` once a
// video is decoded and its frames stored). It reports samples/s.
func BenchmarkSample(b *testing.B) {
	frames := trainingFrames(b)
	cfg := tasks.DefaultGenConfig()
	for _, spec := range tasks.GenSpecs(cfg, tasks.AllDataSources()) {
		b.Run(string(spec.Task), func(b *testing.B) {
			out := b.TempDir()
			in := Input{Path: "/videos/bench.mp4", ID: "bench.mp4"}
			plan := &Plan{Kind: "gen", Split: "train", Seed: 1, Sampling: cfg.Sampling, Specs: []tasks.TaskSpec{spec}, Inputs: []Input{in}}
			loader := LoaderFunc(func(context.Context, string, tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
				return frames, 1.2, nil
			})
			cache := &frameCache{entries: map[int]*cacheEntry{0: {refs: 1 << 30}}, loader: loader, enc: testBackend{}, sampling: cfg.Sampling, inputs: plan.Inputs}
			// Store the shared frames before timing.
			id, seed := sampleID(1, in.ID, spec.Key(), -1)
			if _, err := runJob(context.Background(), plan, cache, out, Job{Input: 0, Donor: -1, ID: id, Seed: seed, Index: -1}); err != nil {
				b.Fatal(err)
			}
			k := 0
			for b.Loop() {
				id, seed := sampleID(1, in.ID, spec.Key(), k)
				if _, err := runJob(context.Background(), plan, cache, out, Job{Input: 0, Donor: -1, ID: id, Seed: seed, Index: k}); err != nil {
					b.Fatal(err)
				}
				k++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
