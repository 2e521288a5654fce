package tasks

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/shapes"
)

func classOf(t *testing.T, name string) shapes.Class {
	t.Helper()
	for _, c := range shapeClasses() {
		if c.String() == name {
			return c
		}
	}
	t.Fatalf("unknown class %q", name)
	return 0
}

func instanceOf(t *testing.T, p PlacedShape) shapes.Instance {
	return shapes.Instance{Class: classOf(t, p.Class), CX: p.CX, CY: p.CY, Size: p.Size, AngleDeg: p.AngleDeg,
		R: uint8(p.RGB[0]), G: uint8(p.RGB[1]), B: uint8(p.RGB[2])}
}

// checkCountingSample verifies every rule of the counting task on one
// generated sample and returns per-frame instance lists.
func checkCountingSample(t *testing.T, g *Generated, cfg CountingConfig, w, h int) map[int][]PlacedShape {
	t.Helper()
	m := g.Meta.Counting
	minSide := math.Min(float64(w), float64(h))
	usedBy := map[int]int{}
	for ci, fr := range m.FramesPerClass {
		if len(fr) < 1 || len(fr) > cfg.MaxFramesPerClass {
			t.Fatalf("class %d on %d frames, want 1..%d", ci, len(fr), cfg.MaxFramesPerClass)
		}
		for i, f := range fr {
			if prev, ok := usedBy[f]; ok {
				t.Fatalf("frame %d holds classes %d and %d", f, prev, ci)
			}
			usedBy[f] = ci
			if i > 0 && f-fr[i-1] <= cfg.MinFrameGap {
				t.Fatalf("class %d frames %v closer than %d+1", ci, fr, cfg.MinFrameGap)
			}
		}
	}
	perFrame := map[int][]PlacedShape{}
	counts := make([]int, 3)
	for _, p := range m.Instances {
		ci := slices.Index(m.Classes, p.Class)
		if usedBy[p.Frame] != ci {
			t.Fatalf("instance of %s on frame %d which belongs to class %d", p.Class, p.Frame, usedBy[p.Frame])
		}
		counts[ci]++
		perFrame[p.Frame] = append(perFrame[p.Frame], p)
		if p.Size < cfg.SizeMin*minSide-1e-9 || p.Size >= cfg.SizeMax*minSide {
			t.Fatalf("size %.3f outside [%g,%g) x %g", p.Size, cfg.SizeMin, cfg.SizeMax, minSide)
		}
		for _, c := range p.RGB {
			if c < cfg.ColorMin || c > cfg.ColorMax {
				t.Fatalf("colour %v outside %d..%d", p.RGB, cfg.ColorMin, cfg.ColorMax)
			}
		}
		if p.AngleDeg < 0 || p.AngleDeg >= 360 {
			t.Fatalf("angle %g", p.AngleDeg)
		}
		mg := cfg.MarginFactor * p.Size
		if p.CX < float64(w)*(1-cfg.CentralFrac)/2+mg-1e-9 || p.CX > float64(w)*(1+cfg.CentralFrac)/2-mg+1e-9 ||
			p.CY < float64(h)*(1-cfg.CentralFrac)/2+mg-1e-9 || p.CY > float64(h)*(1+cfg.CentralFrac)/2-mg+1e-9 {
			t.Fatalf("centre (%.2f,%.2f) of size %.2f outside the central region of %dx%d", p.CX, p.CY, p.Size, w, h)
		}
	}
	for f, ps := range perFrame {
		if len(ps) < 1 || len(ps) > cfg.MaxInstances {
			t.Fatalf("frame %d has %d instances, want 1..%d", f, len(ps), cfg.MaxInstances)
		}
		for i := range ps {
			for j := i + 1; j < len(ps); j++ {
				a, b := instanceOf(t, ps[i]), instanceOf(t, ps[j])
				if shapes.Overlap(a, b) {
					t.Fatalf("frame %d: instances %d and %d overlap", f, i, j)
				}
				if math.Hypot(a.CX-b.CX, a.CY-b.CY) < math.Max(a.Size, b.Size) {
					t.Fatalf("frame %d: centres closer than the size", f)
				}
			}
		}
	}
	for f := range usedBy {
		if len(perFrame[f]) == 0 {
			t.Fatalf("frame %d was chosen but holds no shape", f)
		}
	}
	if !slices.Equal(counts, m.Counts) {
		t.Fatalf("meta counts %v, instances give %v", m.Counts, counts)
	}
	if want := CountingAnswer(counts); g.Answer != want {
		t.Fatalf("answer %s, instances give %s", g.Answer, want)
	}
	return perFrame
}

func TestCountingDistribution(t *testing.T) {
	const w, h, draws = 32, 32, 10000
	frames := tinyFrames(48, w, h, 21)
	cfg := DefaultCountingConfig()
	rng := NewRand(77)
	framesPerClass := make([]int, cfg.MaxFramesPerClass)
	firstSize := make([]int, 10)
	colour := make([]int, cfg.ColorMax-cfg.ColorMin+1)
	angle := make([]int, 12)
	dropped, placed := 0, 0
	for range draws {
		g, err := GenerateCounting(Source{Frames: frames, FPS: 1}, cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		perFrame := checkCountingSample(t, g, cfg, w, h)
		m := g.Meta.Counting
		for _, fr := range m.FramesPerClass {
			framesPerClass[len(fr)-1]++
		}
		for _, ps := range perFrame {
			// The first instance of a frame is never shrunk: its size is the raw draw.
			u := (ps[0].Size/float64(min(w, h)) - cfg.SizeMin) / (cfg.SizeMax - cfg.SizeMin)
			firstSize[int(u*10)]++
		}
		for _, p := range m.Instances {
			for _, c := range p.RGB {
				colour[c-cfg.ColorMin]++
			}
			angle[int(p.AngleDeg/30)]++
		}
		dropped += m.Dropped
		placed += len(m.Instances)
	}
	checkUniform(t, "frames per class", framesPerClass)
	checkUniform(t, "first instance size", firstSize)
	checkUniform(t, "colour channel", colour)
	checkUniform(t, "rotation", angle)
	t.Logf("32x32 frames: %d instances placed, %d dropped", placed, dropped)
}

func TestCountingInstancesPerFrameUniformWhenRoomy(t *testing.T) {
	// On a roomy frame no instance is dropped and the per-frame count is
	// uniform on 1..I.
	const w, h, draws = 160, 160, 2000
	frames := tinyFrames(48, w, h, 4)
	cfg := DefaultCountingConfig()
	cfg.SizeMin, cfg.SizeMax = 0.05, 0.1
	rng := NewRand(5)
	per := make([]int, cfg.MaxInstances)
	for range draws {
		g, err := GenerateCounting(Source{Frames: frames, FPS: 1}, cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		if g.Meta.Counting.Dropped != 0 {
			t.Fatalf("dropped %d on a roomy frame", g.Meta.Counting.Dropped)
		}
		for _, ps := range checkCountingSample(t, g, cfg, w, h) {
			per[len(ps)-1]++
		}
	}
	checkUniform(t, "instances per frame", per)
}

// TestCountingShapesDoNotShareAPixel renders every instance alone and checks
// that no pixel is touched by two instances and every instance is visible:
// the answer equals what can be seen.
func TestCountingShapesDoNotShareAPixel(t *testing.T) {
	const w, h = 64, 48
	frames := make([]*frame.Frame, 48)
	for i := range frames {
		frames[i] = frame.New(w, h)
	}
	cfg := DefaultCountingConfig()
	cfg.MaxFramesPerClass, cfg.MaxInstances = 4, 4
	rng := NewRand(8)
	for range 300 {
		g, err := GenerateCounting(Source{Frames: frames, FPS: 1}, cfg, rng)
		if err != nil {
			t.Fatal(err)
		}
		for fi, ps := range checkCountingSample(t, g, cfg, w, h) {
			owner := make([]int, w*h)
			for k, p := range ps {
				alone := frame.New(w, h)
				shapes.Draw(alone, instanceOf(t, p))
				touched := 0
				for i := 0; i < w*h; i++ {
					if alone.Pix[3*i] == 0 && alone.Pix[3*i+1] == 0 && alone.Pix[3*i+2] == 0 {
						continue
					}
					touched++
					if owner[i] != 0 {
						t.Fatalf("frame %d: instances %d and %d share pixel %d", fi, owner[i]-1, k, i)
					}
					owner[i] = k + 1
				}
				if touched == 0 {
					t.Fatalf("frame %d: instance %d is invisible", fi, k)
				}
			}
			// The output frame is the source with exactly these shapes drawn.
			want := frames[fi].Clone()
			for _, p := range ps {
				shapes.Draw(want, instanceOf(t, p))
			}
			if !want.Equal(g.Frames[fi]) {
				t.Fatalf("frame %d is not the source with its shapes drawn", fi)
			}
		}
		for i, f := range g.Frames {
			if !slices.Contains(allFrames(g.Meta.Counting), i) && !f.Equal(frames[i]) {
				t.Fatalf("frame %d without shapes changed", i)
			}
		}
	}
	for _, f := range frames {
		for _, b := range f.Pix {
			if b != 0 {
				t.Fatal("source frames were modified")
			}
		}
	}
}

func allFrames(m *CountingMeta) []int {
	var out []int
	for _, fr := range m.FramesPerClass {
		out = append(out, fr...)
	}
	return out
}

func TestCountingConfigErrorsNameTheField(t *testing.T) {
	cfg := DefaultCountingConfig()
	cfg.SizeMax = 0.1
	cfg.ColorMax = 300
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "counting.size_max") || !strings.Contains(err.Error(), "counting.color_max") {
		t.Fatalf("got %v", err)
	}
	cfg = DefaultCountingConfig()
	cfg.MarginFactor = 2
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "counting.margin_factor") {
		t.Fatalf("got %v", err)
	}
}

func TestCountingFewerClasses(t *testing.T) {
	cfg := DefaultCountingConfig()
	cfg.Classes = 2
	g, err := GenerateCounting(Source{Frames: tinyFrames(48, 40, 30, 1), FPS: 1}, cfg, NewRand(3))
	if err != nil {
		t.Fatal(err)
	}
	if g.Meta.Counting.Counts[2] != 0 || !strings.HasSuffix(g.Answer, ",0") {
		t.Fatalf("triangles drawn with 2 classes: %s", g.Answer)
	}
}
