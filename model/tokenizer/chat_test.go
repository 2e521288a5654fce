package tokenizer

import (
	"strings"
	"testing"
)

func TestChatTemplate(t *testing.T) {
	msgs := []Message{{"system", "Be brief."}, {"user", "<video>\nHow many?"}, {"assistant", "3,0,2"}}
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<video>\nHow many?<|im_end|>\n" +
		"<|im_start|>assistant\n3,0,2<|im_end|>\n"
	if got := ChatTemplate(msgs, false); got != want {
		t.Errorf("ChatTemplate = %q, want %q", got, want)
	}
	if got := ChatTemplate(msgs[:2], true); !strings.HasSuffix(got, "How many?<|im_end|>\n<|im_start|>assistant\n") {
		t.Errorf("generation prompt missing: %q", got)
	}
	if got := ChatTemplate(nil, true); got != "<|im_start|>assistant\n" {
		t.Errorf("empty chat = %q", got)
	}
}

func TestExpandVideos(t *testing.T) {
	got, err := ExpandVideos("Clip 1: <video>\nClip 2: <video>\nOrder?", "<video>", []int{2, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := "Clip 1: <|vision_start|><|video_pad|><|video_pad|><|vision_end|>\nClip 2: <|vision_start|><|video_pad|><|vision_end|>\nOrder?"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	tk := tinyT(t)
	ids := tk.Encode(got)
	pad, _ := tk.TokenID(VideoPad)
	n := 0
	for _, id := range ids {
		if id == pad {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d video pad ids, want 3", n)
	}
	for _, c := range []struct {
		text string
		pads []int
	}{
		{"<video>", nil},
		{"<video><video>", []int{1}},
		{"none", []int{1}},
		{"<video>", []int{0}},
	} {
		if _, err := ExpandVideos(c.text, "<video>", c.pads); err == nil {
			t.Errorf("ExpandVideos(%q, %v) gave no error", c.text, c.pads)
		}
	}
	if _, err := ExpandVideos("x", "", nil); err == nil {
		t.Error("empty placeholder accepted")
	}
}
