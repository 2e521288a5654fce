package video

import (
	"math"
	"testing"
)

func TestFitPixels(t *testing.T) {
	tests := []struct {
		name           string
		w, h, max, min int
	}{
		{"vga to 256^2", 640, 480, 256 * 256, 128 * 128},
		{"vtest", 768, 576, 256 * 256, 128 * 128},
		{"megamind", 720, 528, 256 * 256, 128 * 128},
		{"wide", 1920, 200, 256 * 256, 0},
		{"tall", 90, 1600, 256 * 256, 0},
		{"small grows to min", 64, 48, 256 * 256, 128 * 128},
		{"within budget", 200, 150, 256 * 256, 128 * 128},
		{"no bounds", 333, 111, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h := FitPixels(tc.w, tc.h, tc.max, tc.min)
			if w < 1 || h < 1 {
				t.Fatalf("got %dx%d", w, h)
			}
			if tc.max > 0 && w*h > tc.max {
				t.Errorf("%dx%d = %d pixels exceeds max %d", w, h, w*h, tc.max)
			}
			if tc.min > 0 && w*h < tc.min {
				t.Errorf("%dx%d = %d pixels below min %d", w, h, w*h, tc.min)
			}
			// Aspect kept to within one pixel of rounding.
			if d := math.Abs(float64(w)*float64(tc.h) - float64(h)*float64(tc.w)); d > float64(max(tc.w, tc.h)) {
				t.Errorf("%dx%d does not keep the aspect of %dx%d", w, h, tc.w, tc.h)
			}
			inBudget := (tc.max == 0 || tc.w*tc.h <= tc.max) && (tc.min == 0 || tc.w*tc.h >= tc.min)
			if inBudget && (w != tc.w || h != tc.h) {
				t.Errorf("in-budget %dx%d resized to %dx%d", tc.w, tc.h, w, h)
			}
			if !inBudget && tc.max > 0 && tc.w*tc.h > tc.max && w*h < tc.max*9/10 {
				t.Errorf("%dx%d wastes the budget (%d of %d pixels)", w, h, w*h, tc.max)
			}
		})
	}
}

func TestResizeConstantAndAverage(t *testing.T) {
	f := NewFrame(40, 30)
	for i := 0; i < len(f.Pix); i += 3 {
		f.Pix[i], f.Pix[i+1], f.Pix[i+2] = 10, 120, 250
	}
	for _, sz := range [][2]int{{20, 15}, {13, 7}, {80, 60}, {41, 29}} {
		g := Resize(f, sz[0], sz[1])
		if g.W != sz[0] || g.H != sz[1] || g.Validate() != nil {
			t.Fatalf("resize to %v gave %dx%d", sz, g.W, g.H)
		}
		for y := 0; y < g.H; y++ {
			for x := 0; x < g.W; x++ {
				if r, gg, b := g.At(x, y); r != 10 || gg != 120 || b != 250 {
					t.Fatalf("resize to %v: pixel (%d,%d) = %d,%d,%d, want 10,120,250", sz, x, y, r, gg, b)
				}
			}
		}
	}
	// 2x downscale of a checkerboard averages each 2x2 block.
	c := NewFrame(8, 8)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			if (x+y)%2 == 0 {
				c.Set(x, y, 200, 0, 100)
			}
		}
	}
	d := Resize(c, 4, 4)
	for y := 0; y < 4; y++ {
		for x := 0; x < 4; x++ {
			if r, g, b := d.At(x, y); r != 100 || g != 0 || b != 50 {
				t.Fatalf("checkerboard average at (%d,%d) = %d,%d,%d, want 100,0,50", x, y, r, g, b)
			}
		}
	}
	// Same size is a copy, not an alias.
	e := Resize(c, 8, 8)
	e.Pix[0] = 1
	if c.Pix[0] == 1 {
		t.Error("same-size Resize aliases its input")
	}
}

func TestResizeToBudget(t *testing.T) {
	f := NewFrame(768, 576)
	g := ResizeToBudget(f, 256*256, 128*128)
	if g.W*g.H > 256*256 || g.W*g.H < 128*128 {
		t.Errorf("budget resize gave %dx%d", g.W, g.H)
	}
	if g.W*576 != g.H*768 && math.Abs(float64(g.W)/float64(g.H)-768.0/576.0) > 0.01 {
		t.Errorf("aspect not kept: %dx%d", g.W, g.H)
	}
}

func TestJPEGRoundTrip(t *testing.T) {
	frames, err := Synthesize(SynthOptions{W: 64, H: 48, Frames: 1, FPS: 10, Seed: 3, Objects: 2})
	if err != nil {
		t.Fatal(err)
	}
	data, err := frames[0].EncodeJPEG(95)
	if err != nil {
		t.Fatal(err)
	}
	g, err := DecodeJPEG(data)
	if err != nil {
		t.Fatal(err)
	}
	if g.W != 64 || g.H != 48 {
		t.Fatalf("decoded %dx%d", g.W, g.H)
	}
	if d := meanAbsDiff(frames[0], g); d > 6 {
		t.Errorf("JPEG q95 round trip mean abs diff %.2f", d)
	}
}
