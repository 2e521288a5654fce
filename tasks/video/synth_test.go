package video

import (
	"math"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
)

func TestSynthesizeDeterministicAndSeeded(t *testing.T) {
	opt := SynthOptions{W: 96, H: 64, Frames: 12, FPS: 12, Seed: 42, Objects: 5}
	a, err := Synthesize(opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Synthesize(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			t.Fatalf("frame %d differs between two runs with the same options", i)
		}
	}
	opt.Seed = 43
	c, err := Synthesize(opt)
	if err != nil {
		t.Fatal(err)
	}
	if d := meanAbsDiff(a[0], c[0]); d < 5 {
		t.Fatalf("seeds 42 and 43 give nearly the same frame (mean abs diff %.2f)", d)
	}
	if len(a) != 12 || a[0].W != 96 || a[0].H != 64 || a[0].Validate() != nil {
		t.Fatalf("got %d frames of %dx%d", len(a), a[0].W, a[0].H)
	}
}

func TestSynthesizeRejectsBadOptions(t *testing.T) {
	for _, o := range []SynthOptions{
		{W: 8, H: 64, Frames: 1, FPS: 1},
		{W: 64, H: 64, Frames: 0, FPS: 1},
		{W: 64, H: 64, Frames: 1, FPS: 0},
		{W: 64, H: 64, Frames: 1, FPS: math.NaN()},
		{W: 64, H: 64, Frames: 1, FPS: 1, Objects: 65},
	} {
		if _, err := Synthesize(o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

// meanLuma returns the mean of R+G+B over the frame.
func meanLuma(f *frame.Frame) float64 {
	var s int
	for _, v := range f.Pix {
		s += int(v)
	}
	return float64(s) / float64(f.W*f.H)
}

// shiftedDiff is the mean abs difference between a(x+dx, y+dy), channel c
// scaled by gain[c], and b(x, y), over the overlap.
func shiftedDiff(a, b *frame.Frame, dx, dy int, gain [3]float64) float64 {
	var s float64
	n := 0
	for y := 0; y < b.H; y++ {
		ay := y + dy
		if ay < 0 || ay >= a.H {
			continue
		}
		for x := 0; x < b.W; x++ {
			ax := x + dx
			if ax < 0 || ax >= a.W {
				continue
			}
			for c := 0; c < 3; c++ {
				s += math.Abs(gain[c]*float64(a.Pix[a.Offset(ax, ay)+c]) - float64(b.Pix[b.Offset(x, y)+c]))
			}
			n += 3
		}
	}
	return s / float64(n)
}

// TestSynthesizeCameraPanLightingMotion checks the three kinds of change
// the maker promises: the background pans (frame k is frame 0 moved by the
// camera offset), the lighting brightens, and the objects move against the
// background.
func TestSynthesizeCameraPanLightingMotion(t *testing.T) {
	opt := SynthOptions{W: 128, H: 96, Frames: 33, FPS: 24, Seed: 7, Objects: 0}
	bg, err := Synthesize(opt)
	if err != nil {
		t.Fatal(err)
	}
	// Camera: frame k shows the world at offset (panX*k/last, ...); with
	// no objects, frame k equals frame 0 moved by that offset, up to the
	// lighting gain.
	k := 8
	last := opt.Frames - 1
	dx := (opt.W / 2) * k / last
	dy := (opt.H / 4) * (last - abs(2*k-last)) / last
	if dx == 0 && dy == 0 {
		t.Fatal("test setup: no pan expected")
	}
	// The lighting gain of frame t is (200 + 72 t/last)/256, tinted +-12 on
	// red and blue.
	g := func(t, tint int) float64 { return float64(200 + 72*t/last + tint*t/last) }
	gain := [3]float64{g(k, 12) / g(0, 12), g(k, 0) / g(0, 0), g(k, -12) / g(0, -12)}
	moved, still := shiftedDiff(bg[0], bg[k], dx, dy, gain), shiftedDiff(bg[0], bg[k], 0, 0, gain)
	t.Logf("pan (%d,%d): diff %.2f moved, %.2f unmoved, %.2f moved one pixel too far", dx, dy, moved, still, shiftedDiff(bg[0], bg[k], dx+1, dy, gain))
	if moved > 1.5 || still < 10*moved {
		t.Errorf("pan: frame %d vs frame 0 moved by (%d,%d): diff %.2f; unmoved: %.2f", k, dx, dy, moved, still)
	}
	// Lighting: the last frame is clearly brighter than the first.
	if l0, l1 := meanLuma(bg[0]), meanLuma(bg[last]); l1 < 1.15*l0 {
		t.Errorf("lighting: mean luma %.1f -> %.1f, want a rise of at least 15%%", l0, l1)
	}
	// Objects: with objects the frames differ from the empty scene, and
	// where they differ changes over time.
	opt.Objects = 4
	obj, err := Synthesize(opt)
	if err != nil {
		t.Fatal(err)
	}
	mask := func(i int) []bool {
		m := make([]bool, opt.W*opt.H)
		for p := range m {
			for c := 0; c < 3; c++ {
				if obj[i].Pix[3*p+c] != bg[i].Pix[3*p+c] {
					m[p] = true
				}
			}
		}
		return m
	}
	m0, m1 := mask(0), mask(16)
	cover, moved0 := 0, 0
	for p := range m0 {
		if m0[p] {
			cover++
		}
		if m0[p] != m1[p] {
			moved0++
		}
	}
	if cover < opt.W*opt.H/50 {
		t.Errorf("objects cover only %d pixels of frame 0", cover)
	}
	if moved0 < cover/4 {
		t.Errorf("objects barely moved between frames 0 and 16 (%d of %d pixels changed)", moved0, cover)
	}
}

// TestSynthesizePerturbationsVisible checks that the scene is asymmetric
// and colourful, so mirroring, rotation and channel swaps change it.
func TestSynthesizePerturbationsVisible(t *testing.T) {
	frames, err := Synthesize(DefaultSynthOptions())
	if err != nil {
		t.Fatal(err)
	}
	f := frames[len(frames)/2]
	mirror, rot, swap := frame.New(f.W, f.H), frame.New(f.W, f.H), frame.New(f.W, f.H)
	for y := 0; y < f.H; y++ {
		for x := 0; x < f.W; x++ {
			r, g, b := f.At(x, y)
			mirror.Set(f.W-1-x, y, r, g, b)
			rot.Set(f.W-1-x, f.H-1-y, r, g, b)
			swap.Set(x, y, b, g, r)
		}
	}
	for name, g := range map[string]*frame.Frame{"mirror": mirror, "rotate180": rot, "channel swap": swap} {
		if d := meanAbsDiff(f, g); d < 20 {
			t.Errorf("%s changes the frame by only %.1f on average", name, d)
		}
	}
}

func BenchmarkSynthesize(b *testing.B) {
	opt := DefaultSynthOptions()
	opt.Frames = 1
	for b.Loop() {
		if _, err := Synthesize(opt); err != nil {
			b.Fatal(err)
		}
	}
}
