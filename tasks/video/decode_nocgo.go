//go:build !cgo

package video

import (
	"context"
	"fmt"

	"github.com/videossr/videossr-go/tasks/frame"
)

// Probe would report a video's frame rate, frame count, duration and size;
// this binary was built without cgo, so it fails with ErrNoOpenCV.
func Probe(path string) (Info, error) {
	return Info{}, fmt.Errorf("probe %q: %w", path, ErrNoOpenCV)
}

// Sample would decode frames of a video; this binary was built without cgo,
// so it fails with ErrNoOpenCV.
func Sample(ctx context.Context, path string, opt SampleOptions) (*Sampled, error) {
	return nil, fmt.Errorf("sample %q: %w", path, ErrNoOpenCV)
}

// WriteVideo would encode frames to a video file; this binary was built
// without cgo, so it fails with ErrNoOpenCV.
func WriteVideo(path string, frames []*frame.Frame, fps float64) error {
	return fmt.Errorf("write video %q: %w", path, ErrNoOpenCV)
}

// MakeSyntheticVideo would write the synthetic video to a file; this binary
// was built without cgo, so it fails with ErrNoOpenCV. Synthesize still
// works and returns the frames in memory.
func MakeSyntheticVideo(ctx context.Context, path string, opt SynthOptions) error {
	return fmt.Errorf("synthetic video %q: %w", path, ErrNoOpenCV)
}
