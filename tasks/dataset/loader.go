package dataset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
)

// LoadOptions are the choices of VideoLoaderWith that decide which videos
// are used, not the bytes of the samples.
type LoadOptions struct {
	// MaxVideoBytes caps each video file (0: video.DefaultMaxFileBytes;
	// negative: no cap).
	MaxVideoBytes int64
	// KeepDamaged uses the frames of a video whose decoder reported errors
	// (listed as damaged) instead of skipping it.
	KeepDamaged bool
}

// VideoLoader returns the Loader that decodes files with tasks/video, with
// the default LoadOptions (see VideoLoaderWith).
func VideoLoader() Loader { return VideoLoaderWith(LoadOptions{}) }

// VideoLoaderWith returns the Loader that decodes files with tasks/video:
// cfg.Frames frames spread over [StartFrac, EndFrac] of the duration,
// resized into the pixel budget; the fps is frames / duration. A video
// whose decoder reports errors fails with video.ErrDamaged (and is
// skipped), or with o.KeepDamaged gives its frames together with an error
// wrapping video.ErrDamaged (and is used and listed as damaged).
func VideoLoaderWith(o LoadOptions) Loader {
	return LoaderFunc(func(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
		got, err := video.Sample(ctx, path, video.SampleOptions{
			N: s.Frames, StartFrac: s.StartFrac, EndFrac: s.EndFrac, MaxPixels: s.MaxPixels, MinPixels: s.MinPixels,
			MaxFileBytes: o.MaxVideoBytes, KeepDamaged: o.KeepDamaged,
		})
		if err != nil {
			return nil, 0, err
		}
		if got.DecodeErrors > 0 {
			return got.Frames, got.SampleFPS, fmt.Errorf("video %q: %w: FFmpeg logged %d decoding error(s); kept", path, video.ErrDamaged, got.DecodeErrors)
		}
		return got.Frames, got.SampleFPS, nil
	})
}

// keptDamaged reports whether a Loader result is a damaged video's frames
// to use anyway (see VideoLoaderWith).
func keptDamaged(frames []*frame.Frame, err error) bool {
	return err != nil && len(frames) > 0 && errors.Is(err, video.ErrDamaged)
}

// damageReason is the one-line reason recorded for a damaged video.
func damageReason(in Input, err error) string {
	r := strings.ReplaceAll(err.Error(), "\n", " ")
	return strings.TrimPrefix(r, fmt.Sprintf("video %q: ", in.Path))
}

// SyntheticOptions returns the scene settings of synthetic video i of a
// run with the given seed.
func SyntheticOptions(seed uint64, i int) video.SynthOptions {
	o := video.DefaultSynthOptions()
	o.Seed = seed*1_000_003 + uint64(i) + 1
	return o
}

// MakeSynthetic writes n synthetic videos (synthetic_000.avi, ...) into
// dir, deterministically from seed, and returns their paths. Videos that
// already exist are kept, so a resumed run reuses them.
func MakeSynthetic(ctx context.Context, dir string, n int, seed uint64) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("synthetic videos: %w", err)
	}
	paths := make([]string, n)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("synthetic_%03d.avi", i))
		paths[i] = p
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			continue
		}
		tmp := filepath.Join(dir, fmt.Sprintf(".synthetic_%03d.tmp.avi", i))
		if err := video.MakeSyntheticVideo(ctx, tmp, SyntheticOptions(seed, i)); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("synthetic video %d: %w", i, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return nil, fmt.Errorf("synthetic video %d: %w", i, err)
		}
	}
	return paths, nil
}
