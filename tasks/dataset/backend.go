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
	"github.com/videossr/videossr-go/tasks/media"
)

// Loader samples the frames of one video file; fps is the sampling rate
// (frames / duration). Errors are reported as the reason the input was
// skipped, so they should be one line. A loader may return frames together
// with an error wrapping media.ErrDamaged: the frames are used and the
// video is listed as damaged. An error wrapping media.ErrNoOpenCV (no
// decoder in this binary) stops a VIUBench input check instead of skipping
// the input.
type Loader interface {
	Load(ctx context.Context, path string, s tasks.SamplingConfig) (frames []*frame.Frame, fps float64, err error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error)

// Load implements Loader.
func (f LoaderFunc) Load(ctx context.Context, path string, s tasks.SamplingConfig) ([]*frame.Frame, float64, error) {
	return f(ctx, path, s)
}

// Encoder encodes the frames a build writes as JPEG files. Within one
// encoder the bytes must depend only on the frame and the quality (1..100),
// or builds would not be reproducible.
type Encoder interface {
	EncodeJPEG(f *frame.Frame, quality int) ([]byte, error)
}

// Decoder decodes a JPEG frame file. It should refuse an image whose
// header declares an unreasonable size before allocating its pixels.
type Decoder interface {
	DecodeJPEG(data []byte) (*frame.Frame, error)
}

// SynthWriter writes the procedural test video of a seed to a video file
// (the same seed, the same video).
type SynthWriter interface {
	WriteSynthetic(ctx context.Context, path string, seed uint64) error
}

// Backend is the video back end the package works through: it samples video
// files, encodes and decodes the JPEG frame files, and writes synthetic
// videos. The package links no codec itself; the OpenCV back end is
// tasks/dataset/opencv, and tests may use fakes.
type Backend interface {
	Loader
	Encoder
	Decoder
	SynthWriter
}

// errNoBackend is returned by the functions given a nil back end.
var errNoBackend = errors.New("no video back end (see tasks/dataset/opencv)")

// keptDamaged reports whether a Loader result is a damaged video's frames
// to use anyway (see Loader).
func keptDamaged(frames []*frame.Frame, err error) bool {
	return err != nil && len(frames) > 0 && errors.Is(err, media.ErrDamaged)
}

// damageReason is the one-line reason recorded for a damaged video.
func damageReason(in Input, err error) string {
	r := strings.ReplaceAll(err.Error(), "\n", " ")
	return strings.TrimPrefix(r, fmt.Sprintf("video %q: ", in.Path))
}

// SyntheticSeed returns the seed of synthetic video i of a run with the
// given seed.
func SyntheticSeed(seed uint64, i int) uint64 {
	return seed*1_000_003 + uint64(i) + 1
}

// MakeSynthetic writes n synthetic videos (synthetic_000.avi, ...) into
// dir with w, deterministically from seed, and returns their paths. Videos
// that already exist are kept, so a resumed run reuses them.
func MakeSynthetic(ctx context.Context, w SynthWriter, dir string, n int, seed uint64) ([]string, error) {
	if w == nil {
		return nil, fmt.Errorf("synthetic videos: %w", errNoBackend)
	}
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
		if err := w.WriteSynthetic(ctx, tmp, SyntheticSeed(seed, i)); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("synthetic video %d: %w", i, err)
		}
		if err := os.Rename(tmp, p); err != nil {
			return nil, fmt.Errorf("synthetic video %d: %w", i, err)
		}
	}
	return paths, nil
}
