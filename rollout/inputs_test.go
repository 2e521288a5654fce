package rollout

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
)

// charTok is a toy tokenizer: one id per byte, specials by name.
type charTok struct{ specials map[string]int }

func (c charTok) Encode(s string) []int {
	var out []int
	for _, b := range []byte(s) {
		out = append(out, 100+int(b))
	}
	return out
}

func (c charTok) TokenID(s string) (int, bool) { id, ok := c.specials[s]; return id, ok }

func TestAppendVideoQwen3Slices(t *testing.T) {
	c := model.Tiny(512, testTokens())
	g := model.Grid{GT: 3, GH: 4, GW: 4}
	tok := charTok{}
	// Qwen2-VL: one run of GT*GH*GW/4 pads.
	ids := appendVideo(nil, tok, c, g, 6, 3, 7, 4, 2)
	if len(ids) != 2+12 || ids[0] != 3 || ids[len(ids)-1] != 4 {
		t.Fatalf("qwen2-vl run %v", ids)
	}
	// Qwen3-VL: per slice a timestamp, then a run of GH*GW/4 pads.
	c.ModelType = model.ModelQwen3VL
	ids = appendVideo(nil, tok, c, g, 6, 3, 7, 4, 2)
	var text strings.Builder
	runs := 0
	for i, id := range ids {
		switch {
		case id >= 100:
			text.WriteByte(byte(id - 100))
		case id == 3:
			runs++
			if n := slices.Index(ids[i:], 4); n != 5 {
				t.Fatalf("slice run of %d pads", n-1)
			}
		}
	}
	// Frames 0,1 -> 0.25 s; 2,3 -> 1.25 s; 4,5 -> 2.25 s at 2 fps.
	if runs != 3 || text.String() != "<0.2 seconds><1.2 seconds><2.2 seconds>" {
		t.Fatalf("runs %d, text %q", runs, text.String())
	}
}

func TestLayoutQwen3(t *testing.T) {
	c := model.Tiny(512, testTokens())
	grids := []model.Grid{{GT: 2, GH: 2, GW: 2}, {GT: 3, GH: 2, GW: 2}}
	per := [][]int{{1}, {0, 1}}
	vs, items := Layout(c, grids, per)
	if len(vs.Grids) != 2 || !slices.Equal(items[1], []int{0, 1}) {
		t.Fatalf("qwen2-vl layout %+v %v", vs, items)
	}
	c.ModelType = model.ModelQwen3VL
	vs, items = Layout(c, grids, per)
	if len(vs.Grids) != 5 || !slices.Equal(items[0], []int{2, 3, 4}) || !slices.Equal(items[1], []int{0, 1, 2, 3, 4}) {
		t.Fatalf("qwen3-vl layout %+v %v", vs.Grids, items)
	}
	// Slices keep the vision token offsets of the whole videos.
	if vs.Offset[2] != 2 || vs.Tokens != 5 {
		t.Fatalf("offsets %v tokens %d", vs.Offset, vs.Tokens)
	}
}

// TestQwen3TokenizerDrivesPrompt: the real Qwen3 tokenizer renders a task
// prompt for a Qwen3-VL config: the chat template's specials, one
// timestamped vision item per temporal slice with the model's token ids.
func TestQwen3TokenizerDrivesPrompt(t *testing.T) {
	tok, err := tokenizer.Load("../third_party/tokenizer-qwen3/package/models/tokenizer.json")
	if err != nil {
		t.Skipf("Qwen3 tokenizer files not installed (run bash scripts/setup.sh): %v", err)
	}
	c := model.Tiny(151936, model.TinyTokens{EndOfText: 151643, ImStart: 151644, ImEnd: 151645, VisionStart: 151652, VisionEnd: 151653, VisionPad: 151654, ImagePad: 151655, VideoPad: 151656})
	c.ModelType = model.ModelQwen3VL
	frames := make([]*frame.Frame, 4)
	for i := range frames {
		frames[i] = frame.New(56, 56)
	}
	msgs := tasks.BuildPrompt(tasks.CountingQuestion(), 1, false)
	p, err := BuildPrompt(tok, c, msgs, [][]*frame.Frame{frames}, VideoOptions{MinPixels: 784, MaxPixels: 3136, FPS: 2})
	if err != nil {
		t.Fatal(err)
	}
	count := func(id int) int {
		n := 0
		for _, x := range p.IDs {
			if x == id {
				n++
			}
		}
		return n
	}
	// 4 frames of 56x56 (patch 14): 2 temporal slices of 4x4 patches = 4 merged tokens each.
	if count(151652) != 2 || count(151653) != 2 || count(151656) != 8 {
		t.Fatalf("vision runs: start %d end %d pads %d", count(151652), count(151653), count(151656))
	}
	if count(151644) != 3 || count(151645) != 2 {
		t.Fatalf("chat specials: im_start %d im_end %d", count(151644), count(151645))
	}
	text := tok.Decode(p.IDs)
	for _, want := range []string{"<|im_start|>system\n", "<|im_start|>user\n<0.2 seconds><|vision_start|>" + strings.Repeat("<|video_pad|>", 4) + "<|vision_end|><1.2 seconds><|vision_start|>", "<|im_start|>assistant\n"} {
		if !strings.Contains(text, want) {
			t.Fatalf("prompt lacks %q:\n%s", want, text)
		}
	}
}

// processorTimes is the Qwen3-VL processor's timestamp rule written out
// step by step over lists: pad the frame indices with the last one to a
// multiple of tp, divide by fps, average each group's first and last.
func processorTimes(n, tp int, fps float64) []string {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for len(idx)%tp != 0 {
		idx = append(idx, idx[len(idx)-1])
	}
	ts := make([]float64, len(idx))
	for i, k := range idx {
		ts[i] = float64(k) / fps
	}
	var out []string
	for i := 0; i < len(ts); i += tp {
		out = append(out, fmt.Sprintf("<%.1f seconds>", (ts[i]+ts[i+tp-1])/2))
	}
	return out
}

// TestQwen3TimestampsMatchProcessor: the prompt's slice timestamps equal
// the reference processor's for every frame count (odd counts pad with the
// last frame) and many sampling rates, including the .x5 rounding
// boundaries.
func TestQwen3TimestampsMatchProcessor(t *testing.T) {
	// The cases of issue 11.
	if got := fmt.Sprintf("%.1f", SliceTime(2, 5, 2, 2)); got != "2.0" {
		t.Errorf("5 frames at 2 fps, last slice %s, want 2.0", got)
	}
	if got := fmt.Sprintf("%.1f", SliceTime(20, 42, 2, 30.0/7)); got != "9.4" {
		t.Errorf("42 frames at 30/7 fps, slice 20: %s, want 9.4", got)
	}
	rates := []float64{2, 1, 0.5, 30.0 / 7, 24000.0 / 1001, 25, 48.0 / 7.3, 48.0 / 13.2, 3, 10.0 / 3, 0.7}
	for _, tp := range []int{1, 2, 3} {
		for n := 1; n <= 97; n++ {
			for _, fps := range rates {
				want := processorTimes(n, tp, fps)
				gt := (n + tp - 1) / tp
				if len(want) != gt {
					t.Fatalf("n %d tp %d: processor has %d slices, grid %d", n, tp, len(want), gt)
				}
				for s := range gt {
					if got := fmt.Sprintf("<%.1f seconds>", SliceTime(s, n, tp, fps)); got != want[s] {
						t.Errorf("n %d tp %d fps %g slice %d: %s, processor %s", n, tp, fps, s, got, want[s])
					}
				}
			}
		}
	}
	// Through the prompt: 5 frames at 2 fps are 3 slices, the last one
	// frame 4 twice.
	c := model.Tiny(512, testTokens())
	c.ModelType = model.ModelQwen3VL
	ids := appendVideo(nil, charTok{}, c, model.Grid{GT: 3, GH: 2, GW: 2}, 5, 3, 7, 4, 2)
	var text strings.Builder
	for _, id := range ids {
		if id >= 100 {
			text.WriteByte(byte(id - 100))
		}
	}
	if text.String() != "<0.2 seconds><1.2 seconds><2.0 seconds>" {
		t.Fatalf("prompt timestamps %q", text.String())
	}
}
