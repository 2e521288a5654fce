package perturb

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/videossr/videossr-go/tasks/frame"
)

// Params holds the random parameters a perturbation actually drew (noise
// sigma, zoom scale, permutation, held frames, donor start...). Values are
// plain JSON types (float64, int, []int, string) so the map can be stored in
// sample metadata as is.
type Params map[string]any

// Input is what a perturbation works on.
type Input struct {
	// Frames is the whole clip; only Frames[Start:Start+Length] is changed.
	Frames []*frame.Frame
	// Start is the index of the first perturbed frame; Length the number of
	// perturbed frames (at least 1).
	Start, Length int
	// Donor holds the frames of another video; Swap takes Length
	// consecutive frames from it. Other kinds ignore it.
	Donor []*frame.Frame
}

// Parameter ranges of the spec (section 3).
const (
	saturationFactor = 2.0
	noiseSigmaMin    = 35.0
	noiseSigmaMax    = 70.0
	blurSigma        = 2.0
	zoomInMin        = 1.3
	zoomInMax        = 1.5
	zoomOutMin       = 1.2
	zoomOutMax       = 1.4
	stutterMinHolds  = 2
	stutterMaxHolds  = 5
)

// Apply applies the perturbation kind to the segment [in.Start,
// in.Start+in.Length) of in.Frames and returns the new clip, of the same
// length, together with the parameters it drew from rng.
//
// Frames outside the segment are returned as they are (the same pointers);
// every frame inside the segment is a new frame, so the input frames are
// never modified and the result may be changed without touching the input.
// The result depends only on the input and on the state of rng.
//
// Kind-specific rules:
//   - Rotate90 and Rotate270 return frames with W and H swapped.
//   - Shuffle needs Length >= 2, Stutter and Slow need Length >= 3 and 2
//     respectively so that the segment really changes.
//   - Swap needs at least Length donor frames; the donor start is drawn
//     uniformly and the donor frames are resized to the size of the frame
//     they replace.
//   - Fast shows every second frame of the window [Start, Start+2*Length);
//     source indices past the end of the clip are clamped to the last
//     frame (the clip freezes on it). An error is returned when the clamping
//     would leave the segment unchanged.
func Apply(kind Kind, in Input, rng *rand.Rand) ([]*frame.Frame, Params, error) {
	if !kind.Valid() {
		_, err := Parse(string(kind))
		return nil, nil, fmt.Errorf("apply perturbation: %w", err)
	}
	if err := validate(kind, in, rng); err != nil {
		return nil, nil, fmt.Errorf("apply %s: %w", kind, err)
	}
	out := make([]*frame.Frame, len(in.Frames))
	copy(out, in.Frames)
	seg := in.Frames[in.Start : in.Start+in.Length]
	dst := out[in.Start : in.Start+in.Length]
	p := Params{}
	var err error
	switch kind {
	case Saturation:
		p["factor"] = saturationFactor
		mapFrames(dst, seg, saturate)
	case Noise:
		sigma := uniform(rng, noiseSigmaMin, noiseSigmaMax)
		p["sigma"] = sigma
		for i, f := range seg {
			dst[i] = addNoise(f, sigma, rng)
		}
	case Blur:
		p["sigma"] = blurSigma
		k := gaussianKernel(blurSigma)
		var b blurBuffers
		for i, f := range seg {
			dst[i] = b.blur(f, k)
		}
	case Grayscale:
		mapFrames(dst, seg, grayscale)
	case Invert:
		mapFrames(dst, seg, invert)
	case ChannelSwap:
		mapFrames(dst, seg, swapRB)
	case ZoomIn:
		scale := uniform(rng, zoomInMin, zoomInMax)
		p["scale"] = scale
		for i, f := range seg {
			var box [4]int
			dst[i], box = zoomIn(f, scale)
			if i == 0 {
				p["crop"] = box[:]
			}
		}
	case ZoomOut:
		scale := uniform(rng, zoomOutMin, zoomOutMax)
		p["scale"] = scale
		for i, f := range seg {
			var box [4]int
			dst[i], box = zoomOut(f, scale)
			if i == 0 {
				p["inner"] = box[:]
			}
		}
	case Rotate180:
		p["degrees"] = 180
		for i, f := range seg {
			dst[i] = rotate180(f)
		}
	case Rotate90:
		p["degrees"] = 90
		for i, f := range seg {
			dst[i] = rotate90(f)
		}
	case Rotate270:
		p["degrees"] = 270
		for i, f := range seg {
			dst[i] = rotate270(f)
		}
	case Mirror:
		for i, f := range seg {
			dst[i] = mirror(f)
		}
	case Shuffle:
		perm := nonIdentityPerm(rng, in.Length)
		p["permutation"] = perm
		for i, j := range perm {
			dst[i] = seg[j].Clone()
		}
	case Stutter:
		holds, src := stutterPlan(rng, in.Length)
		p["holds"] = holds
		p["source"] = src
		cloneFrom(dst, seg, src)
	case Swap:
		ds := rng.IntN(len(in.Donor) - in.Length + 1)
		p["donor_start"] = ds
		for i, f := range seg {
			dst[i] = frame.Resize(in.Donor[ds+i], f.W, f.H)
		}
	case Slow:
		src := make([]int, in.Length)
		for i := range src {
			src[i] = i / 2
		}
		p["source"] = src
		cloneFrom(dst, seg, src)
	case Fast:
		n := len(in.Frames)
		src := make([]int, in.Length)
		for i := range src {
			src[i] = min(in.Start+2*i, n-1) - in.Start
		}
		p["source"] = src
		for i, j := range src {
			dst[i] = in.Frames[in.Start+j].Clone()
		}
	default:
		err = fmt.Errorf("perturbation %q is not implemented", kind)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("apply %s: %w", kind, err)
	}
	return out, p, nil
}

// validate checks the input of Apply for kind.
func validate(kind Kind, in Input, rng *rand.Rand) error {
	if rng == nil {
		return errors.New("nil random generator")
	}
	n := len(in.Frames)
	if n == 0 {
		return errors.New("no frames")
	}
	if in.Length < 1 {
		return fmt.Errorf("segment length %d, want at least 1", in.Length)
	}
	if in.Start < 0 || in.Start+in.Length > n {
		return fmt.Errorf("segment [%d, %d) outside the clip of %d frames", in.Start, in.Start+in.Length, n)
	}
	for i, f := range in.Frames {
		if f == nil {
			return fmt.Errorf("frame %d is nil", i)
		}
		if err := f.Validate(); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
	}
	switch kind {
	case Shuffle:
		if in.Length < 2 {
			return fmt.Errorf("segment length %d, shuffle needs at least 2 frames", in.Length)
		}
	case Stutter:
		if in.Length < stutterMinHolds+1 {
			return fmt.Errorf("segment length %d, stutter needs at least %d frames", in.Length, stutterMinHolds+1)
		}
	case Slow:
		if in.Length < 2 {
			return fmt.Errorf("segment length %d, slow needs at least 2 frames", in.Length)
		}
	case Fast:
		if in.Length < 2 || in.Start+2 > n-1 {
			return fmt.Errorf("segment [%d, %d) of a %d-frame clip: fast needs at least 2 frames and 2 frames after the segment start", in.Start, in.Start+in.Length, n)
		}
	case Swap:
		if len(in.Donor) < in.Length {
			return fmt.Errorf("%d donor frames, swap needs at least %d (the segment length)", len(in.Donor), in.Length)
		}
		for i, f := range in.Donor {
			if f == nil {
				return fmt.Errorf("donor frame %d is nil", i)
			}
			if err := f.Validate(); err != nil {
				return fmt.Errorf("donor frame %d: %w", i, err)
			}
		}
	}
	return nil
}

// uniform draws uniformly from [lo, hi).
func uniform(rng *rand.Rand, lo, hi float64) float64 {
	return lo + (hi-lo)*rng.Float64()
}

// cloneFrom sets dst[i] to a copy of seg[src[i]].
func cloneFrom(dst, seg []*frame.Frame, src []int) {
	for i, j := range src {
		dst[i] = seg[j].Clone()
	}
}

// nonIdentityPerm returns a uniformly random permutation of 0..n-1 (n >= 2)
// that is not the identity.
func nonIdentityPerm(rng *rand.Rand, n int) []int {
	for {
		p := rng.Perm(n)
		for i, v := range p {
			if v != i {
				return p
			}
		}
	}
}

// stutterPlan draws the number of held frames k uniform in 2..min(5, n-1)
// (k < n so the segment really changes), the held frames evenly spaced over
// the segment (first and last included), and returns the held indices and,
// for each position of the segment, the index of the frame shown there:
// the segment is split into k near-equal parts and part j shows held frame j.
func stutterPlan(rng *rand.Rand, n int) (holds, src []int) {
	hi := min(stutterMaxHolds, n-1)
	k := stutterMinHolds + rng.IntN(hi-stutterMinHolds+1)
	holds = make([]int, k)
	for j := range holds {
		// round(j*(n-1)/(k-1)) in integers.
		holds[j] = (2*j*(n-1) + (k - 1)) / (2 * (k - 1))
	}
	src = make([]int, n)
	for i := range src {
		src[i] = holds[i*k/n]
	}
	return holds, src
}
