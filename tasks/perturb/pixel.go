package perturb

import (
	"math"
	"math/rand/v2"

	"github.com/videossr/videossr-go/tasks/frame"
)

// mapFrames sets dst[i] to a new frame holding op applied to seg[i].
func mapFrames(dst, seg []*frame.Frame, op func(dst, src []byte)) {
	for i, f := range seg {
		g := frame.New(f.W, f.H)
		op(g.Pix, f.Pix)
		dst[i] = g
	}
}

// luma returns the ITU-R 601-2 luma of an RGB pixel the way PIL's
// convert("L") computes it: (19595 R + 38470 G + 7471 B + 2^15) >> 16.
func luma(r, g, b byte) int {
	return (19595*int(r) + 38470*int(g) + 7471*int(b) + 0x8000) >> 16
}

// clamp8 clips an integer to 0..255.
func clamp8(v int) byte {
	return byte(min(max(v, 0), 255))
}

// saturate implements PIL ImageEnhance.Color with factor 2: each channel
// is moved away from the pixel's luma grey, out = grey + 2*(c - grey),
// clipped to 0..255.
func saturate(dst, src []byte) {
	for i := 0; i+2 < len(src); i += 3 {
		r, g, b := src[i], src[i+1], src[i+2]
		l := luma(r, g, b)
		dst[i] = clamp8(2*int(r) - l)
		dst[i+1] = clamp8(2*int(g) - l)
		dst[i+2] = clamp8(2*int(b) - l)
	}
}

// grayscale replicates the luma of each pixel on the three channels.
func grayscale(dst, src []byte) {
	for i := 0; i+2 < len(src); i += 3 {
		l := byte(luma(src[i], src[i+1], src[i+2]))
		dst[i], dst[i+1], dst[i+2] = l, l, l
	}
}

// invert maps every channel value x to 255-x.
func invert(dst, src []byte) {
	for i, v := range src {
		dst[i] = 255 - v
	}
}

// swapRB exchanges the red and blue channels.
func swapRB(dst, src []byte) {
	for i := 0; i+2 < len(src); i += 3 {
		dst[i], dst[i+1], dst[i+2] = src[i+2], src[i+1], src[i]
	}
}

// addNoise returns f plus independent Gaussian noise of standard deviation
// sigma on every channel of every pixel, rounded and clipped to 0..255.
func addNoise(f *frame.Frame, sigma float64, rng *rand.Rand) *frame.Frame {
	g := frame.New(f.W, f.H)
	for i, v := range f.Pix {
		x := float64(v) + sigma*rng.NormFloat64()
		g.Pix[i] = clamp8(int(math.Floor(x + 0.5)))
	}
	return g
}

// gaussianKernel returns the normalised weights w[0..2r] of a Gaussian of
// the given sigma truncated at r = ceil(3 sigma).
func gaussianKernel(sigma float64) []float32 {
	r := int(math.Ceil(3 * sigma))
	w := make([]float64, 2*r+1)
	var sum float64
	for k := -r; k <= r; k++ {
		v := math.Exp(-float64(k*k) / (2 * sigma * sigma))
		w[k+r] = v
		sum += v
	}
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = float32(v / sum)
	}
	return out
}

// blurBuffers holds the scratch memory of a separable blur so that a
// segment of same-size frames is blurred without per-frame reallocation of
// the intermediate buffers.
type blurBuffers struct {
	tmp []float32 // horizontally blurred frame, 3*W*H
	pad []float32 // one padded source row, 3*(W+2r)
	acc []float32 // one output row, 3*W
}

// grow returns s with length n, reusing its memory when possible.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// blur returns f convolved with the separable kernel k (odd length),
// replicating the border pixels outside the frame.
func (b *blurBuffers) blur(f *frame.Frame, k []float32) *frame.Frame {
	r := len(k) / 2
	w, h := f.W, f.H
	stride := 3 * w
	b.tmp = grow(b.tmp, stride*h)
	b.pad = grow(b.pad, 3*(w+2*r))
	b.acc = grow(b.acc, stride)
	pad, tmp, acc := b.pad, b.tmp, b.acc
	// Horizontal pass into tmp.
	for y := 0; y < h; y++ {
		row := f.Pix[y*stride : (y+1)*stride]
		for x := -r; x < w+r; x++ {
			sx := min(max(x, 0), w-1)
			o := 3 * (x + r)
			pad[o], pad[o+1], pad[o+2] = float32(row[3*sx]), float32(row[3*sx+1]), float32(row[3*sx+2])
		}
		trow := tmp[y*stride : (y+1)*stride]
		for i := range trow {
			trow[i] = 0
		}
		for j, wt := range k {
			src := pad[3*j : 3*j+stride]
			dst := trow[:len(src)]
			for i, v := range src {
				dst[i] += wt * v
			}
		}
	}
	// Vertical pass into the output.
	g := frame.New(w, h)
	for y := 0; y < h; y++ {
		for i := range acc {
			acc[i] = 0
		}
		for j, wt := range k {
			sy := min(max(y+j-r, 0), h-1)
			src := tmp[sy*stride : (sy+1)*stride]
			dst := acc[:len(src)]
			for i, v := range src {
				dst[i] += wt * v
			}
		}
		out := g.Pix[y*stride : (y+1)*stride]
		for i, v := range acc {
			out[i] = clamp8(int(v + 0.5))
		}
	}
	return g
}
