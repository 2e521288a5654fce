package tokenizer

import (
	"fmt"
	"strings"
)

// The special tokens of the Qwen2-VL family (and of the tiny tokenizer).
const (
	EndOfText   = "<|endoftext|>"
	ImStart     = "<|im_start|>"
	ImEnd       = "<|im_end|>"
	VisionStart = "<|vision_start|>"
	VisionEnd   = "<|vision_end|>"
	VisionPad   = "<|vision_pad|>"
	ImagePad    = "<|image_pad|>"
	VideoPad    = "<|video_pad|>"
)

// QwenSpecials lists the special tokens of the tiny tokenizer, in id order.
func QwenSpecials() []string {
	return []string{EndOfText, ImStart, ImEnd, VisionStart, VisionEnd, VisionPad, ImagePad, VideoPad}
}

// Message is one chat turn.
type Message struct {
	// Role is "system", "user" or "assistant".
	Role string
	// Content is the turn's text (video placeholders expanded or not).
	Content string
}

// ChatTemplate renders msgs in the Qwen chat format,
// "<|im_start|>{role}\n{content}<|im_end|>\n" per message, followed by
// "<|im_start|>assistant\n" when addGenerationPrompt is set.
func ChatTemplate(msgs []Message, addGenerationPrompt bool) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(ImStart)
		b.WriteString(m.Role)
		b.WriteByte('\n')
		b.WriteString(m.Content)
		b.WriteString(ImEnd)
		b.WriteByte('\n')
	}
	if addGenerationPrompt {
		b.WriteString(ImStart)
		b.WriteString("assistant\n")
	}
	return b.String()
}

// VideoTokens returns the text a video input becomes in a Qwen2-VL prompt:
// <|vision_start|>, pads times <|video_pad|>, <|vision_end|>. pads is the
// number of merged patches of the video (grid_t*grid_h*grid_w/merge^2).
func VideoTokens(pads int) string {
	var b strings.Builder
	b.Grow(len(VisionStart) + pads*len(VideoPad) + len(VisionEnd))
	b.WriteString(VisionStart)
	for range pads {
		b.WriteString(VideoPad)
	}
	b.WriteString(VisionEnd)
	return b.String()
}

// ExpandVideos replaces the k-th occurrence of placeholder in text (e.g.
// tasks.VideoPlaceholder, "<video>") by VideoTokens(pads[k]). It is an
// error if the number of placeholders differs from len(pads) or a count is
// not positive.
func ExpandVideos(text, placeholder string, pads []int) (string, error) {
	if placeholder == "" {
		return "", fmt.Errorf("expanding videos: empty placeholder")
	}
	if n := strings.Count(text, placeholder); n != len(pads) {
		return "", fmt.Errorf("expanding videos: %d placeholders %q in the text, %d videos", n, placeholder, len(pads))
	}
	var b strings.Builder
	rest := text
	for k, p := range pads {
		if p <= 0 {
			return "", fmt.Errorf("expanding videos: video %d has %d pad tokens", k, p)
		}
		i := strings.Index(rest, placeholder)
		b.WriteString(rest[:i])
		b.WriteString(VideoTokens(p))
		rest = rest[i+len(placeholder):]
	}
	b.WriteString(rest)
	return b.String(), nil
}
