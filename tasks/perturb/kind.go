// Package perturb implements the frame perturbations of the VideoSSR anomaly
// grounding task: one perturbation is applied to a segment of consecutive
// frames of a clip, the rest of the clip stays untouched, and the model is
// asked for the time interval of the segment.
//
// The perturbations come in three families (spec section 3):
//
//   - fine-grained (per pixel): saturation, noise, blur, grayscale, invert,
//     channel_swap;
//   - spatial (geometry of each frame): zoom_in, zoom_out, rotate180,
//     rotate90, rotate270, mirror;
//   - temporal (order of the frames): shuffle, stutter, swap, slow, fast.
//
// Everything is pure and deterministic given the random generator passed to
// Apply; input frames are never modified.
package perturb

import (
	"fmt"
	"strings"
)

// Kind names one perturbation. Its string value is the name used in
// configuration files and in sample metadata.
type Kind string

// The perturbations. The first 15 are those of the paper's released code;
// Slow and Fast are described in the paper only.
const (
	// Saturation doubles the colour saturation (PIL ImageEnhance.Color(2.0)).
	Saturation Kind = "saturation"
	// Noise adds Gaussian noise with one sigma drawn uniform in 35..70.
	Noise Kind = "noise"
	// Blur applies a Gaussian blur with sigma 2 (PIL GaussianBlur(2)).
	Blur Kind = "blur"
	// Grayscale replaces each pixel by its ITU-R 601 luma on all channels.
	Grayscale Kind = "grayscale"
	// Invert replaces every channel value x by 255-x.
	Invert Kind = "invert"
	// ChannelSwap exchanges the red and blue channels.
	ChannelSwap Kind = "channel_swap"
	// ZoomIn crops the centre 1/scale of the frame (scale uniform 1.3..1.5)
	// and resizes it back to the frame size.
	ZoomIn Kind = "zoom_in"
	// ZoomOut shrinks the frame by a factor uniform in 1.2..1.4 and centres
	// it on a black canvas of the original size.
	ZoomOut Kind = "zoom_out"
	// Rotate180 rotates each frame by 180 degrees.
	Rotate180 Kind = "rotate180"
	// Rotate90 rotates each frame by 90 degrees clockwise (W and H swap).
	Rotate90 Kind = "rotate90"
	// Rotate270 rotates each frame by 270 degrees clockwise (W and H swap).
	Rotate270 Kind = "rotate270"
	// Mirror flips each frame horizontally.
	Mirror Kind = "mirror"
	// Shuffle plays the segment's frames in a random non-identity order.
	Shuffle Kind = "shuffle"
	// Stutter freezes on 2..5 evenly spaced frames of the segment.
	Stutter Kind = "stutter"
	// Swap replaces the segment by consecutive frames of another video.
	Swap Kind = "swap"
	// Slow plays the segment at half speed.
	Slow Kind = "slow"
	// Fast plays the segment at double speed.
	Fast Kind = "fast"
)

// Reference returns the 15 perturbations of the paper's released code, in
// a fixed order.
func Reference() []Kind {
	return []Kind{
		Saturation, Noise, Blur, Grayscale, Invert, ChannelSwap,
		ZoomIn, ZoomOut, Rotate180, Rotate90, Rotate270, Mirror,
		Shuffle, Stutter, Swap,
	}
}

// All returns every implemented perturbation: the 15 of Reference followed
// by Slow and Fast.
func All() []Kind {
	return append(Reference(), Slow, Fast)
}

// Training returns the four perturbations of the paper's training mix.
func Training() []Kind {
	return []Kind{ChannelSwap, Rotate180, ZoomOut, Mirror}
}

// Valid reports whether k is an implemented perturbation.
func (k Kind) Valid() bool {
	for _, v := range All() {
		if v == k {
			return true
		}
	}
	return false
}

// String returns the perturbation's name.
func (k Kind) String() string { return string(k) }

// Parse returns the perturbation named name. Surrounding spaces are ignored
// and the match is case-insensitive; "-" is accepted in place of "_". An
// unknown name gives an error listing the valid names.
func Parse(name string) (Kind, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.ReplaceAll(n, "-", "_")
	for _, k := range All() {
		if string(k) == n {
			return k, nil
		}
	}
	names := make([]string, 0, len(All()))
	for _, k := range All() {
		names = append(names, string(k))
	}
	return "", fmt.Errorf("unknown perturbation %q: valid names are %s", name, strings.Join(names, ", "))
}

// Family returns the family of the perturbation: "fine-grained", "spatial"
// or "temporal"; "" for an unknown kind.
func Family(kind Kind) string {
	switch kind {
	case Saturation, Noise, Blur, Grayscale, Invert, ChannelSwap:
		return "fine-grained"
	case ZoomIn, ZoomOut, Rotate180, Rotate90, Rotate270, Mirror:
		return "spatial"
	case Shuffle, Stutter, Swap, Slow, Fast:
		return "temporal"
	}
	return ""
}

// Describe returns one sentence saying what was changed in the perturbed
// segment, for the grounding question; "" for an unknown kind.
func Describe(kind Kind) string {
	switch kind {
	case Saturation:
		return "In one segment of the video the colour saturation was strongly increased."
	case Noise:
		return "In one segment of the video strong random noise was added to the frames."
	case Blur:
		return "In one segment of the video the frames were blurred."
	case Grayscale:
		return "In one segment of the video the frames were turned to black and white (grayscale)."
	case Invert:
		return "In one segment of the video the colours were inverted, like a photographic negative."
	case ChannelSwap:
		return "In one segment of the video the red and blue colour channels were swapped."
	case ZoomIn:
		return "In one segment of the video the picture was zoomed in on its centre."
	case ZoomOut:
		return "In one segment of the video the picture was zoomed out and surrounded by a black border."
	case Rotate180:
		return "In one segment of the video the picture was turned upside down (rotated by 180 degrees)."
	case Rotate90:
		return "In one segment of the video the picture was rotated by 90 degrees clockwise."
	case Rotate270:
		return "In one segment of the video the picture was rotated by 90 degrees counter-clockwise."
	case Mirror:
		return "In one segment of the video the picture was mirrored left to right."
	case Shuffle:
		return "In one segment of the video the order of the frames was shuffled."
	case Stutter:
		return "In one segment of the video the playback stutters, freezing on a few frames."
	case Swap:
		return "In one segment of the video the frames were replaced by frames from a different video."
	case Slow:
		return "In one segment of the video the playback was slowed down to half speed."
	case Fast:
		return "In one segment of the video the playback was sped up to double speed."
	}
	return ""
}
