package video

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/videossr/videossr-go/tasks/frame"
)

// SynthOptions describes a procedural test video (see Synthesize).
type SynthOptions struct {
	// W and H are the frame size in pixels (each at least 16).
	W, H int
	// Frames is the number of frames.
	Frames int
	// FPS is the frame rate used when the video is written to a file.
	FPS float64
	// Seed selects the scene; the same options give byte-identical frames.
	Seed uint64
	// Objects is the number of moving objects (0..64).
	Objects int
}

// DefaultSynthOptions returns a 320x240, 96-frame, 24 fps scene with four
// moving objects.
func DefaultSynthOptions() SynthOptions {
	return SynthOptions{W: 320, H: 240, Frames: 96, FPS: 24, Seed: 1, Objects: 4}
}

func (o SynthOptions) validate() error {
	if o.W < 16 || o.H < 16 || o.W > 8192 || o.H > 8192 {
		return fmt.Errorf("synthetic video: size %dx%d outside 16..8192", o.W, o.H)
	}
	if o.Frames < 1 || o.Frames > 1<<20 {
		return fmt.Errorf("synthetic video: frame count %d outside 1..%d", o.Frames, 1<<20)
	}
	if math.IsNaN(o.FPS) || math.IsInf(o.FPS, 0) || o.FPS <= 0 {
		return fmt.Errorf("synthetic video: invalid frame rate %g", o.FPS)
	}
	if o.Objects < 0 || o.Objects > 64 {
		return fmt.Errorf("synthetic video: object count %d outside 0..64", o.Objects)
	}
	return nil
}

// Synthesize renders a procedural video: a textured, colourful background
// that differs left/right and top/bottom (a warm-to-cool hue gradient, a
// sun in the upper left, a striped field in the lower right, a building with
// windows), larger than the frame and seen through a panning camera; several
// moving, striped objects of distinct shapes and saturated colours, each with
// an off-centre marker so mirroring and rotation show; and a slow global
// brightening with a warm tint. Channel swaps, mirroring, rotation, zoom,
// frame shuffles and stutters, inversion and grayscale are all visible on it.
//
// The frames depend only on opt: the same options give byte-identical frames
// on every platform (integer arithmetic only).
func Synthesize(opt SynthOptions) ([]*frame.Frame, error) {
	s, err := newSynth(opt)
	if err != nil {
		return nil, err
	}
	out := make([]*frame.Frame, opt.Frames)
	for t := range out {
		out[t] = s.frame(t)
	}
	return out, nil
}

// synth holds the precomputed scene of a synthetic video.
type synth struct {
	opt        SynthOptions
	bg         *frame.Frame // the world, larger than the frame
	panX, panY int
	objs       []synthObject
}

// Object shapes.
const (
	shapeDisc = iota
	shapeBox
	shapeTriangle
	shapeArrow
	shapeRing
	numShapes
)

// synthObject is one moving object. Positions are in frame coordinates, in
// 1/256 pixel.
type synthObject struct {
	shape      int
	r          int
	x0, y0     int
	vx, vy     int
	col, dark  [3]int
	stripe     int
	sdx, sdy   int // stripe direction
	markX      int // marker offset (pixels)
	markY      int
	markBright bool
}

func newSynth(opt SynthOptions) (*synth, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15))
	s := &synth{opt: opt, panX: opt.W / 2, panY: opt.H / 4}
	s.bg = renderBackground(opt.W+s.panX, opt.H+s.panY, opt.Seed)

	// Saturated, mutually distinct object colours.
	synthPalette := [...][3]int{
		{230, 40, 40}, {40, 200, 60}, {40, 80, 235}, {245, 220, 40},
		{220, 50, 200}, {40, 215, 225}, {250, 140, 20}, {245, 245, 245},
	}
	shapes := rng.Perm(numShapes)
	colours := rng.Perm(len(synthPalette))
	minSide := min(opt.W, opt.H)
	for i := 0; i < opt.Objects; i++ {
		o := synthObject{shape: shapes[i%numShapes]}
		o.r = max(3, minSide*(8+rng.IntN(7))/100)
		c := synthPalette[colours[i%len(colours)]]
		if i >= len(colours) { // more objects than colours: vary the shade
			for k := range c {
				c[k] = c[k] * (60 + rng.IntN(40)) / 100
			}
		}
		o.col = c
		for k := range c {
			o.dark[k] = c[k] * 11 / 20
		}
		o.stripe = 3 + rng.IntN(4)
		dirs := [...][2]int{{1, 0}, {0, 1}, {1, 1}, {1, -1}}
		d := dirs[rng.IntN(len(dirs))]
		o.sdx, o.sdy = d[0], d[1]
		o.markX, o.markY = o.r/2, -o.r/3
		o.markBright = o.col[0]+o.col[1]+o.col[2] < 600
		o.x0 = (o.r + rng.IntN(max(1, opt.W-2*o.r))) * 256
		o.y0 = (o.r + rng.IntN(max(1, opt.H-2*o.r))) * 256
		o.vx = (256 + rng.IntN(2*256)) * (2*rng.IntN(2) - 1)
		o.vy = (128 + rng.IntN(256)) * (2*rng.IntN(2) - 1)
		s.objs = append(s.objs, o)
	}
	return s, nil
}

// hash2 is a seeded integer hash of a lattice point.
func hash2(x, y int, seed uint64) uint64 {
	h := seed ^ (uint64(int64(x)) * 0x9e3779b97f4a7c15) ^ (uint64(int64(y)) * 0xc2b2ae3d27d4eb4f)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// valueNoise returns smooth seeded noise in 0..255 with the given cell size.
func valueNoise(x, y, cell int, seed uint64) int {
	ix, iy := x/cell, y/cell
	fx, fy := (x%cell)*256/cell, (y%cell)*256/cell
	v00 := int(hash2(ix, iy, seed) & 255)
	v10 := int(hash2(ix+1, iy, seed) & 255)
	v01 := int(hash2(ix, iy+1, seed) & 255)
	v11 := int(hash2(ix+1, iy+1, seed) & 255)
	top := v00*(256-fx) + v10*fx
	bot := v01*(256-fx) + v11*fx
	return (top*(256-fy) + bot*fy) >> 16
}

func clamp255(v int) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// renderBackground draws the asymmetric world of size bw x bh.
func renderBackground(bw, bh int, seed uint64) *frame.Frame {
	bg := frame.New(bw, bh)
	sunX, sunY, sunR := bw/5, bh/5, max(4, bh/8)
	bldX0, bldX1 := bw*62/100, bw*74/100
	bldY0 := bh * 30 / 100
	fieldY0 := bh * 72 / 100
	fieldX0 := bw * 50 / 100
	cell := max(4, min(bw, bh)/8)
	fine := max(2, cell/4)
	for y := 0; y < bh; y++ {
		for x := 0; x < bw; x++ {
			// Warm left, cool right, greener toward the bottom.
			r := 60 + 170*(bw-1-x)/max(1, bw-1)
			b := 50 + 180*x/max(1, bw-1)
			g := 40 + 150*y/max(1, bh-1)
			r += (valueNoise(x, y, cell, seed) - 128) / 3
			g += (valueNoise(x, y, cell, seed^0x1111) - 128) / 3
			b += (valueNoise(x, y, cell, seed^0x2222) - 128) / 3
			n := (valueNoise(x, y, fine, seed^0x3333) - 128) / 5
			r, g, b = r+n, g+n, b+n
			dx, dy := x-sunX, y-sunY
			switch {
			case dx*dx+dy*dy <= sunR*sunR:
				// The sun, with a darker lower-right crescent.
				if (dx-sunR/3)*(dx-sunR/3)+(dy-sunR/3)*(dy-sunR/3) <= sunR*sunR/4 {
					r, g, b = 230, 150, 30
				} else {
					r, g, b = 255, 235, 80
				}
			case x >= bldX0 && x < bldX1 && y >= bldY0 && y < fieldY0:
				// A building with a grid of lit windows.
				wx, wy := (x-bldX0)%8, (y-bldY0)%10
				if wx >= 2 && wx < 6 && wy >= 3 && wy < 8 && hash2((x-bldX0)/8, (y-bldY0)/10, seed)%3 != 0 {
					r, g, b = 250, 240, 170
				} else {
					r, g, b = 90, 80, 95
				}
			case y >= fieldY0 && x >= fieldX0:
				// A field of slanted stripes.
				if ((x+2*y)/6)%2 == 0 {
					r, g, b = 235, 235, 225
				} else {
					r, g, b = 30, 60, 150
				}
			}
			bg.Set(x, y, clamp255(r), clamp255(g), clamp255(b))
		}
	}
	return bg
}

// bounce returns position p0 + v*t (1/256 px) reflected into [lo, hi] px.
func bounce(p0, v, t, lo, hi int) int {
	span := (hi - lo) * 256
	if span <= 0 {
		return lo
	}
	q := (p0 - lo*256 + v*t) % (2 * span)
	if q < 0 {
		q += 2 * span
	}
	if q > span {
		q = 2*span - q
	}
	return (lo*256 + q) >> 8
}

// inside reports whether offset (dx, dy) from the centre lies in the shape.
func (o *synthObject) inside(dx, dy int) bool {
	r := o.r
	switch o.shape {
	case shapeDisc:
		return dx*dx+dy*dy <= r*r
	case shapeBox:
		return abs(dx) <= r && 4*abs(dy) <= 3*r
	case shapeTriangle: // apex up
		return dy >= -r && dy <= r && 2*abs(dx) <= dy+r
	case shapeArrow: // points right
		if dx >= -r && dx <= 0 {
			return 3*abs(dy) <= r
		}
		return dx > 0 && dx <= r && 3*abs(dy) <= 2*(r-dx)
	default: // ring
		d := dx*dx + dy*dy
		return d <= r*r && 9*d >= 4*r*r
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// frame renders frame t.
func (s *synth) frame(t int) *frame.Frame {
	w, h := s.opt.W, s.opt.H
	last := max(1, s.opt.Frames-1)
	tt := min(t, last)
	ox := s.panX * tt / last
	oy := s.panY * (last - abs(2*tt-last)) / last
	f := frame.New(w, h)
	for y := 0; y < h; y++ {
		copy(f.Pix[3*y*w:3*(y+1)*w], s.bg.Pix[s.bg.Offset(ox, y+oy):s.bg.Offset(ox+w, y+oy)])
	}
	for i := range s.objs {
		o := &s.objs[i]
		cx := bounce(o.x0, o.vx, t, o.r, w-1-o.r)
		cy := bounce(o.y0, o.vy, t, o.r, h-1-o.r)
		mr := max(1, o.r/5)
		for y := max(0, cy-o.r); y <= min(h-1, cy+o.r); y++ {
			for x := max(0, cx-o.r); x <= min(w-1, cx+o.r); x++ {
				dx, dy := x-cx, y-cy
				if !o.inside(dx, dy) {
					continue
				}
				c := o.col
				if ((dx*o.sdx+dy*o.sdy+4*o.r)/o.stripe)%2 == 1 {
					c = o.dark
				}
				if mx, my := dx-o.markX, dy-o.markY; mx*mx+my*my <= mr*mr {
					if o.markBright {
						c = [3]int{255, 255, 255}
					} else {
						c = [3]int{0, 0, 0}
					}
				}
				f.Set(x, y, uint8(c[0]), uint8(c[1]), uint8(c[2]))
			}
		}
	}
	// Slow global lighting change: brighten from ~0.78 to ~1.06 with a
	// warming tint.
	gain := 200 + 72*tt/last
	gr, gb := gain+12*tt/last, gain-12*tt/last
	for i := 0; i < len(f.Pix); i += 3 {
		f.Pix[i] = clamp255(int(f.Pix[i]) * gr >> 8)
		f.Pix[i+1] = clamp255(int(f.Pix[i+1]) * gain >> 8)
		f.Pix[i+2] = clamp255(int(f.Pix[i+2]) * gb >> 8)
	}
	return f
}
