package model

import (
	"fmt"
	"math"
)

// CLIP normalisation constants used by the Qwen2-VL image processor.
var (
	clipMean = [3]float64{0.48145466, 0.4578275, 0.40821073}
	clipStd  = [3]float64{0.26862954, 0.26130258, 0.27577711}
)

// SmartResize returns the frame size Qwen2-VL's processor resizes an h x w
// frame to: both sides multiples of factor (patch*merge = 28), the pixel
// count within [minPixels, maxPixels], the aspect ratio nearly kept.
// Python's round (half to even) is reproduced with math.RoundToEven.
func SmartResize(h, w, factor, minPixels, maxPixels int) (int, int, error) {
	if h <= 0 || w <= 0 || factor <= 0 {
		return 0, 0, fmt.Errorf("smart resize: invalid size %dx%d or factor %d", w, h, factor)
	}
	if max(h, w)/min(h, w) > 200 {
		return 0, 0, fmt.Errorf("smart resize: aspect ratio of %dx%d exceeds 200", w, h)
	}
	f := float64(factor)
	hb := int(math.RoundToEven(float64(h)/f)) * factor
	wb := int(math.RoundToEven(float64(w)/f)) * factor
	hb, wb = max(hb, factor), max(wb, factor)
	switch {
	case maxPixels > 0 && hb*wb > maxPixels:
		b := math.Sqrt(float64(h*w) / float64(maxPixels))
		hb = max(factor, int(math.Floor(float64(h)/b/f))*factor)
		wb = max(factor, int(math.Floor(float64(w)/b/f))*factor)
	case minPixels > 0 && hb*wb < minPixels:
		b := math.Sqrt(float64(minPixels) / float64(h*w))
		hb = int(math.Ceil(float64(h)*b/f)) * factor
		wb = int(math.Ceil(float64(w)*b/f)) * factor
	}
	return hb, wb, nil
}

// Grid is the patch grid of one video input: GT temporal slices (frame
// pairs), GH x GW patches per slice.
type Grid struct{ GT, GH, GW int }

// Tokens is the number of merged vision tokens (video pads) of the grid.
func (g Grid) Tokens(merge int) int { return g.GT * g.GH * g.GW / (merge * merge) }

// PatchesPerSlice is S, the number of patches of one temporal slice.
func (g Grid) PatchesPerSlice() int { return g.GH * g.GW }

// VisionInput is one video converted to model inputs.
type VisionInput struct {
	Grid    Grid
	Patches []float32 // [GT, GH*GW, C*2*p*p] in the processor's row order
}

// Patchify normalises frames (packed RGB, all w x h, w and h multiples of
// patch*merge) and cuts them into Qwen2-VL spatio-temporal patch rows. An
// odd frame count is padded by repeating the last frame, as the processor does.
func (c Config) Patchify(frames [][]byte, w, h int) (VisionInput, error) {
	v := c.VisionConfig
	p, m, tp := v.PatchSize, v.SpatialMergeSize, v.TemporalPatchSize
	if len(frames) == 0 {
		return VisionInput{}, fmt.Errorf("patchify: no frames")
	}
	if w%(p*m) != 0 || h%(p*m) != 0 {
		return VisionInput{}, fmt.Errorf("patchify: frame size %dx%d is not a multiple of %d", w, h, p*m)
	}
	for i, f := range frames {
		if len(f) != 3*w*h {
			return VisionInput{}, fmt.Errorf("patchify: frame %d has %d bytes, want %d", i, len(f), 3*w*h)
		}
	}
	for len(frames)%tp != 0 {
		frames = append(frames, frames[len(frames)-1])
	}
	g := Grid{GT: len(frames) / tp, GH: h / p, GW: w / p}
	P := c.PatchDim()
	out := make([]float32, g.GT*g.GH*g.GW*P)
	// Per-channel lookup of normalised values.
	var lut [3][256]float32
	mean, std := c.ImageNorm()
	for ch := 0; ch < 3; ch++ {
		for x := 0; x < 256; x++ {
			lut[ch][x] = float32((float64(x)/255 - mean[ch]) / std[ch])
		}
	}
	row := 0
	for t := 0; t < g.GT; t++ {
		for br := 0; br < g.GH/m; br++ {
			for bc := 0; bc < g.GW/m; bc++ {
				for ir := 0; ir < m; ir++ {
					for ic := 0; ic < m; ic++ {
						py, px := (br*m+ir)*p, (bc*m+ic)*p
						dst := out[row*P : (row+1)*P]
						i := 0
						for ch := 0; ch < 3; ch++ {
							for dt := 0; dt < tp; dt++ {
								f := frames[t*tp+dt]
								for y := 0; y < p; y++ {
									o := 3*((py+y)*w+px) + ch
									for x := 0; x < p; x++ {
										dst[i] = lut[ch][f[o+3*x]]
										i++
									}
								}
							}
						}
						row++
					}
				}
			}
		}
	}
	return VisionInput{Grid: g, Patches: out}, nil
}

// VisionRotary returns the 2-D rotary cos and sin tables [S, vision_head_dim]
// of one temporal slice of grid g (row order of Patchify): angle j uses the
// patch row for the first quarter of frequencies and the column for the
// second, duplicated to the full head width (theta 10000).
func (c Config) VisionRotary(g Grid) (cos, sin []float64) {
	hd := c.VisionHeadDim()
	m := c.VisionConfig.SpatialMergeSize
	q := hd / 4
	inv := make([]float64, q)
	for j := range inv {
		inv[j] = 1 / math.Pow(10000, float64(2*j)/float64(hd/2))
	}
	S := g.GH * g.GW
	cos = make([]float64, S*hd)
	sin = make([]float64, S*hd)
	s := 0
	for br := 0; br < g.GH/m; br++ {
		for bc := 0; bc < g.GW/m; bc++ {
			for ir := 0; ir < m; ir++ {
				for ic := 0; ic < m; ic++ {
					r, col := float64(br*m+ir), float64(bc*m+ic)
					for j := 0; j < q; j++ {
						for _, off := range []int{0, hd / 2} {
							a1, a2 := r*inv[j], col*inv[j]
							cos[s*hd+off+j], sin[s*hd+off+j] = math.Cos(a1), math.Sin(a1)
							cos[s*hd+off+q+j], sin[s*hd+off+q+j] = math.Cos(a2), math.Sin(a2)
						}
					}
					s++
				}
			}
		}
	}
	return cos, sin
}

// RopeIndex computes the M-RoPE position ids (t, h, w) of one token sequence
// as Qwen2-VL does (transformers' get_rope_index, temporal index = slice
// index): text tokens advance all three axes together; each run of
// video-pad tokens is one video whose grid is taken from grids in order.
// valid marks real tokens (nil = all real); padding positions get 1.
// It returns the positions [3][len(ids)] and the next position to use.
func (c Config) RopeIndex(ids []int, valid []bool, grids []Grid) ([3][]int64, int64, error) {
	return c.ropeIndex(ids, valid, grids, len(ids))
}

// ropeIndex is RopeIndex where positions from textFrom on are text whatever
// their id (a generated response may contain a video-pad id; it is a plain
// token there, as it is in the decode graph).
func (c Config) ropeIndex(ids []int, valid []bool, grids []Grid, textFrom int) ([3][]int64, int64, error) {
	var pos [3][]int64
	for a := range pos {
		pos[a] = make([]int64, len(ids))
	}
	m := c.VisionConfig.SpatialMergeSize
	next := int64(0)
	gi := 0
	for i := 0; i < len(ids); {
		if valid != nil && !valid[i] {
			for a := range pos {
				pos[a][i] = 1
			}
			i++
			continue
		}
		if ids[i] != c.VideoTokenID || i >= textFrom {
			for a := range pos {
				pos[a][i] = next
			}
			next++
			i++
			continue
		}
		if gi >= len(grids) {
			return pos, 0, fmt.Errorf("rope index: more video-pad runs than the %d grids given", len(grids))
		}
		g := grids[gi]
		gi++
		lh, lw := g.GH/m, g.GW/m
		n := g.GT * lh * lw
		if i+n > textFrom {
			return pos, 0, fmt.Errorf("rope index: video %d needs %d pad tokens, sequence has %d left", gi, n, len(ids)-i)
		}
		for t := 0; t < g.GT; t++ {
			for y := 0; y < lh; y++ {
				for x := 0; x < lw; x++ {
					k := i + (t*lh+y)*lw + x
					if ids[k] != c.VideoTokenID {
						return pos, 0, fmt.Errorf("rope index: video %d has fewer pad tokens than its grid (%d)", gi, n)
					}
					pos[0][k], pos[1][k], pos[2][k] = next+c.TemporalPosition(t), next+int64(y), next+int64(x)
				}
			}
		}
		next += max(c.TemporalPosition(g.GT-1)+1, int64(lh), int64(lw))
		i += n
	}
	if gi != len(grids) {
		return pos, 0, fmt.Errorf("rope index: %d grids given, %d video-pad runs found", len(grids), gi)
	}
	return pos, next, nil
}

// MaskedBias is the additive attention bias of masked positions.
const MaskedBias = -1e9

// CausalBias fills an additive attention bias [B,1,Lq,Lk] for queries that
// sit at the last Lq of Lk key positions: query i of row b may attend key j
// when j <= (Lk-Lq)+i and valid[b][j]. valid is [B][Lk].
func CausalBias(valid [][]bool, lq int) []float64 {
	b := len(valid)
	if b == 0 {
		return nil
	}
	lk := len(valid[0])
	out := make([]float64, b*lq*lk)
	for r := 0; r < b; r++ {
		for i := 0; i < lq; i++ {
			qpos := lk - lq + i
			for j := 0; j < lk; j++ {
				if j > qpos || !valid[r][j] {
					out[(r*lq+i)*lk+j] = MaskedBias
				}
			}
		}
	}
	return out
}
