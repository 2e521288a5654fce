package perturb

import (
	"math"

	"github.com/videossr/videossr-go/tasks/frame"
)

// scaledSide returns round(side/scale), at least 1 and at most side.
func scaledSide(side int, scale float64) int {
	v := int(math.Floor(float64(side)/scale + 0.5))
	return min(max(v, 1), side)
}

// crop returns a copy of the w x h region of f whose top-left pixel is (x, y).
func crop(f *frame.Frame, x, y, w, h int) *frame.Frame {
	g := frame.New(w, h)
	for r := 0; r < h; r++ {
		src := f.Pix[f.Offset(x, y+r):]
		copy(g.Pix[3*w*r:3*w*(r+1)], src[:3*w])
	}
	return g
}

// zoomIn crops the centre 1/scale of f and resizes the crop back to the
// size of f. It returns the crop box as [x, y, w, h].
func zoomIn(f *frame.Frame, scale float64) (*frame.Frame, [4]int) {
	cw, ch := scaledSide(f.W, scale), scaledSide(f.H, scale)
	x, y := (f.W-cw)/2, (f.H-ch)/2
	c := crop(f, x, y, cw, ch)
	return frame.Resize(c, f.W, f.H), [4]int{x, y, cw, ch}
}

// zoomOut shrinks f by scale and centres it on a black frame of the size of
// f. It returns the box of the shrunken picture as [x, y, w, h].
func zoomOut(f *frame.Frame, scale float64) (*frame.Frame, [4]int) {
	sw, sh := scaledSide(f.W, scale), scaledSide(f.H, scale)
	small := frame.Resize(f, sw, sh)
	g := frame.New(f.W, f.H)
	x, y := (f.W-sw)/2, (f.H-sh)/2
	for r := 0; r < sh; r++ {
		copy(g.Pix[g.Offset(x, y+r):], small.Pix[3*sw*r:3*sw*(r+1)])
	}
	return g, [4]int{x, y, sw, sh}
}

// rotate180 returns f turned by 180 degrees.
func rotate180(f *frame.Frame) *frame.Frame {
	g := frame.New(f.W, f.H)
	n := len(f.Pix)
	for i := 0; i < n; i += 3 {
		j := n - 3 - i
		g.Pix[j], g.Pix[j+1], g.Pix[j+2] = f.Pix[i], f.Pix[i+1], f.Pix[i+2]
	}
	return g
}

// rotate90 returns f turned by 90 degrees clockwise: the result is H x W
// and its pixel (x', y') is the source pixel (y', H-1-x').
func rotate90(f *frame.Frame) *frame.Frame {
	g := frame.New(f.H, f.W)
	for y := 0; y < f.H; y++ {
		xo := f.H - 1 - y // destination column of source row y
		for x := 0; x < f.W; x++ {
			s := f.Offset(x, y)
			d := g.Offset(xo, x)
			g.Pix[d], g.Pix[d+1], g.Pix[d+2] = f.Pix[s], f.Pix[s+1], f.Pix[s+2]
		}
	}
	return g
}

// rotate270 returns f turned by 270 degrees clockwise (90 counter-clockwise):
// the result is H x W and its pixel (x', y') is the source pixel (W-1-y', x').
func rotate270(f *frame.Frame) *frame.Frame {
	g := frame.New(f.H, f.W)
	for y := 0; y < f.H; y++ {
		for x := 0; x < f.W; x++ {
			s := f.Offset(x, y)
			d := g.Offset(y, f.W-1-x)
			g.Pix[d], g.Pix[d+1], g.Pix[d+2] = f.Pix[s], f.Pix[s+1], f.Pix[s+2]
		}
	}
	return g
}

// mirror returns f flipped left to right.
func mirror(f *frame.Frame) *frame.Frame {
	g := frame.New(f.W, f.H)
	stride := 3 * f.W
	for y := 0; y < f.H; y++ {
		src := f.Pix[y*stride : (y+1)*stride]
		dst := g.Pix[y*stride : (y+1)*stride]
		for x := 0; x < f.W; x++ {
			s, d := 3*x, 3*(f.W-1-x)
			dst[d], dst[d+1], dst[d+2] = src[s], src[s+1], src[s+2]
		}
	}
	return g
}
