package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
)

// VideoLoader returns the Loader that decodes files with tasks/video:
// cfg.Frames frames spread over [StartFrac, EndFrac] of the duration,
// resized into the pixel budget; the fps is frames / duration.
func VideoLoader() Loader {
	return LoaderFunc(func(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
		got, err := video.Sample(ctx, path, video.SampleOptions{
			N: s.Frames, StartFrac: s.StartFrac, EndFrac: s.EndFrac, MaxPixels: s.MaxPixels, MinPixels: s.MinPixels,
		})
		if err != nil {
			return nil, 0, err
		}
		return got.Frames, got.SampleFPS, nil
	})
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
