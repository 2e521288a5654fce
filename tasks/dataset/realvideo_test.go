package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/tasks/video"
)

// The tests of this file build from real and synthetic video files through
// the OpenCV back end, which imports package dataset, so they are an
// external test package.

// sampleVideos returns the opencv-doc videos installed by scripts/setup.sh
// (third_party/videos next to go.mod), or skips the test.
func sampleVideos(t *testing.T) []string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the test directory")
		}
		dir = parent
	}
	var out []string
	for _, n := range []string{"vtest.avi", "tree.avi", "Megamind.avi"} {
		p := filepath.Join(dir, "third_party", "videos", n)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("%s missing: run scripts/setup.sh to install the opencv-doc sample videos", p)
		}
		out = append(out, p)
	}
	if _, err := video.Probe(out[0]); errors.Is(err, video.ErrNoOpenCV) {
		t.Skip("built without OpenCV")
	}
	return out
}

func tinyRealSampling() tasks.SamplingConfig {
	s := tasks.DefaultSamplingConfig()
	s.MaxPixels, s.MinPixels = 64*48, 0
	return s
}

// TestGenRealVideosAndBrokenInputs runs the builder on the opencv-doc
// videos plus one input of each broken kind.
func TestGenRealVideosAndBrokenInputs(t *testing.T) {
	good := sampleVideos(t)
	ctx := context.Background()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.MkdirAll(bad, 0o755)
	whole, err := os.ReadFile(good[0])
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(bad, "empty.avi"), nil, 0o644)
	os.WriteFile(filepath.Join(bad, "truncated.avi"), whole[:len(whole)/5], 0o644)
	os.WriteFile(filepath.Join(bad, "text.avi"), []byte(strings.Repeat("this is not a video\n", 200)), 0o644)
	short := video.DefaultSynthOptions()
	short.W, short.H, short.Frames = 32, 32, 20
	if err := video.MakeSyntheticVideo(ctx, filepath.Join(bad, "short.avi"), short); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, good...), bad, filepath.Join(dir, "missing.avi"))
	inputs, err := dataset.ListInputs(args)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tasks.DefaultGenConfig()
	plan, err := dataset.PlanGen(inputs, tasks.GenSpecs(cfg, tasks.AllDataSources()), 1, 3, tinyRealSampling(), dataset.Shard{Index: 0, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	out := filepath.Join(dir, "out")
	sum, err := dataset.Build(ctx, plan, dataset.Options{Out: out, Workers: 2, Backend: opencv.Backend{}, Log: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"missing.avi": "not found", "empty.avi": "empty", "truncated.avi": "truncated",
		"text.avi": "not a decodable video", "short.avi": "too short",
	}
	if len(sum.Skipped) != len(want) {
		t.Fatalf("skipped %+v", sum.Skipped)
	}
	for _, s := range sum.Skipped {
		if w := want[filepath.Base(s.Video)]; w == "" || !strings.Contains(s.Reason, w) {
			t.Errorf("%s skipped for %q, want a reason containing %q", s.Video, s.Reason, w)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("log lines %q", lines)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "skip ") || strings.Contains(l, "\n") {
			t.Errorf("log line %q", l)
		}
	}
	if m := sum.Manifest; m.Total != 9 || m.Videos != 3 || len(m.Skipped) != 5 {
		t.Fatalf("manifest %+v", m)
	}
	if err := dataset.Verify(out, dataset.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range dataset.CheckAnswers(t, out) {
		if s.FPS <= 0 || s.Meta.Width*s.Meta.Height > 64*48 {
			t.Fatalf("%s: fps %g size %dx%d", s.ID, s.FPS, s.Meta.Width, s.Meta.Height)
		}
	}

	// Only broken inputs: the build fails.
	plan, _ = dataset.PlanGen([]dataset.Input{{Path: filepath.Join(bad, "text.avi"), ID: "text.avi"}}, tasks.GenSpecs(cfg, tasks.AllDataSources()), 1, 3, tinyRealSampling(), dataset.Shard{Index: 0, Count: 1})
	if _, err := dataset.Build(ctx, plan, dataset.Options{Out: filepath.Join(dir, "none"), Backend: opencv.Backend{}}); !errors.Is(err, dataset.ErrAllInputsFailed) {
		t.Fatalf("all broken: %v", err)
	}
}

// TestGenSyntheticVideos makes synthetic videos and builds from them twice:
// the second build in a new directory gives the same bytes.
func TestGenSyntheticVideos(t *testing.T) {
	sampleVideos(t) // OpenCV present?
	ctx := context.Background()
	dir := t.TempDir()
	var outs []string
	for k := range 2 {
		d := filepath.Join(dir, string(rune('a'+k)))
		paths, err := dataset.MakeSynthetic(ctx, opencv.Backend{}, filepath.Join(d, "synthetic"), 2, 5)
		if err != nil {
			t.Fatal(err)
		}
		inputs, err := dataset.ListInputs(paths)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := dataset.PlanGen(inputs, tasks.GenSpecs(tasks.DefaultGenConfig(), tasks.AllDataSources()), 1, 5, tinyRealSampling(), dataset.Shard{Index: 0, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := dataset.Build(ctx, plan, dataset.Options{Out: d, Workers: 2, Backend: opencv.Backend{}})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Manifest.Total != 6 || len(sum.Skipped) != 0 {
			t.Fatalf("summary %+v", sum)
		}
		dataset.CheckAnswers(t, d)
		outs = append(outs, d)
	}
	dataset.SameTree(t, outs[0], outs[1])
}

// BenchmarkGenVideo runs a whole `gen` build per op on one video file (one
// worker): decoding 48 frames, resizing them to the 256x256 budget, storing
// them, and one sample of each task (or 4 of each), then the data files and
// the manifest. It reports samples/s.
func BenchmarkGenVideo(b *testing.B) {
	dir, err := os.Getwd()
	if err != nil {
		b.Fatal(err)
	}
	vids := filepath.Join(dir, "..", "..", "third_party", "videos")
	synth := filepath.Join(b.TempDir(), "synthetic.avi")
	if err := video.MakeSyntheticVideo(context.Background(), synth, video.DefaultSynthOptions()); err != nil {
		b.Skipf("no video writing: %v", err)
	}
	for _, v := range []string{filepath.Join(vids, "vtest.avi"), filepath.Join(vids, "Megamind.avi"), synth} {
		if _, err := os.Stat(v); err != nil {
			b.Skipf("%s missing: run scripts/setup.sh", v)
		}
		for _, per := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/per-video=%d", filepath.Base(v), per), func(b *testing.B) {
				inputs, err := dataset.ListInputs([]string{v})
				if err != nil {
					b.Fatal(err)
				}
				cfg := tasks.DefaultGenConfig()
				plan, err := dataset.PlanGen(inputs, tasks.GenSpecs(cfg, tasks.AllDataSources()), per, 1, cfg.Sampling, dataset.Shard{})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for b.Loop() {
					sum, err := dataset.Build(context.Background(), plan, dataset.Options{Out: b.TempDir(), Workers: 1, Backend: opencv.Backend{}})
					if err != nil {
						b.Fatal(err)
					}
					n += sum.Generated
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}
