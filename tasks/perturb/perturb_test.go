package perturb

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/frame"
)

// makeClip returns n distinct frames of w x h with smooth gradients plus
// per-frame random texture; every value is in 20..235 so no channel is
// black (zoom_out's border test relies on it).
func makeClip(n, w, h int, seed uint64) []*frame.Frame {
	rng := rand.New(rand.NewPCG(seed, 99))
	out := make([]*frame.Frame, n)
	for i := range out {
		f := frame.New(w, h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				r := 20 + (x*150)/w + rng.IntN(40)
				g := 20 + (y*150)/h + rng.IntN(40)
				b := 20 + ((x+y+7*i)*13)%150 + rng.IntN(40)
				f.Set(x, y, uint8(r), uint8(g), uint8(b))
			}
		}
		out[i] = f
	}
	return out
}

// constClip returns n frames of w x h filled with one colour.
func constClip(n, w, h int, r, g, b uint8) []*frame.Frame {
	out := make([]*frame.Frame, n)
	for i := range out {
		f := frame.New(w, h)
		for p := 0; p < len(f.Pix); p += 3 {
			f.Pix[p], f.Pix[p+1], f.Pix[p+2] = r, g, b
		}
		out[i] = f
	}
	return out
}

// hashFrames hashes sizes and bytes of all frames.
func hashFrames(fs []*frame.Frame) [32]byte {
	h := sha256.New()
	for _, f := range fs {
		fmt.Fprintf(h, "%dx%d;", f.W, f.H)
		h.Write(f.Pix)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func mustApply(t *testing.T, k Kind, in Input, seed uint64) ([]*frame.Frame, Params) {
	t.Helper()
	out, p, err := Apply(k, in, newRNG(seed))
	if err != nil {
		t.Fatalf("Apply(%s): %v", k, err)
	}
	if len(out) != len(in.Frames) {
		t.Fatalf("Apply(%s): %d frames, want %d", k, len(out), len(in.Frames))
	}
	return out, p
}

// standardInput is a 14-frame 32x24 clip (not square, so rotations show)
// with a segment [3, 11) and a donor video of another size.
func standardInput() Input {
	return Input{
		Frames: makeClip(14, 32, 24, 1),
		Start:  3, Length: 8,
		Donor: makeClip(12, 40, 30, 2),
	}
}

func TestEveryKindSegmentOnlyNoMutationDeterministic(t *testing.T) {
	for _, k := range All() {
		t.Run(string(k), func(t *testing.T) {
			in := standardInput()
			before := hashFrames(in.Frames)
			donorBefore := hashFrames(in.Donor)
			orig := make([]*frame.Frame, len(in.Frames))
			for i, f := range in.Frames {
				orig[i] = f.Clone()
			}
			out, p := mustApply(t, k, in, 7)
			changed := false
			for i, f := range out {
				if i < in.Start || i >= in.Start+in.Length {
					if !f.Equal(orig[i]) {
						t.Errorf("frame %d outside the segment changed", i)
					}
					continue
				}
				if f == in.Frames[i] {
					t.Errorf("frame %d inside the segment is the input pointer, want a new frame", i)
				}
				if err := f.Validate(); err != nil {
					t.Errorf("frame %d: %v", i, err)
				}
				if !f.Equal(orig[i]) {
					changed = true
				}
			}
			if !changed {
				t.Errorf("segment unchanged")
			}
			if hashFrames(in.Frames) != before || hashFrames(in.Donor) != donorBefore {
				t.Fatalf("input frames were mutated")
			}
			// Writing into the new frames must not reach the input.
			for i := in.Start; i < in.Start+in.Length; i++ {
				for j := range out[i].Pix {
					out[i].Pix[j] ^= 0xff
				}
			}
			if hashFrames(in.Frames) != before || hashFrames(in.Donor) != donorBefore {
				t.Fatalf("output frames share memory with the input")
			}
			// Determinism: same seed, same bytes and parameters.
			a, pa := mustApply(t, k, in, 11)
			b, pb := mustApply(t, k, in, 11)
			if hashFrames(a) != hashFrames(b) {
				t.Errorf("same seed gave different frames")
			}
			if !reflect.DeepEqual(pa, pb) {
				t.Errorf("same seed gave different params %v vs %v", pa, pb)
			}
			if p == nil {
				t.Errorf("nil params")
			}
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("params not JSON-serialisable: %v", err)
			}
		})
	}
}

func TestRandomKindsDependOnSeed(t *testing.T) {
	for _, k := range []Kind{Noise, ZoomIn, ZoomOut, Shuffle, Stutter, Swap} {
		in := standardInput()
		seen := map[string]bool{}
		for seed := uint64(0); seed < 8; seed++ {
			_, p := mustApply(t, k, in, seed)
			seen[fmt.Sprint(p)] = true
		}
		if len(seen) < 2 {
			t.Errorf("%s: 8 seeds gave one parameter set", k)
		}
	}
}

func TestInvolutions(t *testing.T) {
	for _, k := range []Kind{Invert, Rotate180, Mirror, ChannelSwap} {
		in := standardInput()
		once, _ := mustApply(t, k, in, 1)
		twice, _ := mustApply(t, k, Input{Frames: once, Start: in.Start, Length: in.Length}, 2)
		if hashFrames(twice) != hashFrames(in.Frames) {
			t.Errorf("%s twice is not the identity", k)
		}
	}
}

func TestRotate90Then270(t *testing.T) {
	in := standardInput()
	r90, _ := mustApply(t, Rotate90, in, 1)
	for i := in.Start; i < in.Start+in.Length; i++ {
		f, g := in.Frames[i], r90[i]
		if g.W != f.H || g.H != f.W {
			t.Fatalf("rotate90 frame %d is %dx%d, want %dx%d", i, g.W, g.H, f.H, f.W)
		}
		// Clockwise: top-left goes to top-right, bottom-left to top-left.
		if r, gg, b := f.At(0, 0); !eq3(g, g.W-1, 0, r, gg, b) {
			t.Errorf("rotate90: top-left pixel not at top-right")
		}
		if r, gg, b := f.At(0, f.H-1); !eq3(g, 0, 0, r, gg, b) {
			t.Errorf("rotate90: bottom-left pixel not at top-left")
		}
	}
	r270, _ := mustApply(t, Rotate270, in, 1)
	f, g := in.Frames[in.Start], r270[in.Start]
	if r, gg, b := f.At(0, 0); !eq3(g, 0, g.H-1, r, gg, b) {
		t.Errorf("rotate270: top-left pixel not at bottom-left")
	}
	back, _ := mustApply(t, Rotate270, Input{Frames: r90, Start: in.Start, Length: in.Length}, 2)
	if hashFrames(back) != hashFrames(in.Frames) {
		t.Errorf("rotate90 then rotate270 is not the identity")
	}
}

func eq3(f *frame.Frame, x, y int, r, g, b uint8) bool {
	r2, g2, b2 := f.At(x, y)
	return r == r2 && g == g2 && b == b2
}

func TestChannelSwapAndMirrorExact(t *testing.T) {
	in := standardInput()
	cs, _ := mustApply(t, ChannelSwap, in, 1)
	mi, _ := mustApply(t, Mirror, in, 1)
	for i := in.Start; i < in.Start+in.Length; i++ {
		f := in.Frames[i]
		for y := 0; y < f.H; y++ {
			for x := 0; x < f.W; x++ {
				r, g, b := f.At(x, y)
				if !eq3(cs[i], x, y, b, g, r) {
					t.Fatalf("channel_swap frame %d pixel (%d,%d) wrong", i, x, y)
				}
				if !eq3(mi[i], f.W-1-x, y, r, g, b) {
					t.Fatalf("mirror frame %d pixel (%d,%d) not at column %d", i, x, y, f.W-1-x)
				}
			}
		}
	}
}

func TestZoomOutBorderBlack(t *testing.T) {
	in := Input{Frames: makeClip(4, 64, 48, 3), Start: 1, Length: 2}
	for seed := uint64(0); seed < 5; seed++ {
		out, p := mustApply(t, ZoomOut, in, seed)
		scale := p["scale"].(float64)
		if scale < zoomOutMin || scale > zoomOutMax {
			t.Fatalf("scale %v outside [%v, %v]", scale, zoomOutMin, zoomOutMax)
		}
		box := p["inner"].([]int)
		wantW := int(math.Round(64 / scale))
		if box[2] != wantW || box[3] != int(math.Round(48/scale)) {
			t.Fatalf("inner box %v for scale %v", box, scale)
		}
		for i := 1; i < 3; i++ {
			f := out[i]
			for y := 0; y < f.H; y++ {
				for x := 0; x < f.W; x++ {
					r, g, b := f.At(x, y)
					in := x >= box[0] && x < box[0]+box[2] && y >= box[1] && y < box[1]+box[3]
					black := r == 0 && g == 0 && b == 0
					if in == black {
						t.Fatalf("pixel (%d,%d) inside=%v black=%v (box %v)", x, y, in, black, box)
					}
				}
			}
			// The border is there on every side.
			if box[0] < 1 || box[1] < 1 || box[0]+box[2] > f.W-1 || box[1]+box[3] > f.H-1 {
				t.Fatalf("inner box %v leaves no border on some side", box)
			}
		}
	}
}

func TestZoomInMagnifiesCentre(t *testing.T) {
	// Horizontal ramp R = x: after zooming by s around the centre, output
	// column x shows source column cx + (x+0.5)*cw/W - 0.5.
	w, h := 200, 100
	f := frame.New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			f.Set(x, y, uint8(x), uint8(y), 100)
		}
	}
	out, p := mustApply(t, ZoomIn, Input{Frames: []*frame.Frame{f}, Start: 0, Length: 1}, 5)
	scale := p["scale"].(float64)
	if scale < zoomInMin || scale > zoomInMax {
		t.Fatalf("scale %v outside range", scale)
	}
	box := p["crop"].([]int)
	g := out[0]
	if g.W != w || g.H != h {
		t.Fatalf("size %dx%d", g.W, g.H)
	}
	for _, x := range []int{5, 50, 100, 150, 195} {
		want := float64(box[0]) + (float64(x)+0.5)*float64(box[2])/float64(w) - 0.5
		r, _, _ := g.At(x, h/2)
		if math.Abs(float64(r)-want) > 1.01 {
			t.Errorf("column %d shows %d, want %.1f", x, r, want)
		}
	}
	if math.Abs(float64(box[2])-float64(w)/scale) > 1 {
		t.Errorf("crop width %d for scale %v", box[2], scale)
	}
}

// clippedNormalStd returns the standard deviation of
// clip(round(mu + N(0, sigma)), 0, 255) - mu by numeric integration.
func clippedNormalStd(mu, sigma float64) float64 {
	cdf := func(x float64) float64 { return 0.5 * math.Erfc(-(x-mu)/(sigma*math.Sqrt2)) }
	var m1, m2 float64
	for v := 0; v <= 255; v++ {
		lo, hi := float64(v)-0.5, float64(v)+0.5
		var pr float64
		switch v {
		case 0:
			pr = cdf(hi)
		case 255:
			pr = 1 - cdf(lo)
		default:
			pr = cdf(hi) - cdf(lo)
		}
		d := float64(v) - mu
		m1 += pr * d
		m2 += pr * d * d
	}
	return math.Sqrt(m2 - m1*m1)
}

func TestNoiseSigma(t *testing.T) {
	in := Input{Frames: constClip(3, 128, 128, 128, 128, 128), Start: 0, Length: 3}
	sigmas := map[float64]bool{}
	for seed := uint64(0); seed < 4; seed++ {
		out, p := mustApply(t, Noise, in, seed)
		sigma := p["sigma"].(float64)
		sigmas[sigma] = true
		if sigma < noiseSigmaMin || sigma > noiseSigmaMax {
			t.Fatalf("sigma %v outside [35, 70]", sigma)
		}
		var s1, s2, n float64
		for _, f := range out {
			for _, v := range f.Pix {
				d := float64(v) - 128
				s1 += d
				s2 += d * d
				n++
			}
		}
		mean := s1 / n
		std := math.Sqrt(s2/n - mean*mean)
		want := clippedNormalStd(128, sigma)
		if math.Abs(std-want) > 0.02*want {
			t.Errorf("seed %d: measured std %.2f, want %.2f (sigma %.2f)", seed, std, want, sigma)
		}
		if math.Abs(mean) > 1 {
			t.Errorf("seed %d: noise mean %.2f, want about 0", seed, mean)
		}
	}
	if len(sigmas) < 2 {
		t.Errorf("sigma does not vary with the seed")
	}
}

func TestSaturation(t *testing.T) {
	cases := []struct{ in, want [3]uint8 }{
		{[3]uint8{200, 100, 50}, [3]uint8{255, 76, 0}},
		{[3]uint8{120, 130, 140}, [3]uint8{112, 132, 152}},
		{[3]uint8{10, 200, 30}, [3]uint8{0, 255, 0}},
		{[3]uint8{90, 90, 90}, [3]uint8{90, 90, 90}},
		{[3]uint8{0, 0, 0}, [3]uint8{0, 0, 0}},
		{[3]uint8{255, 255, 255}, [3]uint8{255, 255, 255}},
	}
	for _, c := range cases {
		in := Input{Frames: constClip(1, 4, 3, c.in[0], c.in[1], c.in[2]), Start: 0, Length: 1}
		out, _, err := Apply(Saturation, in, newRNG(1))
		if err != nil {
			t.Fatal(err)
		}
		if !eq3(out[0], 2, 1, c.want[0], c.want[1], c.want[2]) {
			r, g, b := out[0].At(2, 1)
			t.Errorf("saturation %v = %v, want %v", c.in, [3]uint8{r, g, b}, c.want)
		}
	}
	// Every grey stays grey.
	for v := 0; v < 256; v++ {
		f := []*frame.Frame{constClip(1, 1, 1, uint8(v), uint8(v), uint8(v))[0]}
		out, _, _ := Apply(Saturation, Input{Frames: f, Start: 0, Length: 1}, newRNG(1))
		if !eq3(out[0], 0, 0, uint8(v), uint8(v), uint8(v)) {
			t.Fatalf("grey %d changed under saturation", v)
		}
	}
}

func TestGrayscale(t *testing.T) {
	in := standardInput()
	out, _ := mustApply(t, Grayscale, in, 1)
	for i := in.Start; i < in.Start+in.Length; i++ {
		for p := 0; p < len(out[i].Pix); p += 3 {
			if out[i].Pix[p] != out[i].Pix[p+1] || out[i].Pix[p] != out[i].Pix[p+2] {
				t.Fatalf("frame %d: R, G, B differ", i)
			}
		}
	}
	for _, c := range []struct {
		in   [3]uint8
		want uint8
	}{
		{[3]uint8{255, 0, 0}, 76}, {[3]uint8{0, 255, 0}, 150}, {[3]uint8{0, 0, 255}, 29},
		{[3]uint8{255, 255, 255}, 255}, {[3]uint8{77, 77, 77}, 77},
	} {
		o, _, _ := Apply(Grayscale, Input{Frames: constClip(1, 2, 2, c.in[0], c.in[1], c.in[2]), Start: 0, Length: 1}, newRNG(1))
		if !eq3(o[0], 1, 1, c.want, c.want, c.want) {
			t.Errorf("grayscale %v, want %d", c.in, c.want)
		}
	}
}

func TestBlur(t *testing.T) {
	// A constant image stays constant.
	in := Input{Frames: constClip(2, 30, 20, 17, 128, 250), Start: 0, Length: 2}
	out, _ := mustApply(t, Blur, in, 1)
	if !out[0].Equal(in.Frames[0]) || !out[1].Equal(in.Frames[1]) {
		t.Errorf("blur changed a constant image")
	}
	// A one-pixel line spreads across into a Gaussian of variance sigma^2
	// (a line rather than a point keeps the tails above the rounding).
	for _, vertical := range []bool{true, false} {
		f := frame.New(41, 41)
		for i := 0; i < 41; i++ {
			if vertical {
				f.Set(20, i, 255, 255, 255)
			} else {
				f.Set(i, 20, 255, 255, 255)
			}
		}
		out, _ = mustApply(t, Blur, Input{Frames: []*frame.Frame{f}, Start: 0, Length: 1}, 1)
		var mass, v float64
		for d := -20; d <= 20; d++ {
			var r uint8
			if vertical {
				r, _, _ = out[0].At(20+d, 10)
			} else {
				r, _, _ = out[0].At(10, 20+d)
			}
			mass += float64(r)
			v += float64(r) * float64(d*d)
		}
		if math.Abs(mass-255) > 5 {
			t.Errorf("line mass %.1f after blur, want about 255", mass)
		}
		if s := v / mass; math.Abs(s-blurSigma*blurSigma) > 0.3 {
			t.Errorf("spread variance %.2f (vertical line %v), want about %v", s, vertical, blurSigma*blurSigma)
		}
	}
	// The mean of a textured image is kept and its variance drops.
	tex := makeClip(1, 64, 64, 5)
	out, _ = mustApply(t, Blur, Input{Frames: tex, Start: 0, Length: 1}, 1)
	m0, v0 := meanVar(tex[0].Pix)
	m1, v1 := meanVar(out[0].Pix)
	if math.Abs(m0-m1) > 0.5 {
		t.Errorf("blur moved the mean from %.2f to %.2f", m0, m1)
	}
	if v1 >= v0 {
		t.Errorf("blur did not lower the variance: %.1f -> %.1f", v0, v1)
	}
}

func meanVar(p []byte) (float64, float64) {
	var s1, s2 float64
	for _, v := range p {
		s1 += float64(v)
		s2 += float64(v) * float64(v)
	}
	n := float64(len(p))
	return s1 / n, s2/n - (s1/n)*(s1/n)
}

// frameIndex returns the index of the input frame equal to f, or -1.
func frameIndex(frames []*frame.Frame, f *frame.Frame) int {
	for i, g := range frames {
		if g.Equal(f) {
			return i
		}
	}
	return -1
}

func TestShuffle(t *testing.T) {
	frames := makeClip(20, 8, 8, 4)
	for seed := uint64(0); seed < 40; seed++ {
		length := 2 + int(seed%8)
		in := Input{Frames: frames, Start: 3, Length: length}
		out, p := mustApply(t, Shuffle, in, seed)
		perm := p["permutation"].([]int)
		if len(perm) != length {
			t.Fatalf("permutation %v for length %d", perm, length)
		}
		sorted := slices.Clone(perm)
		slices.Sort(sorted)
		identity := true
		for i, v := range sorted {
			if v != i {
				t.Fatalf("%v is not a permutation", perm)
			}
			if perm[i] != i {
				identity = false
			}
		}
		if identity {
			t.Fatalf("identity permutation for length %d", length)
		}
		var got []int
		for i := 0; i < length; i++ {
			j := frameIndex(frames, out[3+i])
			if j != 3+perm[i] {
				t.Fatalf("position %d shows frame %d, want %d", i, j, 3+perm[i])
			}
			got = append(got, j)
		}
		slices.Sort(got)
		for i, v := range got {
			if v != 3+i {
				t.Fatalf("segment frames %v are not the original segment", got)
			}
		}
	}
}

func TestStutter(t *testing.T) {
	frames := makeClip(24, 8, 8, 6)
	ks := map[int]bool{}
	for seed := uint64(0); seed < 60; seed++ {
		length := 3 + int(seed%14)
		in := Input{Frames: frames, Start: 2, Length: length}
		out, p := mustApply(t, Stutter, in, seed)
		holds := p["holds"].([]int)
		k := len(holds)
		ks[k] = true
		if k < 2 || k > 5 || k >= length {
			t.Fatalf("%d held frames for length %d", k, length)
		}
		distinct := map[int]int{}
		prev := -1
		for i := 0; i < length; i++ {
			j := frameIndex(frames, out[2+i])
			if j < 2 || j >= 2+length {
				t.Fatalf("position %d shows frame %d, outside the segment", i, j)
			}
			if j < prev {
				t.Fatalf("stutter goes backwards")
			}
			prev = j
			distinct[j]++
		}
		if len(distinct) != k {
			t.Fatalf("%d distinct frames shown, %d holds", len(distinct), k)
		}
		if frameIndex(frames, out[2]) != 2 {
			t.Fatalf("stutter does not start on the first segment frame")
		}
		for _, c := range distinct {
			if c < length/k || c > length/k+1 {
				t.Fatalf("hold counts %v uneven for length %d", distinct, length)
			}
		}
	}
	if len(ks) != 4 {
		t.Errorf("hold counts seen %v, want all of 2..5", ks)
	}
}

func TestSwap(t *testing.T) {
	in := standardInput()
	out, p := mustApply(t, Swap, in, 3)
	ds := p["donor_start"].(int)
	if ds < 0 || ds+in.Length > len(in.Donor) {
		t.Fatalf("donor start %d out of range", ds)
	}
	for i := 0; i < in.Length; i++ {
		want := frame.Resize(in.Donor[ds+i], 32, 24)
		if !out[in.Start+i].Equal(want) {
			t.Fatalf("segment frame %d is not donor frame %d resized", i, ds+i)
		}
	}
}

func TestSlowFast(t *testing.T) {
	frames := makeClip(16, 6, 6, 8)
	out, p := mustApply(t, Slow, Input{Frames: frames, Start: 4, Length: 6}, 1)
	for i := 0; i < 6; i++ {
		if j := frameIndex(frames, out[4+i]); j != 4+i/2 {
			t.Errorf("slow position %d shows frame %d, want %d", i, j, 4+i/2)
		}
	}
	if !reflect.DeepEqual(p["source"], []int{0, 0, 1, 1, 2, 2}) {
		t.Errorf("slow source %v", p["source"])
	}
	out, _ = mustApply(t, Fast, Input{Frames: frames, Start: 2, Length: 5}, 1)
	for i := 0; i < 5; i++ {
		if j := frameIndex(frames, out[2+i]); j != 2+2*i {
			t.Errorf("fast position %d shows frame %d, want %d", i, j, 2+2*i)
		}
	}
	// Clamped at the clip end: the last frames freeze on frame 15.
	out, p = mustApply(t, Fast, Input{Frames: frames, Start: 10, Length: 6}, 1)
	want := []int{10, 12, 14, 15, 15, 15}
	for i, w := range want {
		if j := frameIndex(frames, out[10+i]); j != w {
			t.Errorf("clamped fast position %d shows frame %d, want %d", i, j, w)
		}
	}
	if !reflect.DeepEqual(p["source"], []int{0, 2, 4, 5, 5, 5}) {
		t.Errorf("fast source %v", p["source"])
	}
	// A segment where clamping leaves nothing to speed up is refused.
	if _, _, err := Apply(Fast, Input{Frames: frames, Start: 14, Length: 2}, newRNG(1)); err == nil {
		t.Errorf("fast on the last two frames: no error")
	}
}

func TestValidation(t *testing.T) {
	frames := makeClip(10, 8, 8, 9)
	bad := frames[:5:5]
	bad = append(bad, &frame.Frame{W: 8, H: 8, Pix: make([]byte, 10)})
	cases := []struct {
		name string
		kind Kind
		in   Input
		want string
	}{
		{"unknown kind", Kind("sepia"), Input{Frames: frames, Start: 0, Length: 2}, "valid names"},
		{"no frames", Invert, Input{Start: 0, Length: 1}, "no frames"},
		{"zero length", Invert, Input{Frames: frames, Start: 0, Length: 0}, "length"},
		{"past end", Invert, Input{Frames: frames, Start: 5, Length: 6}, "outside"},
		{"negative start", Invert, Input{Frames: frames, Start: -1, Length: 2}, "outside"},
		{"nil frame", Invert, Input{Frames: []*frame.Frame{frames[0], nil}, Start: 0, Length: 1}, "nil"},
		{"bad frame", Invert, Input{Frames: bad, Start: 0, Length: 1}, "frame 5"},
		{"shuffle of one", Shuffle, Input{Frames: frames, Start: 0, Length: 1}, "at least 2"},
		{"stutter of two", Stutter, Input{Frames: frames, Start: 0, Length: 2}, "at least 3"},
		{"slow of one", Slow, Input{Frames: frames, Start: 0, Length: 1}, "at least 2"},
		{"swap without donor", Swap, Input{Frames: frames, Start: 0, Length: 3}, "donor"},
		{"swap short donor", Swap, Input{Frames: frames, Start: 0, Length: 3, Donor: frames[:2]}, "donor"},
	}
	for _, c := range cases {
		_, _, err := Apply(c.kind, c.in, newRNG(1))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, _, err := Apply(Invert, Input{Frames: frames, Start: 0, Length: 1}, nil); err == nil {
		t.Errorf("nil rng: no error")
	}
}

func TestKindLists(t *testing.T) {
	if n := len(Reference()); n != 15 {
		t.Errorf("Reference has %d kinds, want 15", n)
	}
	all := All()
	if len(all) != 17 {
		t.Errorf("All has %d kinds, want 17", len(all))
	}
	seen := map[Kind]bool{}
	for _, k := range all {
		if seen[k] {
			t.Errorf("%s listed twice", k)
		}
		seen[k] = true
		if Family(k) == "" || Describe(k) == "" {
			t.Errorf("%s has no family or description", k)
		}
		if got, err := Parse(string(k)); err != nil || got != k {
			t.Errorf("Parse(%q) = %v, %v", k, got, err)
		}
	}
	for _, k := range Training() {
		if !seen[k] {
			t.Errorf("training kind %s not in All", k)
		}
	}
	if Family(Kind("x")) != "" || Describe(Kind("x")) != "" {
		t.Errorf("unknown kind has a family or description")
	}
	if k, err := Parse("  Channel-Swap "); err != nil || k != ChannelSwap {
		t.Errorf("Parse is not lenient about case, spaces and dashes: %v %v", k, err)
	}
	if _, err := Parse("sepia"); err == nil || !strings.Contains(err.Error(), "channel_swap") {
		t.Errorf("Parse(sepia) error %v does not list the names", err)
	}
	fams := map[string]int{}
	for _, k := range Reference() {
		fams[Family(k)]++
	}
	if fams["fine-grained"] != 6 || fams["spatial"] != 6 || fams["temporal"] != 3 {
		t.Errorf("reference families %v", fams)
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range All() {
		f.Add(string(k))
	}
	f.Add("")
	f.Add("ROTATE-180")
	f.Add("zoom in")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if k != "" || !strings.Contains(err.Error(), "valid names") {
				t.Fatalf("Parse(%q) = %q, %v", s, k, err)
			}
			return
		}
		if !k.Valid() {
			t.Fatalf("Parse(%q) returned invalid kind %q", s, k)
		}
		if k2, err := Parse(string(k)); err != nil || k2 != k {
			t.Fatalf("Parse not idempotent for %q", s)
		}
	})
}

func BenchmarkApply(b *testing.B) {
	in := Input{Frames: makeClip(12, 256, 256, 1), Start: 0, Length: 12, Donor: makeClip(12, 320, 240, 2)}
	for _, k := range All() {
		b.Run(string(k), func(b *testing.B) {
			rng := newRNG(1)
			b.SetBytes(int64(12 * 3 * 256 * 256))
			for b.Loop() {
				if _, _, err := Apply(k, in, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
