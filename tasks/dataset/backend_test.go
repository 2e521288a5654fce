package dataset

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
)

// testBackend is the Backend of the package's tests: its Loader (a fake, or
// nil where nothing is loaded) and tasks/video's JPEG codec, so the frame
// files are the bytes a real build writes. It writes no synthetic videos.
type testBackend struct{ Loader }

func (testBackend) EncodeJPEG(f *frame.Frame, quality int) ([]byte, error) {
	return video.EncodeJPEG(f, quality)
}

func (testBackend) DecodeJPEG(data []byte) (*frame.Frame, error) { return video.DecodeJPEG(data) }

func (testBackend) WriteSynthetic(context.Context, string, uint64) error {
	return errors.New("test back end: no synthetic videos")
}

// fakeBackend is testBackend with fakeLoader.
func fakeBackend() Backend { return testBackend{fakeLoader()} }

// TestNoBackendIsAnError: every entry point that needs the video back end
// refuses a nil one with an error that says so, instead of panicking.
func TestNoBackendIsAnError(t *testing.T) {
	ctx := t.Context()
	cfg := tasks.DefaultGenConfig()
	cfg.Sampling = smallSampling()
	s := &tasks.Sample{ID: "s1", Frames: tasks.FrameList{Flat: []string{"frames/s1/00.jpg"}}}
	calls := map[string]func() error{
		"Build": func() error {
			_, err := Build(ctx, genPlan(t, fakeInputs(1), Shard{0, 1}), Options{Out: t.TempDir()})
			return err
		},
		"GenerateDir": func() error {
			_, err := GenerateDir(ctx, GenRequest{Videos: []string{"/v/a.mp4"}, Out: t.TempDir(), Config: cfg})
			return err
		},
		"BuildViubench": func() error {
			_, _, err := BuildViubench(ctx, ViubenchRequest{Videos: []string{"/v/a.mp4"}, Out: t.TempDir()})
			return err
		},
		"CheckInputs": func() error {
			_, _, err := CheckInputs(ctx, fakeInputs(1), smallSampling(), nil, 1)
			return err
		},
		"MakeSynthetic": func() error {
			_, err := MakeSynthetic(ctx, nil, t.TempDir(), 1, 1)
			return err
		},
		"LoadFrames": func() error {
			_, err := LoadFrames(nil, t.TempDir(), s)
			return err
		},
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, errNoBackend) || !strings.Contains(err.Error(), "no video back end") {
			t.Errorf("%s with no back end: %v", name, err)
		}
	}
}

// TestMakeSyntheticSeedsAndResumes: MakeSynthetic asks its writer for one
// video per index with SyntheticSeed, and keeps the videos a resumed run
// already has.
func TestMakeSyntheticSeedsAndResumes(t *testing.T) {
	dir := t.TempDir()
	var seeds []uint64
	w := synthFunc(func(_ context.Context, path string, seed uint64) error {
		seeds = append(seeds, seed)
		return writeFileAtomic(path, []byte("video"), false)
	})
	paths, err := MakeSynthetic(t.Context(), w, dir, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{SyntheticSeed(9, 0), SyntheticSeed(9, 1), SyntheticSeed(9, 2)}
	if len(paths) != 3 || len(seeds) != 3 || seeds[0] != want[0] || seeds[1] != want[1] || seeds[2] != want[2] {
		t.Fatalf("paths %v seeds %v, want seeds %v", paths, seeds, want)
	}
	if SyntheticSeed(9, 0) != 9*1_000_003+1 {
		t.Fatalf("SyntheticSeed(9, 0) = %d: the seeds of existing runs' synthetic videos changed", SyntheticSeed(9, 0))
	}
	if _, err := MakeSynthetic(t.Context(), w, dir, 4, 9); err != nil || len(seeds) != 4 || seeds[3] != SyntheticSeed(9, 3) {
		t.Fatalf("resumed: %v, seeds %v", err, seeds)
	}
}

// synthFunc adapts a function to SynthWriter.
type synthFunc func(ctx context.Context, path string, seed uint64) error

func (f synthFunc) WriteSynthetic(ctx context.Context, path string, seed uint64) error {
	return f(ctx, path, seed)
}
