package model

// Qwen2.5-VL differences from Qwen2-VL (see the facts sheet, sections 2-4):
// RMSNorm and a SwiGLU MLP with biases in the vision blocks, window
// attention outside fullatt_block_indexes, an RMSNorm ln_q in the merger,
// and a temporal M-RoPE index scaled by seconds per grid and tokens per
// second. The graph code lives in arch.go and branches on model_type.
//
// Window attention. transformers permutes the 2x2 merge groups of every
// temporal slice window-major (windows of window_size/(patch*merge) merged
// tokens square, tiled from the top-left corner, partial windows at the
// right and bottom edges), runs attention over the contiguous windows
// (cu_window_seqlens) and undoes the permutation after the merger. The
// permutation moves whole merge groups and everything between it and its
// inverse is either per token, per merge group or attention (which does not
// depend on the order of its keys), so the same output comes from attention
// over the original order with an additive bias that masks every pair of
// patches in different windows. The graphs use that bias (WindowBias, input
// vision_window_bias); the test ports transformers' get_window_index and
// checks the two formulations agree.

// DefaultVideoFPS is the frame rate the Qwen2.5-VL processor assumes when a
// video comes without one (second_per_grid_t = temporal_patch_size / fps).
const DefaultVideoFPS = 2.0

// windowMergedSide is the side of a Qwen2.5-VL attention window in merged tokens.
func (c Config) windowMergedSide() int {
	v := c.VisionConfig
	return v.WindowSize / (v.PatchSize * v.SpatialMergeSize)
}

// WindowBias returns Qwen2.5-VL's window-attention bias [S,S] for one
// temporal slice of grid g (patches in the processor's row order): 0 where
// two patches share a window, MaskedBias elsewhere. It is nil for other
// architectures.
func (c Config) WindowBias(g Grid) []float64 {
	if c.ModelType != ModelQwen25VL {
		return nil
	}
	m := c.VisionConfig.SpatialMergeSize
	ws := c.windowMergedSide()
	lw := g.GW / m
	nww := (lw + ws - 1) / ws
	S := g.GH * g.GW
	win := make([]int, S)
	for s := range win {
		q := s / (m * m) // merge group = merged token, row-major over the merged grid
		br, bc := q/lw, q%lw
		win[s] = (br/ws)*nww + bc/ws
	}
	bias := make([]float64, S*S)
	for i := 0; i < S; i++ {
		for j := 0; j < S; j++ {
			if win[i] != win[j] {
				bias[i*S+j] = MaskedBias
			}
		}
	}
	return bias
}

// TemporalPosition is the M-RoPE temporal position offset of LLM-grid slice
// t of a video: t for Qwen2-VL; for Qwen2.5-VL
// int(t * second_per_grid_t * tokens_per_second) with second_per_grid_t =
// temporal_patch_size / fps (fps = VideoFPS, default 2), computed in float32
// as transformers does. Qwen3-VL lays a video out as one single-slice vision
// item per temporal slice (timestamps between them), so t is always 0 there.
func (c Config) TemporalPosition(t int) int64 {
	switch c.ModelType {
	case ModelQwen25VL:
		fps := c.VideoFPS
		if fps <= 0 {
			fps = DefaultVideoFPS
		}
		spg := float32(float64(c.VisionConfig.TemporalPatchSize) / fps)
		return int64(float32(float32(t)*spg) * float32(c.VisionConfig.TokensPerSecond))
	}
	return int64(t)
}
