package rollout

import (
	"fmt"
	"strings"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
)

// Tokenizer is what prompt building needs of a tokenizer.
type Tokenizer interface {
	Encode(text string) []int
	TokenID(tok string) (int, bool)
}

// Qwen special tokens around a video's pad run.
const (
	VisionStart = "<|vision_start|>"
	VisionEnd   = "<|vision_end|>"
	VideoPad    = "<|video_pad|>"
)

// VideoOptions are the video preprocessing settings of prompts.
type VideoOptions struct {
	// MinPixels and MaxPixels bound each frame's area after resizing (the
	// Qwen processor's smart resize to multiples of patch x merge).
	MinPixels, MaxPixels int
	// FPS is the rate the frames were sampled at, for Qwen3-VL's
	// per-slice timestamps (0: 2 frames per second).
	FPS float64
}

// Video resizes frames to the pixel budget (aspect kept, sides multiples of
// patch x merge) and cuts them into patches.
func Video(c model.Config, frames []*frame.Frame, opt VideoOptions) (model.VisionInput, error) {
	if len(frames) == 0 {
		return model.VisionInput{}, fmt.Errorf("video: no frames")
	}
	w0, h0 := frames[0].W, frames[0].H
	factor := c.VisionConfig.PatchSize * c.VisionConfig.SpatialMergeSize
	h, w, err := model.SmartResize(h0, w0, factor, opt.MinPixels, opt.MaxPixels)
	if err != nil {
		return model.VisionInput{}, fmt.Errorf("video: %w", err)
	}
	pix := make([][]byte, len(frames))
	for i, f := range frames {
		if f.W != w0 || f.H != h0 {
			return model.VisionInput{}, fmt.Errorf("video: frame %d is %dx%d, frame 0 %dx%d", i, f.W, f.H, w0, h0)
		}
		if f.W != w || f.H != h {
			f = frame.Resize(f, w, h)
		}
		pix[i] = f.Pix
	}
	return c.Patchify(pix, w, h)
}

// BuildPrompt renders chat messages with the Qwen chat template (with the
// assistant generation prompt), replaces each tasks.VideoPlaceholder, in
// order, with <|vision_start|>, one <|video_pad|> per merged vision token of
// the matching video and <|vision_end|>, and tokenises the result.
func BuildPrompt(tok Tokenizer, c model.Config, msgs []tasks.Message, videos [][]*frame.Frame, opt VideoOptions) (Prompt, error) {
	tm := make([]tokenizer.Message, len(msgs))
	for i, m := range msgs {
		tm[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
	}
	parts := strings.Split(tokenizer.ChatTemplate(tm, true), tasks.VideoPlaceholder)
	if len(parts)-1 != len(videos) {
		return Prompt{}, fmt.Errorf("prompt: %d video placeholders, %d videos", len(parts)-1, len(videos))
	}
	vs, ok1 := tok.TokenID(VisionStart)
	ve, ok2 := tok.TokenID(VisionEnd)
	vp, ok3 := tok.TokenID(VideoPad)
	if !ok1 || !ok2 || !ok3 {
		return Prompt{}, fmt.Errorf("prompt: the tokenizer lacks %s, %s or %s", VisionStart, VideoPad, VisionEnd)
	}
	if vp != c.VideoTokenID {
		return Prompt{}, fmt.Errorf("prompt: tokenizer's %s is %d, the model's video_token_id %d", VideoPad, vp, c.VideoTokenID)
	}
	p := Prompt{IDs: tok.Encode(parts[0])}
	for i, frames := range videos {
		vi, err := Video(c, frames, opt)
		if err != nil {
			return Prompt{}, fmt.Errorf("prompt: video %d: %w", i+1, err)
		}
		if i > 0 && (vi.Grid.GH != p.Videos[0].Grid.GH || vi.Grid.GW != p.Videos[0].Grid.GW) {
			return Prompt{}, fmt.Errorf("prompt: video %d has another frame size than video 1", i+1)
		}
		p.Videos = append(p.Videos, vi)
		p.IDs = appendVideo(p.IDs, tok, c, vi.Grid, len(frames), vs, vp, ve, opt.FPS)
		p.IDs = append(p.IDs, tok.Encode(parts[i+1])...)
	}
	return p, nil
}

// GridKey identifies the frame size of a prompt's videos: prompts with the
// same key can share one vision batch in a training step.
func (p Prompt) GridKey() [2]int {
	if len(p.Videos) == 0 {
		return [2]int{}
	}
	return [2]int{p.Videos[0].Grid.GH, p.Videos[0].Grid.GW}
}

// appendVideo appends a video of n frames with grid g: one
// <|vision_start|> pads <|vision_end|> run for Qwen2-VL and Qwen2.5-VL; for
// Qwen3-VL one run per temporal slice, each after a "<t seconds>"
// timestamp (SliceTime, from the start of this video).
func appendVideo(ids []int, tok Tokenizer, c model.Config, g model.Grid, n, vs, vp, ve int, fps float64) []int {
	m := c.VisionConfig.SpatialMergeSize
	run := func(ids []int, k int) []int {
		ids = append(ids, vs)
		for range k {
			ids = append(ids, vp)
		}
		return append(ids, ve)
	}
	if c.ModelType != model.ModelQwen3VL {
		return run(ids, g.Tokens(m))
	}
	if fps <= 0 {
		fps = 2
	}
	tp := c.VisionConfig.TemporalPatchSize
	for t := range g.GT {
		ids = append(ids, tok.Encode(fmt.Sprintf("<%.1f seconds>", SliceTime(t, n, tp, fps)))...)
		ids = run(ids, g.GH*g.GW/(m*m))
	}
	return ids
}

// SliceTime is the time in seconds of temporal slice t of a video of n
// frames sampled at fps, cut into slices of tp frames, as the Qwen3-VL
// processor computes it: frame i is at i / fps, a short last slice is
// padded with copies of the last frame, and a slice's time is the mean of
// its first and last frames' times. The processor prints it with one
// decimal ("<%.1f seconds>").
func SliceTime(t, n, tp int, fps float64) float64 {
	first := t * tp
	last := min(first+tp-1, n-1)
	return (float64(first)/fps + float64(last)/fps) / 2
}

// Layout lays out the vision tokens of a batch whose videos have grids
// (concatenated in order; perPrompt lists each prompt's videos by index)
// for the decoder: the model.Videos of NewPromptBatch / NewSeqBatch and
// each prompt's vision items in the order of its pad runs. For Qwen3-VL
// every temporal slice is its own item (model.Config.SliceVideos).
func Layout(c model.Config, grids []model.Grid, perPrompt [][]int) (model.Videos, [][]int) {
	vs := c.NewVideos(grids)
	if c.ModelType != model.ModelQwen3VL {
		return vs, perPrompt
	}
	first := make([]int, len(grids)) // index of each video's first slice
	n := 0
	for i, g := range grids {
		first[i] = n
		n += g.GT
	}
	items := make([][]int, len(perPrompt))
	for i, vids := range perPrompt {
		for _, v := range vids {
			for t := range grids[v].GT {
				items[i] = append(items[i], first[v]+t)
			}
		}
	}
	return c.SliceVideos(vs), items
}
