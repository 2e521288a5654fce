package frame

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"testing"
)

// pattern returns a w x h test frame: smooth gradients with edges and
// seeded noise, so resizing sees both flat areas and fine detail.
func pattern(w, h int, seed uint64) *Frame {
	rng := rand.New(rand.NewPCG(seed, 1))
	f := New(w, h)
	for y := range h {
		for x := range w {
			r := uint8(255 * x / max(1, w-1))
			g := uint8(255 * y / max(1, h-1))
			b := uint8(rng.IntN(256))
			if (x/7+y/5)%2 == 0 {
				r, g = g, r
			}
			f.Set(x, y, r, g, b)
		}
	}
	return f
}

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
	f := New(40, 30)
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
	c := New(8, 8)
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
	f := New(768, 576)
	g := ResizeToBudget(f, 256*256, 128*128)
	if g.W*g.H > 256*256 || g.W*g.H < 128*128 {
		t.Errorf("budget resize gave %dx%d", g.W, g.H)
	}
	if g.W*576 != g.H*768 && math.Abs(float64(g.W)/float64(g.H)-768.0/576.0) > 0.01 {
		t.Errorf("aspect not kept: %dx%d", g.W, g.H)
	}
}

// refAxis returns float64 weights for one axis, the textbook definitions the

// fixed-point tables approximate: area overlap when shrinking, bilinear with

// centre alignment when growing.

func refAxis(src, dst int) [][2]float64 {
	var out [][2]float64 // flattened (index, weight) pairs per output, separated by {-1, 0}
	s := float64(src) / float64(dst)
	for i := 0; i < dst; i++ {
		if dst < src {
			lo, hi := float64(i)*s, float64(i+1)*s
			for j := int(lo); j < src && float64(j) < hi; j++ {
				ov := math.Min(hi, float64(j+1)) - math.Max(lo, float64(j))
				if ov > 0 {
					out = append(out, [2]float64{float64(j), ov / s})
				}
			}
		} else {
			fx := (float64(i)+0.5)*s - 0.5
			x0 := math.Floor(fx)
			wx := fx - x0
			a, b := int(x0), int(x0)+1
			a = min(max(a, 0), src-1)
			b = min(max(b, 0), src-1)
			out = append(out, [2]float64{float64(a), 1 - wx}, [2]float64{float64(b), wx})
		}
		out = append(out, [2]float64{-1, 0})
	}
	return out
}

// refResize is a float64 separable resize used to check Resize.

func refResize(f *Frame, w, h int) *Frame {
	split := func(ws [][2]float64) [][][2]float64 {
		var out [][][2]float64
		var cur [][2]float64
		for _, p := range ws {
			if p[0] < 0 {
				out = append(out, cur)
				cur = nil
				continue
			}
			cur = append(cur, p)
		}
		return out
	}
	xs, ys := split(refAxis(f.W, w)), split(refAxis(f.H, h))
	mid := make([]float64, f.H*w*3)
	for y := 0; y < f.H; y++ {
		for x := 0; x < w; x++ {
			for _, p := range xs[x] {
				for c := 0; c < 3; c++ {
					mid[(y*w+x)*3+c] += p[1] * float64(f.Pix[f.Offset(int(p[0]), y)+c])
				}
			}
		}
	}
	out := New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < 3; c++ {
				var v float64
				for _, p := range ys[y] {
					v += p[1] * mid[(int(p[0])*w+x)*3+c]
				}
				out.Pix[out.Offset(x, y)+c] = uint8(math.Max(0, math.Min(255, math.Round(v))))
			}
		}
	}
	return out
}

func TestResizeMatchesFloatReference(t *testing.T) {
	src := pattern(97, 61, 9)
	sizes := [][2]int{{48, 30}, {32, 20}, {1, 1}, {97, 30}, {200, 61}, {150, 140}, {50, 90}, {13, 7}, {96, 60}, {98, 62}, {2, 200}}
	for _, sz := range sizes {
		got, want := Resize(src, sz[0], sz[1]), refResize(src, sz[0], sz[1])
		if got.W != sz[0] || got.H != sz[1] || got.Validate() != nil {
			t.Fatalf("resize to %v gave %dx%d", sz, got.W, got.H)
		}
		worst := 0
		for i := range got.Pix {
			worst = max(worst, int(absInt(int(got.Pix[i])-int(want.Pix[i]))))
		}
		if worst > 1 {
			t.Errorf("resize 97x61 to %dx%d: max abs diff %d to the float reference, want <= 1", sz[0], sz[1], worst)
		}
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// TestResizeGolden pins the exact bytes of a few resizes: the arithmetic

// is integer-only, so they must not change across platforms or releases.

func TestResizeGolden(t *testing.T) {
	src := New(5, 3)
	for i := range src.Pix {
		src.Pix[i] = byte(i * 17 % 251)
	}
	cases := []struct {
		w, h int
		want string
	}{
		{2, 1, "dcdb3f51f8ce"},
		{7, 4, "ea21b314c75e"},
	}
	for _, c := range cases {
		got := Resize(src, c.w, c.h)
		h := sha256.Sum256(got.Pix)
		gotHex := hex.EncodeToString(h[:6])
		if c.want == "" {
			t.Logf("%dx%d: %s", c.w, c.h, gotHex)
			continue
		}
		if gotHex != c.want {
			t.Errorf("resize 5x3 to %dx%d: sha256 prefix %s, want %s", c.w, c.h, gotHex, c.want)
		}
	}
}

func TestResizeEdgeCopies(t *testing.T) {
	// Growing 2x keeps the corner pixels (edges clamp) and one column stays
	// one column of copies.
	f := New(2, 1)
	f.Set(0, 0, 10, 20, 30)
	f.Set(1, 0, 200, 100, 0)
	g := Resize(f, 4, 3)
	for y := 0; y < 3; y++ {
		if r, gg, b := g.At(0, y); r != 10 || gg != 20 || b != 30 {
			t.Errorf("left edge row %d = %d,%d,%d", y, r, gg, b)
		}
		if r, gg, b := g.At(3, y); r != 200 || gg != 100 || b != 0 {
			t.Errorf("right edge row %d = %d,%d,%d", y, r, gg, b)
		}
		// Interior: 0.25/0.75 mixes.
		if r, _, _ := g.At(1, y); r != 58 { // 10*0.75 + 200*0.25 = 57.5 -> 58
			t.Errorf("pixel (1,%d) red = %d, want 58", y, r)
		}
	}
	one := Resize(f, 1, 1)
	if r, gg, b := one.At(0, 0); r != 105 || gg != 60 || b != 15 {
		t.Errorf("2x1 -> 1x1 = %d,%d,%d, want the mean 105,60,15", r, gg, b)
	}
}

// BenchmarkResize measures the training resize of a 768x576 frame (the

// size of vtest.avi) into the 256x256 budget, and a 2x upscale.

func BenchmarkResize(b *testing.B) {
	src := pattern(768, 576, 1)
	w, h := FitPixels(src.W, src.H, 256*256, 128*128)
	b.Run("768x576_to_budget256", func(b *testing.B) {
		for b.Loop() {
			Resize(src, w, h)
		}
	})
	small := Resize(src, 256, 192)
	b.Run("256x192_to_512x384", func(b *testing.B) {
		for b.Loop() {
			Resize(small, 512, 384)
		}
	})
}

// TestJPEGCodecsInteroperate: the build's codec (OpenCV with cgo) and the

// standard library read each other's files, and FromImage handles every

// image type the same.

// BenchmarkJPEG measures the build's JPEG codec on a training-size
