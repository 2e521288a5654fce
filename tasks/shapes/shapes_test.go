package shapes

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
)

// coverage returns the drawn area in square pixels of a white shape on a
// black frame (the red channel over 255, summed).
func coverage(f *frame.Frame) float64 {
	var s float64
	for i := 0; i < len(f.Pix); i += 3 {
		s += float64(f.Pix[i]) / 255
	}
	return s
}

func white(c Class, cx, cy, size, angle float64) Instance {
	return Instance{Class: c, CX: cx, CY: cy, Size: size, AngleDeg: angle, R: 255, G: 255, B: 255}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{Circle: "circle", Square: "square", Triangle: "triangle"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(c), c.String(), want)
		}
	}
	if Class(7).String() == "circle" {
		t.Errorf("unknown class prints as a known one")
	}
}

func TestDrawnAreaMatchesAnalytic(t *testing.T) {
	for _, c := range []Class{Circle, Square, Triangle} {
		for _, size := range []float64{20, 57.3, 90} {
			for _, angle := range []float64{0, 17, 45, 90, 133.7, 250} {
				f := frame.New(128, 128)
				in := white(c, 64.3, 63.8, size, angle)
				Draw(f, in)
				got, want := coverage(f), Area(in)
				if math.Abs(got-want) > 0.02*want {
					t.Errorf("%s size %v angle %v: drawn area %.1f, analytic %.1f", c, size, angle, got, want)
				}
			}
		}
	}
}

func TestCentreColourExactAndEdgesBlended(t *testing.T) {
	for _, c := range []Class{Circle, Square, Triangle} {
		for _, angle := range []float64{0, 30, 71} {
			f := frame.New(100, 80)
			for i := range f.Pix {
				f.Pix[i] = 10
			}
			in := Instance{Class: c, CX: 50.3, CY: 40.2, Size: 40, AngleDeg: angle, R: 200, G: 91, B: 53}
			Draw(f, in)
			if r, g, b := f.At(50, 40); r != 200 || g != 91 || b != 53 {
				t.Errorf("%s: centre colour %d,%d,%d, want 200,91,53", c, r, g, b)
			}
			partial := 0
			for i := 0; i < len(f.Pix); i += 3 {
				if v := f.Pix[i]; v > 10 && v < 200 {
					partial++
				}
			}
			if partial < 20 {
				t.Errorf("%s angle %v: only %d blended edge pixels", c, angle, partial)
			}
			// Far corners keep the background.
			if r, _, _ := f.At(0, 0); r != 10 {
				t.Errorf("%s: background changed at the corner", c)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	// A square rotated by 90 degrees is the same square; a triangle rotated
	// by 120 degrees is the same triangle (up to sub-sample rounding).
	for _, tc := range []struct {
		c     Class
		angle float64
	}{{Square, 90}, {Triangle, 120}, {Circle, 77}} {
		a, b := frame.New(64, 64), frame.New(64, 64)
		Draw(a, white(tc.c, 32, 32, 30, 10))
		Draw(b, white(tc.c, 32, 32, 30, 10+tc.angle))
		diff := 0
		for i := range a.Pix {
			if d := int(a.Pix[i]) - int(b.Pix[i]); d > 40 || d < -40 {
				diff++
			}
		}
		if diff > 0 {
			t.Errorf("%s rotated by %v differs in %d values", tc.c, tc.angle, diff)
		}
	}
	// A triangle at angle 0 points up: its top vertex row is above the
	// centre by the circumradius, its base below by half that.
	f := frame.New(64, 64)
	Draw(f, white(Triangle, 32, 32, 30, 0))
	top, bottom := 64, -1
	for y := 0; y < 64; y++ {
		for x := 0; x < 64; x++ {
			if r, _, _ := f.At(x, y); r > 127 {
				top, bottom = min(top, y), max(bottom, y)
			}
		}
	}
	R := 30 / math.Sqrt(3)
	if math.Abs(float64(top)-(32-R)) > 1.5 || math.Abs(float64(bottom+1)-(32+R/2)) > 1.5 {
		t.Errorf("triangle spans rows %d..%d, want about %.1f..%.1f", top, bottom, 32-R, 32+R/2)
	}
	// A 45-degree rotation turns the square into a diamond: the pixel at
	// centre + (0.6*side) along x is inside only when rotated.
	g := frame.New(64, 64)
	Draw(g, white(Square, 32, 32, 30, 45))
	h := frame.New(64, 64)
	Draw(h, white(Square, 32, 32, 30, 0))
	if r, _, _ := g.At(32+18, 32); r != 255 {
		t.Errorf("rotated square does not reach its corner")
	}
	if r, _, _ := h.At(32+18, 32); r != 0 {
		t.Errorf("unrotated square reaches too far")
	}
}

func TestDrawClipsAndIgnoresInvalid(t *testing.T) {
	f := frame.New(20, 20)
	Draw(f, white(Circle, 0, 0, 30, 0))     // partly outside
	Draw(f, white(Square, 100, 100, 10, 0)) // fully outside
	g := frame.New(20, 20)
	Draw(g, white(Triangle, 10, 10, -5, 0)) // invalid size
	Draw(g, white(Triangle, math.NaN(), 10, 5, 0))
	Draw(g, white(Square, 10, 10, math.Inf(1), 0))
	Draw(g, Instance{Class: Class(9), CX: 10, CY: 10, Size: 5, R: 255})
	Draw(nil, white(Circle, 1, 1, 1, 0))
	Draw(&frame.Frame{W: 3, H: 3}, white(Circle, 1, 1, 1, 0))
	if r, _, _ := f.At(2, 2); r != 255 {
		t.Errorf("clipped circle not drawn in the frame")
	}
	for _, v := range g.Pix {
		if v != 0 {
			t.Fatalf("invalid instance drew something")
		}
	}
	if r, _, _ := f.At(19, 19); r != 0 {
		t.Errorf("outside instance drew something")
	}
}

func TestRadius(t *testing.T) {
	for _, c := range []Class{Circle, Square, Triangle} {
		for _, angle := range []float64{0, 33, 200} {
			in := white(c, 64, 64, 40, angle)
			f := frame.New(128, 128)
			Draw(f, in)
			far := 0.0
			for y := 0; y < 128; y++ {
				for x := 0; x < 128; x++ {
					if r, _, _ := f.At(x, y); r > 0 {
						far = max(far, math.Hypot(float64(x)+0.5-64, float64(y)+0.5-64))
					}
				}
			}
			R := Radius(in)
			if far > R+0.75 || far < R-1.5 {
				t.Errorf("%s angle %v: farthest drawn pixel at %.2f, radius %.2f", c, angle, far, R)
			}
		}
	}
}

// mask draws in alone on a blank frame and returns the touched pixels.
func mask(in Instance, w, h int) []bool {
	f := frame.New(w, h)
	in.R, in.G, in.B = 255, 255, 255
	Draw(f, in)
	m := make([]bool, w*h)
	for i := range m {
		m[i] = f.Pix[3*i] != 0
	}
	return m
}

func TestOverlapConservative(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	const w, h = 96, 96
	falseCount, trueCount := 0, 0
	for trial := 0; trial < 1500; trial++ {
		a := Instance{Class: Class(rng.IntN(3)), CX: 30 + 36*rng.Float64(), CY: 30 + 36*rng.Float64(),
			Size: 8 + 22*rng.Float64(), AngleDeg: 360 * rng.Float64()}
		b := Instance{Class: Class(rng.IntN(3)), Size: 8 + 22*rng.Float64(), AngleDeg: 360 * rng.Float64()}
		// Place b near the touching distance, from deep overlap to clear.
		d := Radius(a) + Radius(b) + 8*rng.Float64() - 3
		t0 := 2 * math.Pi * rng.Float64()
		b.CX, b.CY = a.CX+d*math.Cos(t0), a.CY+d*math.Sin(t0)
		ov := Overlap(a, b)
		if ov != Overlap(b, a) {
			t.Fatalf("Overlap is not symmetric")
		}
		if ov {
			trueCount++
			continue
		}
		falseCount++
		ma, mb := mask(a, w, h), mask(b, w, h)
		for i := range ma {
			if ma[i] && mb[i] {
				t.Fatalf("Overlap false but %v and %v share pixel (%d,%d)", a, b, i%w, i/w)
			}
		}
	}
	if falseCount < 200 || trueCount < 200 {
		t.Errorf("test did not exercise both answers: %d false, %d true", falseCount, trueCount)
	}
	// Identical shapes overlap; far shapes do not; NaN is treated as overlap.
	a := white(Circle, 10, 10, 10, 0)
	if !Overlap(a, a) {
		t.Errorf("a shape does not overlap itself")
	}
	if Overlap(a, white(Square, 50, 50, 10, 0)) {
		t.Errorf("far shapes overlap")
	}
	if !Overlap(a, white(Square, math.NaN(), 50, 10, 0)) {
		t.Errorf("NaN position is not treated as overlapping")
	}
}

func BenchmarkDraw(b *testing.B) {
	f := frame.New(256, 256)
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		Draw(f, Instance{Class: Class(rng.IntN(3)), CX: 128, CY: 128, Size: 51 + 51*rng.Float64(),
			AngleDeg: 360 * rng.Float64(), R: 200, G: 100, B: 50})
	}
}
