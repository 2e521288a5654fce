package opencv

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/media"
	"github.com/videossr/videossr-go/tasks/video"
)

// synthetic writes the synthetic video of seed 3 with the back end, or
// skips the test in a binary without OpenCV.
func synthetic(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "synthetic.avi")
	err := Backend{}.WriteSynthetic(context.Background(), p, 3)
	if errors.Is(err, media.ErrNoOpenCV) {
		t.Skip("built without OpenCV")
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// smallSampling is 16 frames of at most 48x48 pixels.
func smallSampling() tasks.SamplingConfig {
	s := tasks.DefaultSamplingConfig()
	s.Frames, s.MaxPixels, s.MinPixels = 16, 48*48, 0
	return s
}

// TestWriteSyntheticIsTheDefaultScene: the synthetic video of a seed is
// video.DefaultSynthOptions with that seed, byte for byte, so datasets
// made before the back end was injected keep their videos.
func TestWriteSyntheticIsTheDefaultScene(t *testing.T) {
	got := synthetic(t)
	o := video.DefaultSynthOptions()
	o.Seed = 3
	want := filepath.Join(t.TempDir(), "want.avi")
	if err := video.MakeSyntheticVideo(context.Background(), want, o); err != nil {
		t.Fatal(err)
	}
	a, errA := os.ReadFile(got)
	b, errB := os.ReadFile(want)
	if errA != nil || errB != nil || len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("WriteSynthetic(seed 3) differs from MakeSyntheticVideo(DefaultSynthOptions, seed 3): %d vs %d bytes (%v, %v)", len(a), len(b), errA, errB)
	}
}

// TestLoadSamplesAsConfigured: Load gives the configured number of frames
// inside the pixel budget, and the fps of the sampling; the size cap
// refuses a larger file.
func TestLoadSamplesAsConfigured(t *testing.T) {
	p := synthetic(t)
	s := smallSampling()
	frames, fps, err := Backend{}.Load(t.Context(), p, s)
	if err != nil {
		t.Fatal(err)
	}
	// 96 frames at 24 fps: 4 s, so 16 frames give 4 fps.
	if len(frames) != s.Frames || fps != 4 {
		t.Fatalf("%d frames at %g fps, want %d at 4", len(frames), fps, s.Frames)
	}
	for _, f := range frames {
		if f.W*f.H > s.MaxPixels {
			t.Fatalf("frame %dx%d exceeds %d pixels", f.W, f.H, s.MaxPixels)
		}
	}
	if _, _, err := (Backend{MaxVideoBytes: 1000}).Load(t.Context(), p, s); !errors.Is(err, media.ErrTooLarge) || !strings.Contains(err.Error(), p) {
		t.Fatalf("over the size cap: %v, want ErrTooLarge naming the file", err)
	}
}

// TestLoadDamaged: a video whose decoder reports errors fails with
// ErrDamaged, or with KeepDamaged gives its frames together with an error
// wrapping ErrDamaged, which a build counts as a damaged input it kept.
func TestLoadDamaged(t *testing.T) {
	p := damagedMJPEG(t, synthetic(t))
	s := smallSampling()
	if frames, _, err := (Backend{}).Load(t.Context(), p, s); !errors.Is(err, media.ErrDamaged) || len(frames) != 0 {
		t.Fatalf("damaged video: %d frames, %v; want none and ErrDamaged", len(frames), err)
	}
	frames, fps, err := Backend{KeepDamaged: true}.Load(t.Context(), p, s)
	if !errors.Is(err, media.ErrDamaged) || !strings.Contains(err.Error(), "kept") || len(frames) != s.Frames || !(fps > 0) {
		t.Fatalf("kept damaged video: %d frames at %g fps, %v", len(frames), fps, err)
	}

	in, err := dataset.ListInputs([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := dataset.PlanGen(in, tasks.GenSpecs(tasks.DefaultGenConfig(), []tasks.DataSource{tasks.Counting}), 1, 1, s, dataset.Shard{})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := dataset.Build(t.Context(), plan, dataset.Options{Out: t.TempDir(), Formats: []string{"jsonl"}, Backend: Backend{KeepDamaged: true}})
	if err != nil || sum.Generated != 1 || len(sum.Damaged) != 1 || len(sum.Skipped) != 0 {
		t.Fatalf("build with the damaged video kept: %+v, %v", sum, err)
	}
}

// damagedMJPEG writes a copy of a Motion-JPEG video with bytes flipped in
// the entropy-coded data of three frames: the container stays intact and
// the frames decode, with errors.
func damagedMJPEG(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, frac := range []float64{0.4, 0.5, 0.6} {
		from := int(float64(len(data)) * frac)
		sos := bytes.Index(data[from:], []byte{0xff, 0xda})
		if sos < 0 {
			t.Fatalf("no JPEG scan after %d in %s", from, src)
		}
		for i := range 16 {
			data[from+sos+50+3*i] ^= 0xff
		}
	}
	p := filepath.Join(t.TempDir(), "damaged.avi")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCodecIsTasksVideos: the JPEG codec is tasks/video's, so the frame
// files of a build are the bytes video.EncodeJPEG gives.
func TestCodecIsTasksVideos(t *testing.T) {
	frames, err := video.Synthesize(video.SynthOptions{W: 40, H: 30, Frames: 1, FPS: 1, Seed: 2, Objects: 2})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Backend{}.EncodeJPEG(frames[0], 85)
	if err != nil {
		t.Fatal(err)
	}
	want, err := video.EncodeJPEG(frames[0], 85)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("EncodeJPEG differs from video.EncodeJPEG (%v)", err)
	}
	f, err := Backend{}.DecodeJPEG(got)
	if err != nil || f.W != 40 || f.H != 30 {
		t.Fatalf("DecodeJPEG: %v", err)
	}
	if _, err := (Backend{}).DecodeJPEG([]byte("not a jpeg")); err == nil {
		t.Fatal("DecodeJPEG accepted garbage")
	}
}
