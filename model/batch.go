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

// SeqBatch is a right-padded batch of whole sequences (prompt + response)
// laid out as the log-prob and training graphs expect. Float inputs are
// float64 here; callers convert them to the graph's float type.
type SeqBatch struct {
	B, L, R int
	IDs     []int64   // [B,L]
	Index   []int64   // [B,L] row of the vision tokens spliced at each position
	VisMask []float64 // [B,L]
	Pos     []int64   // [3,B,L]
	Bias    []float64 // [B,1,L,L]
	// RespIndex, RespTokens, RespMask describe the response tokens [B,R].
	RespIndex  []int64
	RespTokens []int64
	RespMask   []float64
	// VisionOffset[v] is the first vision-token row of video v.
	VisionOffset []int
	// VisionTokens is the total number of vision tokens of the batch's videos.
	VisionTokens int
}

// NewSeqBatch lays out rows over the batch's videos (grids in video order).
// Padding token id pad fills the right end of shorter rows.
func (c Config) NewSeqBatch(rows []Row, grids []Grid, pad int) (*SeqBatch, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("sequence batch: no rows")
	}
	m := c.VisionConfig.SpatialMergeSize
	b := &SeqBatch{B: len(rows), VisionOffset: make([]int, len(grids))}
	for v, g := range grids {
		b.VisionOffset[v] = b.VisionTokens
		b.VisionTokens += g.Tokens(m)
	}
	for _, r := range rows {
		b.L = max(b.L, len(r.Prompt)+len(r.Response))
		b.R = max(b.R, len(r.Response))
	}
	if b.R == 0 {
		b.R = 1 // the graphs need a non-empty response axis; the mask is 0
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
		n := len(r.Prompt) + len(r.Response)
		if len(r.Prompt) == 0 {
			return nil, fmt.Errorf("sequence batch: row %d has an empty prompt", i)
		}
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
		rg := make([]Grid, len(r.Videos))
		for k, v := range r.Videos {
			if v < 0 || v >= len(grids) {
				return nil, fmt.Errorf("sequence batch: row %d names video %d of %d", i, v, len(grids))
			}
			rg[k] = grids[v]
		}
		pos, _, err := c.RopeIndex(ids, valid[i], rg)
		if err != nil {
			return nil, fmt.Errorf("sequence batch: row %d: %w", i, err)
		}
		for a := 0; a < 3; a++ {
			copy(b.Pos[(a*B+i)*L:(a*B+i+1)*L], pos[a])
		}
		// Vision splice indices: the k-th pad of video run j takes token k.
		run, k := -1, 0
		inRun := false
		for t := 0; t < len(r.Prompt); t++ {
			if ids[t] == c.VideoTokenID {
				if !inRun {
					run++
					k = 0
					inRun = true
				}
				b.Index[i*L+t] = int64(b.VisionOffset[r.Videos[run]] + k)
				b.VisMask[i*L+t] = 1
				k++
			} else {
				inRun = false
			}
		}
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
	return b, nil
}
