package model

import (
	"fmt"
)

// Row is one sequence of a log-prob or training batch: a prompt (with its
// video-pad runs), an optional response, and the videos (indices into the
// batch's video list) whose tokens fill the prompt's video-pad runs in order.
type Row struct {
	Prompt   []int
	Response []int
	Videos   []int
}

// Videos describes the videos of a batch: their grids and, for each, the
// first row of its merged tokens in the vision embeddings.
type Videos struct {
	Grids  []Grid
	Offset []int
	Tokens int // total merged tokens
}

// NewVideos lays out the vision tokens of grids one after another.
func (c Config) NewVideos(grids []Grid) Videos {
	v := Videos{Grids: grids, Offset: make([]int, len(grids))}
	for i, g := range grids {
		v.Offset[i] = v.Tokens
		v.Tokens += g.Tokens(c.VisionConfig.SpatialMergeSize)
	}
	return v
}

// layout computes one row's M-RoPE positions, vision splice indices and
// vision mask. ids holds the whole padded row, valid marks real tokens;
// positions from textFrom on (the response) are text whatever their id.
func (c Config) layout(ids []int, valid []bool, videos []int, vs Videos, textFrom int) (pos [3][]int64, index []int64, mask []float64, next int64, err error) {
	rg := make([]Grid, len(videos))
	for k, v := range videos {
		if v < 0 || v >= len(vs.Grids) {
			return pos, nil, nil, 0, fmt.Errorf("row names video %d of %d", v, len(vs.Grids))
		}
		rg[k] = vs.Grids[v]
	}
	pos, next, err = c.ropeIndex(ids, valid, rg, textFrom)
	if err != nil {
		return pos, nil, nil, 0, err
	}
	index = make([]int64, len(ids))
	mask = make([]float64, len(ids))
	run, k, inRun := -1, 0, false
	for t, id := range ids {
		if id == c.VideoTokenID && t < textFrom && (valid == nil || valid[t]) {
			if !inRun {
				run++
				k, inRun = 0, true
			}
			index[t] = int64(vs.Offset[videos[run]] + k)
			mask[t] = 1
			k++
		} else {
			inRun = false
		}
	}
	return pos, index, mask, next, nil
}

// SeqBatch is a right-padded batch of whole sequences (prompt + response)
// laid out as the log-prob and training graphs expect. Float inputs are
// float64 here; Feeds converts them to the graph's float type.
type SeqBatch struct {
	B, L, R int
	IDs     []int64   // [B,L]
	Index   []int64   // [B,L] row of the vision tokens spliced at each position
	VisMask []float64 // [B,L]
	Pos     []int64   // [3,B,L]
	Bias    []float64 // [B,1,L,L]
	// Valid marks each row's real (non-padding) positions, from which
	// Bias is made (a resident policy makes the bias on its device).
	Valid [][]bool
	// RespIndex, RespTokens, RespMask describe the response tokens [B,R].
	RespIndex  []int64
	RespTokens []int64
	RespMask   []float64
}

// NewSeqBatch lays out rows over the batch's videos. Padding token id pad
// fills the right end of shorter rows.
func (c Config) NewSeqBatch(rows []Row, vs Videos, pad int) (*SeqBatch, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("sequence batch: no rows")
	}
	b := &SeqBatch{B: len(rows)}
	for _, r := range rows {
		b.L = max(b.L, len(r.Prompt)+len(r.Response))
		b.R = max(b.R, len(r.Response))
	}
	if b.R == 0 {
		b.R = 1 // the graphs need a non-empty response axis; its mask is 0
	}
	B, L, R := b.B, b.L, b.R
	b.IDs = make([]int64, B*L)
	b.Index = make([]int64, B*L)
	b.VisMask = make([]float64, B*L)
	b.Pos = make([]int64, 3*B*L)
	b.RespIndex = make([]int64, B*R)
	b.RespTokens = make([]int64, B*R)
	b.RespMask = make([]float64, B*R)
	valid := make([][]bool, B)
	for i, r := range rows {
		if len(r.Prompt) == 0 {
			return nil, fmt.Errorf("sequence batch: row %d has an empty prompt", i)
		}
		n := len(r.Prompt) + len(r.Response)
		ids := make([]int, L)
		valid[i] = make([]bool, L)
		for t := 0; t < L; t++ {
			switch {
			case t < len(r.Prompt):
				ids[t] = r.Prompt[t]
			case t < n:
				ids[t] = r.Response[t-len(r.Prompt)]
			default:
				ids[t] = pad
			}
			valid[i][t] = t < n
			b.IDs[i*L+t] = int64(ids[t])
		}
		pos, index, mask, _, err := c.layout(ids, valid[i], r.Videos, vs, len(r.Prompt))
		if err != nil {
			return nil, fmt.Errorf("sequence batch: row %d: %w", i, err)
		}
		for a := 0; a < 3; a++ {
			copy(b.Pos[(a*B+i)*L:(a*B+i+1)*L], pos[a])
		}
		copy(b.Index[i*L:(i+1)*L], index)
		copy(b.VisMask[i*L:(i+1)*L], mask)
		for j := range r.Response {
			b.RespIndex[i*R+j] = int64(i*L + len(r.Prompt) + j - 1)
			b.RespTokens[i*R+j] = int64(r.Response[j])
			b.RespMask[i*R+j] = 1
		}
		for j := len(r.Response); j < R; j++ {
			b.RespIndex[i*R+j] = int64(i * L)
			b.RespTokens[i*R+j] = int64(pad)
		}
	}
	b.Bias = CausalBias(valid, L)
	b.Valid = valid
	return b, nil
}

// PromptBatch is a left-padded batch of prompts for the prefill graph, with
// the state decoding continues from.
type PromptBatch struct {
	B, L    int
	IDs     []int64   // [B,L]
	Index   []int64   // [B,L]
	VisMask []float64 // [B,L]
	Pos     []int64   // [3,B,L]
	Bias    []float64 // [B,1,L,L]
	// Valid marks the real (non-padding) key positions of each row; decode
	// steps append to it.
	Valid [][]bool
	// Next is each row's M-RoPE position for the first generated token.
	Next []int64
}

// NewPromptBatch left-pads prompts (with their videos) to a common length.
func (c Config) NewPromptBatch(prompts [][]int, videos [][]int, vs Videos, pad int) (*PromptBatch, error) {
	if len(prompts) == 0 || len(videos) != len(prompts) {
		return nil, fmt.Errorf("prompt batch: %d prompts, %d video lists", len(prompts), len(videos))
	}
	b := &PromptBatch{B: len(prompts)}
	for _, p := range prompts {
		if len(p) == 0 {
			return nil, fmt.Errorf("prompt batch: empty prompt")
		}
		b.L = max(b.L, len(p))
	}
	B, L := b.B, b.L
	b.IDs = make([]int64, B*L)
	b.Index = make([]int64, B*L)
	b.VisMask = make([]float64, B*L)
	b.Pos = make([]int64, 3*B*L)
	b.Valid = make([][]bool, B)
	b.Next = make([]int64, B)
	for i, p := range prompts {
		off := L - len(p)
		ids := make([]int, L)
		b.Valid[i] = make([]bool, L)
		for t := 0; t < L; t++ {
			if t < off {
				ids[t] = pad
			} else {
				ids[t] = p[t-off]
				b.Valid[i][t] = true
			}
			b.IDs[i*L+t] = int64(ids[t])
		}
		pos, index, mask, next, err := c.layout(ids, b.Valid[i], videos[i], vs, L)
		if err != nil {
			return nil, fmt.Errorf("prompt batch: row %d: %w", i, err)
		}
		for a := 0; a < 3; a++ {
			copy(b.Pos[(a*B+i)*L:(a*B+i+1)*L], pos[a])
		}
		copy(b.Index[i*L:(i+1)*L], index)
		copy(b.VisMask[i*L:(i+1)*L], mask)
		b.Next[i] = next
	}
	b.Bias = CausalBias(b.Valid, L)
	return b, nil
}
