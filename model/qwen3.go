package model

import (
	"fmt"
	"math"

	"github.com/videossr/videossr-go/model/onnx"
)

// Qwen3-VL differences from Qwen2-VL (see the facts sheet, sections 2-6):
// 16-pixel patches, a patch-embedding bias, a learned position grid
// interpolated bilinearly to the frame's patch grid, LayerNorm and a
// gelu_pytorch_tanh MLP (linear_fc1/linear_fc2) in the vision blocks, a
// LayerNorm merger (merger.norm), deepstack mergers whose features are added
// to the language model's hidden states at the vision positions after
// decoder layers 0, 1, ..., a Qwen3 language model (no q/k/v biases,
// RMSNorm of each query and key head, explicit head_dim), interleaved M-RoPE
// and rope_theta 5e6. The graph code lives in arch.go and branches on
// model_type.
//
// The vision graph returns the deepstack features next to the main tokens:
// vision_embeds is [N, (1+K)*hidden_size] (VisionEmbedWidth), and the
// prefill, log-prob and training graphs take it whole.
//
// A Qwen3-VL video is one vision item per temporal slice, each preceded by
// a "<t seconds>" timestamp: the prompt holds one <|vision_start|> pads
// <|vision_end|> run per slice, and each run is laid out (RopeIndex,
// NewSeqBatch, NewPromptBatch) as a single-slice video (SliceVideos).

// ImageNorm returns the per-channel mean and std the model's image
// processor normalises pixels (scaled to [0,1]) with: those of the folder's
// processor settings (c.Processor) when it had them, else the
// architecture's: CLIP's for Qwen2-VL and Qwen2.5-VL, 0.5 and 0.5 for
// Qwen3-VL.
func (c Config) ImageNorm() (mean, std [3]float64) {
	if c.Processor != nil {
		return c.Processor.Mean, c.Processor.Std
	}
	if c.ModelType == ModelQwen3VL {
		return [3]float64{0.5, 0.5, 0.5}, [3]float64{0.5, 0.5, 0.5}
	}
	return clipMean, clipStd
}

// linspace32 is torch.linspace(start, end, steps) in float32: the first
// half counts up from start, the second half down from end.
func linspace32(start, end float32, steps int) []float32 {
	out := make([]float32, steps)
	if steps == 1 {
		out[0] = start
		return out
	}
	step := (end - start) / float32(steps-1)
	half := steps / 2
	for i := range out {
		if i < half {
			out[i] = start + step*float32(i)
		} else {
			out[i] = end - step*float32(steps-i-1)
		}
	}
	return out
}

// PosEmbedTaps returns, for each patch of one temporal slice of grid g (in
// the processor's row order), the 4 rows of Qwen3-VL's learned position
// grid (side = sqrt(num_position_embeddings)) and their bilinear weights
// [S*4]: the grid is sampled at linspace(0, side-1, GH) x linspace(0,
// side-1, GW) (align-corners) with taps (floor, floor), (floor, ceil),
// (ceil, floor), (ceil, ceil), as transformers' fast_pos_embed_interpolate.
// Both are nil for other architectures.
func (c Config) PosEmbedTaps(g Grid) (index []int64, weight []float64) {
	if c.ModelType != ModelQwen3VL {
		return nil, nil
	}
	n := int(math.Round(math.Sqrt(float64(c.VisionConfig.NumPositionEmbeddings))))
	m := c.VisionConfig.SpatialMergeSize
	hs := linspace32(0, float32(n-1), g.GH)
	ws := linspace32(0, float32(n-1), g.GW)
	S := g.GH * g.GW
	index = make([]int64, 0, 4*S)
	weight = make([]float64, 0, 4*S)
	for br := 0; br < g.GH/m; br++ {
		for bc := 0; bc < g.GW/m; bc++ {
			for ir := 0; ir < m; ir++ {
				for ic := 0; ic < m; ic++ {
					h, w := hs[br*m+ir], ws[bc*m+ic]
					hf, wf := int(h), int(w)
					hc, wc := min(hf+1, n-1), min(wf+1, n-1)
					dh, dw := h-float32(hf), w-float32(wf)
					index = append(index, int64(hf*n+wf), int64(hf*n+wc), int64(hc*n+wf), int64(hc*n+wc))
					weight = append(weight, float64((1-dh)*(1-dw)), float64((1-dh)*dw), float64(dh*(1-dw)), float64(dh*dw))
				}
			}
		}
	}
	return index, weight
}

// SliceVideos splits every video of vs into single-slice videos (one per
// temporal slice, in order), the layout of a Qwen3-VL prompt, where each
// slice is its own vision item; the vision tokens stay where they are.
func (c Config) SliceVideos(vs Videos) Videos {
	var grids []Grid
	for _, g := range vs.Grids {
		for t := 0; t < g.GT; t++ {
			grids = append(grids, Grid{GT: 1, GH: g.GH, GW: g.GW})
		}
	}
	return c.NewVideos(grids)
}

// visionPosEmbed is Qwen3-VL's interpolated position embedding [S,D] of one
// temporal slice: sum over the 4 taps of weight * pos_embed[index].
func (a *arch) visionPosEmbed(index, weight *onnx.Value) *onnx.Value {
	g := a.g
	rows := a.gatherRows("visual.pos_embed.weight", index) // [S,4,D]
	return g.ReduceSum(g.Mul(rows, g.Unsqueeze(weight, 2)), []int64{1}, false)
}

// deepstackMerger is Qwen3-VL's deepstack merger k on the output x
// [T,S,D] of a vision block: group the merge units (4 consecutive patches),
// LayerNorm over the group, linear_fc1, GELU, linear_fc2 -> [T*S/4, H].
func (a *arch) deepstackMerger(x *onnx.Value, k int) *onnx.Value {
	g := a.g
	v := a.c.VisionConfig
	p := fmt.Sprintf("visual.deepstack_merger_list.%d.", k)
	h := g.Reshape(x, []int64{-1, int64(v.EmbedDim * v.SpatialMergeSize * v.SpatialMergeSize)})
	h = a.layerNorm(h, p+"norm", 1e-6)
	h = gelu(g, a.linear(h, p+"linear_fc1", true))
	return a.linear(h, p+"linear_fc2", true)
}
