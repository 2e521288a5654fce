package rollout

import (
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
	ids := appendVideo(nil, tok, c, g, 3, 7, 4, 2)
	if len(ids) != 2+12 || ids[0] != 3 || ids[len(ids)-1] != 4 {
		t.Fatalf("qwen2-vl run %v", ids)
	}
	// Qwen3-VL: per slice a timestamp, then a run of GH*GW/4 pads.
	c.ModelType = model.ModelQwen3VL
	ids = appendVideo(nil, tok, c, g, 3, 7, 4, 2)
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
