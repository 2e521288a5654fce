package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/media"
)

func TestGenerateReturnsSamplesAndLoadFrames(t *testing.T) {
	out := t.TempDir()
	cfg := tasks.DefaultGenConfig()
	cfg.Sampling = smallSampling()
	samples, sum, err := Generate(context.Background(), GenRequest{
		Videos: []string{"/videos/a.mp4", "/videos/b.mp4", "/videos/broken.mp4"},
		Out:    out, Config: cfg, PerVideo: 2, Seed: 4, Workers: 2, Backend: testBackend{fakeLoader()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 12 || sum.Manifest.Total != 12 || len(sum.Skipped) != 1 {
		t.Fatalf("%d samples, summary %+v", len(samples), sum)
	}
	back, err := ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(samples) {
		t.Fatalf("ReadDir gave %d samples", len(back))
	}
	for i := range back {
		a, _ := MarshalRow(&samples[i])
		b, _ := MarshalRow(&back[i])
		if string(a) != string(b) {
			t.Fatalf("sample %d differs from data.jsonl", i)
		}
	}
	// Without data.jsonl the Parquet file is read.
	if err := os.Remove(filepath.Join(out, JSONLName)); err != nil {
		t.Fatal(err)
	}
	pq, err := ReadDir(out)
	if err != nil || len(pq) != 12 {
		t.Fatalf("ReadDir from parquet: %d, %v", len(pq), err)
	}
	// The source frames of video a, as the generators saw them.
	srcFrames, _, _ := fakeLoader().Load(context.Background(), "/videos/a.mp4", cfg.Sampling)
	seen := map[tasks.DataSource]bool{}
	for i := range samples {
		s := &samples[i]
		vids, err := LoadFrames(testBackend{}, out, s)
		if err != nil {
			t.Fatal(err)
		}
		switch s.DataSource {
		case tasks.Jigsaw:
			if len(vids) != s.Meta.Jigsaw.Clips {
				t.Fatalf("jigsaw: %d clips loaded, want %d", len(vids), s.Meta.Jigsaw.Clips)
			}
			for _, c := range vids {
				if len(c) != s.Meta.Jigsaw.ClipLen {
					t.Fatalf("clip of %d frames", len(c))
				}
			}
			if s.VideoID == "a.mp4" {
				// Position p shows chronological clip Presented[p]: its
				// first frame is closer to that source frame than to the
				// first frame of any other clip (JPEG is lossy).
				for p, c := range vids {
					cl := s.Meta.Jigsaw.ClipLen
					want := s.Meta.Jigsaw.Presented[p]
					d := meanAbsDiff(c[0], srcFrames[want*cl])
					for k := range s.Meta.Jigsaw.Clips {
						if dk := meanAbsDiff(c[0], srcFrames[k*cl]); k != want && dk <= d {
							t.Fatalf("clip %d is as close to chronological clip %d (%.1f) as to clip %d (%.1f)", p+1, k+1, dk, want+1, d)
						}
					}
				}
			}
		default:
			if len(vids) != 1 || len(vids[0]) != 48 {
				t.Fatalf("%s: %d inputs", s.DataSource, len(vids))
			}
		}
		if f := vids[0][0]; f.W != s.Meta.Width || f.H != s.Meta.Height {
			t.Fatalf("frame %dx%d, meta %dx%d", f.W, f.H, s.Meta.Width, s.Meta.Height)
		}
		seen[s.DataSource] = true
	}
	if len(seen) != 3 {
		t.Fatalf("tasks seen: %v", seen)
	}
	bad := samples[0]
	bad.Frames = tasks.FrameList{Flat: []string{"frames/nope/00.jpg"}}
	if _, err := LoadFrames(testBackend{}, out, &bad); err == nil {
		t.Fatal("missing frame file accepted")
	}
	if _, err := ReadDir(t.TempDir()); err == nil {
		t.Fatal("empty directory read as a dataset")
	}
}

// meanAbsDiff returns the mean absolute byte difference of two frames of
// the same size.
func meanAbsDiff(a, b *frame.Frame) float64 {
	var s int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		s += max(d, -d)
	}
	return float64(s) / float64(len(a.Pix))
}

func TestBuildViubenchSkipsBrokenBeforePlanning(t *testing.T) {
	out := t.TempDir()
	var lines []string
	samples, sum, err := BuildViubench(context.Background(), ViubenchRequest{
		Videos: []string{"/v/a.mp4", "/v/broken1.mp4", "/v/b.mp4", "/v/broken2.mp4"},
		Out:    out, PerSubtype: 5, Seed: 1, MaxPixels: 24 * 18, Workers: 2, Backend: testBackend{fakeLoader()},
		Log: func(l string) { lines = append(lines, l) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 45 || sum.Lost != 0 || len(sum.Manifest.Skipped) != 2 {
		t.Fatalf("%d samples, lost %d, skipped %v", len(samples), sum.Lost, sum.Manifest.Skipped)
	}
	for _, s := range tasks.ViubenchSpecs() {
		if sum.Manifest.Subtypes[s.Subtype] != 5 {
			t.Fatalf("%s: %d questions", s.Subtype, sum.Manifest.Subtypes[s.Subtype])
		}
	}
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "skip /v/broken1.mp4: ") {
		t.Fatalf("log lines %q", lines)
	}
	// A subset of subtypes, in the given order.
	specs, err := ViubenchSpecsFor([]string{"jigsaw_hard", " counting_easy"})
	if err != nil || len(specs) != 2 || specs[0].Subtype != "jigsaw_hard" || specs[1].Subtype != "counting_easy" {
		t.Fatalf("specs %v, %v", specs, err)
	}
	if _, err := ViubenchSpecsFor([]string{"jigsaw_6"}); err == nil {
		t.Fatal("jigsaw_6 accepted as a VIUBench subtype")
	}
	_, _, err = BuildViubench(context.Background(), ViubenchRequest{Videos: []string{"/v/broken.mp4"}, Out: t.TempDir(), Backend: testBackend{fakeLoader()}})
	if !errors.Is(err, ErrAllInputsFailed) {
		t.Fatalf("all broken: %v", err)
	}
}

func TestCheckInputs(t *testing.T) {
	inputs := []Input{{Path: "/v/x.mp4", ID: "x"}, {Path: "/v/broken.mp4", ID: "broken"}, {Path: "/v/y.mp4", ID: "y"}}
	ok, skipped, err := CheckInputs(context.Background(), inputs, smallSampling(), fakeLoader(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(ok) != 2 || ok[0].ID != "x" || ok[1].ID != "y" || len(skipped) != 1 || !strings.Contains(skipped[0].Reason, "truncated") {
		t.Fatalf("ok %v skipped %v", ok, skipped)
	}
	noCV := LoaderFunc(func(ctx context.Context, p string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
		return nil, 0, media.ErrNoOpenCV
	})
	if _, _, err := CheckInputs(context.Background(), inputs, smallSampling(), noCV, 1); !errors.Is(err, media.ErrNoOpenCV) {
		t.Fatalf("no OpenCV: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := CheckInputs(ctx, slices.Repeat(inputs, 5), smallSampling(), fakeLoader(), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestExportVerlAbsolutePaths(t *testing.T) {
	out := t.TempDir()
	cfg := tasks.DefaultGenConfig()
	cfg.Sampling = smallSampling()
	samples, _, err := Generate(context.Background(), GenRequest{Videos: []string{"/v/a.mp4"}, Out: out, Config: cfg, Seed: 2, Backend: testBackend{fakeLoader()}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "verl.parquet")
	n, err := ExportVerl(out, file, ReadOptions{})
	if err != nil || n != len(samples) {
		t.Fatalf("exported %d of %d: %v", n, len(samples), err)
	}
	rows, err := ReadParquet(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		all := r.Frames.All()
		if len(all) != len(samples[i].Frames.All()) || r.ID != samples[i].ID {
			t.Fatalf("row %d does not match sample %s", i, samples[i].ID)
		}
		for _, p := range all {
			if !filepath.IsAbs(p) {
				t.Fatalf("row %d: relative path %s", i, p)
			}
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("row %d: %v", i, err)
			}
		}
	}
}
