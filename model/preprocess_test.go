package model

import (
	"math"
	"testing"
)

func testTokens() TinyTokens {
	return TinyTokens{EndOfText: 0, ImStart: 1, ImEnd: 2, VisionStart: 3, VisionEnd: 4, VisionPad: 5, ImagePad: 6, VideoPad: 7}
}

func TestSmartResize(t *testing.T) {
	cases := []struct {
		h, w, min, max, wantH, wantW int
	}{
		{480, 640, 3136, 1003520, 476, 644},
		{42, 70, 0, 0, 56, 56}, // 1.5 and 2.5 round half to even -> 2
		{14, 14, 0, 0, 28, 28}, // clamped to one factor
		{1000, 1000, 0, 28 * 28 * 4, 56, 56},
		{20, 30, 28 * 28 * 16, 0, 112, 140},
	}
	for _, c := range cases {
		h, w, err := SmartResize(c.h, c.w, 28, c.min, c.max)
		if err != nil {
			t.Fatal(err)
		}
		if h != c.wantH || w != c.wantW {
			t.Errorf("SmartResize(%d,%d,min %d,max %d) = %dx%d, want %dx%d", c.h, c.w, c.min, c.max, h, w, c.wantH, c.wantW)
		}
		if h%28 != 0 || w%28 != 0 {
			t.Errorf("not a multiple of 28: %dx%d", h, w)
		}
	}
	if _, _, err := SmartResize(1, 300, 28, 0, 0); err == nil {
		t.Error("extreme aspect ratio accepted")
	}
}

func TestRopeIndex(t *testing.T) {
	c := Tiny(16, testTokens())
	vp := c.VideoTokenID
	ids := []int{9, 9, 3, vp, vp, vp, vp, vp, vp, vp, vp, 4, 9}
	pos, next, err := c.RopeIndex(ids, nil, []Grid{{GT: 2, GH: 4, GW: 4}})
	if err != nil {
		t.Fatal(err)
	}
	want := [3][]int64{
		{0, 1, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 6},
		{0, 1, 2, 3, 3, 4, 4, 3, 3, 4, 4, 5, 6},
		{0, 1, 2, 3, 4, 3, 4, 3, 4, 3, 4, 5, 6},
	}
	for a := range want {
		for i := range want[a] {
			if pos[a][i] != want[a][i] {
				t.Fatalf("axis %d: got %v want %v", a, pos[a], want[a])
			}
		}
	}
	if next != 7 {
		t.Errorf("next = %d, want 7", next)
	}
	if _, _, err := c.RopeIndex(ids, nil, nil); err == nil {
		t.Error("missing grid accepted")
	}
	if _, _, err := c.RopeIndex(ids[:6], nil, []Grid{{GT: 2, GH: 4, GW: 4}}); err == nil {
		t.Error("short pad run accepted")
	}
}

func TestPatchifyLayout(t *testing.T) {
	c := Tiny(16, testTokens())
	const w, h = 56, 28
	frames := make([][]byte, 3) // odd: last frame repeated
	for f := range frames {
		frames[f] = make([]byte, 3*w*h)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				o := 3 * (y*w + x)
				frames[f][o] = byte(x)
				frames[f][o+1] = byte(y)
				frames[f][o+2] = byte(10 * f)
			}
		}
	}
	vi, err := c.Patchify(frames, w, h)
	if err != nil {
		t.Fatal(err)
	}
	if vi.Grid != (Grid{GT: 2, GH: 2, GW: 4}) {
		t.Fatalf("grid %+v", vi.Grid)
	}
	P := c.PatchDim()
	if len(vi.Patches) != 2*8*P {
		t.Fatalf("len %d", len(vi.Patches))
	}
	inv := func(v float32, ch int) int {
		return int(math.Round((float64(v)*clipStd[ch] + clipMean[ch]) * 255))
	}
	// Row order: t, block row, block col, in-block row, in-block col.
	// Slice 0, block (0,1), in-block (1,0) is patch row 1, col 2 -> x0=28, y0=14.
	row := 0*8 + (0*2+1)*4 + 1*2 + 0
	p := vi.Patches[row*P : (row+1)*P]
	// Column order C, t, y, x: red channel, t=0, y=3, x=5 -> x = 28+5.
	if got := inv(p[0*2*196+0*196+3*14+5], 0); got != 33 {
		t.Errorf("red = %d, want 33", got)
	}
	if got := inv(p[1*2*196+1*196+3*14+5], 1); got != 17 {
		t.Errorf("green = %d, want 17", got)
	}
	// Slice 1 second frame is the repeated frame 2.
	row = 8
	p = vi.Patches[row*P : (row+1)*P]
	if got := inv(p[2*2*196+1*196], 2); got != 20 {
		t.Errorf("blue of padded frame = %d, want 20", got)
	}
	if _, err := c.Patchify(frames, 50, 28); err == nil {
		t.Error("size not multiple of 28 accepted")
	}
}

func TestCausalBias(t *testing.T) {
	valid := [][]bool{{false, true, true}, {true, true, true}}
	b := CausalBias(valid, 3)
	at := func(r, i, j int) float64 { return b[(r*3+i)*3+j] }
	if at(0, 2, 0) != MaskedBias || at(0, 2, 1) != 0 || at(0, 1, 2) != MaskedBias || at(1, 2, 0) != 0 {
		t.Errorf("bias %v", b)
	}
	d := CausalBias(valid, 1) // decode: one query at the last position
	if len(d) != 6 || d[0] != MaskedBias || d[2] != 0 || d[3] != 0 {
		t.Errorf("decode bias %v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Tiny(64, testTokens())
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := c
	bad.RopeScaling.MropeSection = []int{4, 4, 4}
	if err := bad.Validate(); err == nil {
		t.Error("bad mrope section accepted")
	}
	bad = c
	bad.NumKeyValueHeads = 3
	if err := bad.Validate(); err == nil {
		t.Error("bad kv heads accepted")
	}
}

// A response that contains a video-pad id is text: it neither claims a grid
// nor gets vision embeddings spliced in.
func TestResponseVideoPadIsText(t *testing.T) {
	c := tinyTest()
	g := Grid{GT: 1, GH: 2, GW: 2}
	prompt := []int{9, c.VisionStartTokenID, c.VideoTokenID, c.VisionEndTokenID, 10}
	row := Row{Prompt: prompt, Response: []int{c.VideoTokenID, 11}, Videos: []int{0}}
	b, err := c.NewSeqBatch([]Row{row}, c.NewVideos([]Grid{g}), 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.VisMask[2] != 1 || b.VisMask[5] != 0 {
		t.Fatalf("vision mask %v", b.VisMask)
	}
	// Text positions continue one by one after the prompt.
	if b.Pos[5] != b.Pos[4]+1 || b.Pos[6] != b.Pos[5]+1 {
		t.Fatalf("positions %v", b.Pos[:b.L])
	}
}
