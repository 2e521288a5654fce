package tasks

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/videossr/videossr-go/tasks/frame"
)

// Source is the input of a generator: the sampled frames of one video.
type Source struct {
	// Frames are the sampled frames, in time order.
	Frames []*frame.Frame
	// FPS is the sampling rate (frames / duration of the source video).
	FPS float64
	// Donor holds frames of another video, used only by the swap
	// perturbation (nil otherwise).
	Donor []*frame.Frame
	// DonorID names the donor video in the metadata.
	DonorID string
}

// Generated is one generated sample before its frames are written: the
// question, answer and metadata, and the frames to store. Frames the
// generator did not change are shared with the Source, not copied: treat
// them as read-only.
type Generated struct {
	// DataSource is the task; Subtype the finer label (see Sample).
	DataSource DataSource
	Subtype    string
	// Question is the user question without video placeholders.
	Question string
	// Answer is the ground-truth string.
	Answer string
	// Meta records the draws.
	Meta Meta
	// Frames are the frames of a single-video sample (grounding, counting).
	Frames []*frame.Frame
	// Clips are the video inputs of a jigsaw sample, in presented order.
	Clips [][]*frame.Frame
}

// Videos returns the frames one list per video input.
func (g *Generated) Videos() [][]*frame.Frame {
	if g.Clips != nil {
		return g.Clips
	}
	return [][]*frame.Frame{g.Frames}
}

// ErrBadSource reports unusable generator input (too few frames, frames of
// mixed sizes, no fps).
var ErrBadSource = errors.New("bad generator input")

func checkSource(src Source, minFrames int) error {
	if len(src.Frames) < minFrames {
		return fmt.Errorf("%w: %d frames, need at least %d", ErrBadSource, len(src.Frames), minFrames)
	}
	if !(src.FPS > 0) {
		return fmt.Errorf("%w: sampling fps %g, want > 0", ErrBadSource, src.FPS)
	}
	w, h := src.Frames[0].W, src.Frames[0].H
	for i, f := range src.Frames {
		if f == nil {
			return fmt.Errorf("%w: frame %d is nil", ErrBadSource, i)
		}
		if err := f.Validate(); err != nil {
			return fmt.Errorf("%w: frame %d: %w", ErrBadSource, i, err)
		}
		if f.W != w || f.H != h {
			return fmt.Errorf("%w: frame %d is %dx%d, frame 0 is %dx%d", ErrBadSource, i, f.W, f.H, w, h)
		}
	}
	return nil
}

func baseMeta(src Source) Meta {
	return Meta{NumFrames: len(src.Frames), Width: src.Frames[0].W, Height: src.Frames[0].H}
}

// NewRand returns the project's seeded random stream for a 64-bit seed.
func NewRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// uniformInt returns an integer uniform on lo..hi (inclusive).
func uniformInt(rng *rand.Rand, lo, hi int) int {
	return lo + rng.IntN(hi-lo+1)
}

// uniformFloat returns a float uniform on [lo, hi).
func uniformFloat(rng *rand.Rand, lo, hi float64) float64 {
	return lo + (hi-lo)*rng.Float64()
}
