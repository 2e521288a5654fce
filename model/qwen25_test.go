package model

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// hfConfigQwen25VL is Qwen2.5-VL-7B-Instruct's config.json at small sizes
// (untied lm_head; 4 vision blocks of which 1 and 3 attend fully).
func hfConfigQwen25VL() map[string]any {
	return map[string]any{
		"architectures":           []string{"Qwen2_5_VLForConditionalGeneration"},
		"attention_dropout":       0.0,
		"bos_token_id":            151643,
		"eos_token_id":            151645,
		"vision_start_token_id":   151652,
		"vision_end_token_id":     151653,
		"vision_token_id":         151654,
		"image_token_id":          151655,
		"video_token_id":          151656,
		"hidden_act":              "silu",
		"hidden_size":             64,
		"initializer_range":       0.02,
		"intermediate_size":       96,
		"max_position_embeddings": 128000,
		"max_window_layers":       2,
		"model_type":              "qwen2_5_vl",
		"num_attention_heads":     4,
		"num_hidden_layers":       2,
		"num_key_value_heads":     2,
		"rms_norm_eps":            1e-06,
		"rope_theta":              1000000.0,
		"sliding_window":          32768,
		"tie_word_embeddings":     false,
		"torch_dtype":             "bfloat16",
		"transformers_version":    "4.41.2",
		"use_cache":               true,
		"use_sliding_window":      false,
		"vision_config": map[string]any{
			"depth": 4, "hidden_act": "silu", "hidden_size": 32, "intermediate_size": 48, "num_heads": 2, "in_chans": 3,
			"out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "window_size": 112,
			"fullatt_block_indexes": []int{1, 3}, "tokens_per_second": 2, "temporal_patch_size": 2,
		},
		"rope_scaling": map[string]any{"type": "mrope", "mrope_section": []int{2, 3, 3}},
		"vocab_size":   151936,
	}
}

// smallVocab shrinks a test config's vocabulary (and moves the special
// token ids into it) for the float64 gradient checks.
func smallVocab(cfg map[string]any) map[string]any {
	cfg["vocab_size"] = 400
	for i, k := range []string{"bos_token_id", "eos_token_id", "vision_start_token_id", "vision_end_token_id", "vision_token_id", "image_token_id", "video_token_id"} {
		cfg[k] = 390 + i
	}
	return cfg
}

// hfWindowIndex ports transformers' Qwen2_5_VisionTransformer.get_window_index
// for one video: the window-major order of its merged tokens and the
// cumulative window lengths in patches (cu_window_seqlens, duplicates of
// empty windows removed as unique_consecutive does).
func hfWindowIndex(c Config, g Grid) (index []int, cu []int) {
	m := c.VisionConfig.SpatialMergeSize
	ws := c.VisionConfig.WindowSize / m / c.VisionConfig.PatchSize
	lh, lw := g.GH/m, g.GW/m
	padH, padW := ws-lh%ws, ws-lw%ws
	nwh, nww := (lh+padH)/ws, (lw+padW)/ws
	cu = []int{0}
	offset := 0
	for t := 0; t < g.GT; t++ {
		for wr := 0; wr < nwh; wr++ {
			for wc := 0; wc < nww; wc++ {
				n := 0
				for r := wr * ws; r < (wr+1)*ws; r++ {
					for col := wc * ws; col < (wc+1)*ws; col++ {
						if r < lh && col < lw {
							index = append(index, offset+(t*lh+r)*lw+col)
							n++
						}
					}
				}
				if next := cu[len(cu)-1] + n*m*m; next != cu[len(cu)-1] {
					cu = append(cu, next)
				}
			}
		}
	}
	return index, cu
}

// TestQwen25WindowBiasMatchesHF: the window bias masks exactly the patch
// pairs that transformers' window partition separates.
func TestQwen25WindowBiasMatchesHF(t *testing.T) {
	c := parseConfig(t, hfConfigQwen25VL())
	for _, g := range []Grid{{1, 4, 4}, {1, 8, 8}, {1, 12, 10}, {1, 16, 18}, {1, 6, 14}, {1, 2, 20}} {
		index, cu := hfWindowIndex(c, g)
		win := make([]int, len(index)) // merged token -> window
		for w := 0; w+1 < len(cu); w++ {
			for i := cu[w] / 4; i < cu[w+1]/4; i++ {
				win[index[i]] = w
			}
		}
		bias := c.WindowBias(g)
		S := g.GH * g.GW
		windows := map[int]bool{}
		for i := 0; i < S; i++ {
			windows[win[i/4]] = true
			for j := 0; j < S; j++ {
				same := win[i/4] == win[j/4]
				if (bias[i*S+j] == 0) != same {
					t.Fatalf("grid %v: patches %d, %d: bias %g, same window %v", g, i, j, bias[i*S+j], same)
				}
			}
		}
		ws := 4
		if want := ((g.GH/2 + ws - 1) / ws) * ((g.GW/2 + ws - 1) / ws); len(windows) != want {
			t.Fatalf("grid %v: %d windows, want %d", g, len(windows), want)
		}
	}
}

func TestTemporalPosition(t *testing.T) {
	v2 := parseConfig(t, hfConfigQwen2VL())
	v25 := parseConfig(t, hfConfigQwen25VL())
	fps1 := v25
	fps1.VideoFPS = 1
	tps4 := v25
	tps4.VisionConfig.TokensPerSecond = 4
	fps3 := v25
	fps3.VideoFPS = 3
	cases := []struct {
		name string
		c    Config
		want []int64
	}{
		{"qwen2-vl", v2, []int64{0, 1, 2, 3}},
		{"qwen2.5-vl fps 2 tps 2", v25, []int64{0, 2, 4, 6}},
		{"qwen2.5-vl fps 1", fps1, []int64{0, 4, 8, 12}},
		{"qwen2.5-vl tps 4", tps4, []int64{0, 4, 8, 12}},
		{"qwen2.5-vl fps 3", fps3, []int64{0, 1, 2, 4}}, // int(t*0.6667*2): 0, 1.33, 2.67, 4.0
	}
	for _, tc := range cases {
		var got []int64
		for i := range tc.want {
			got = append(got, tc.c.TemporalPosition(i))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// transformers' get_rope_index for text, a 3x(4x4) video, text.
	ids := []int{1, 2, v25.VisionStartTokenID}
	for i := 0; i < 3*2*2; i++ {
		ids = append(ids, v25.VideoTokenID)
	}
	ids = append(ids, v25.VisionEndTokenID, 3)
	pos, next, err := v25.RopeIndex(ids, nil, []Grid{{GT: 3, GH: 4, GW: 4}})
	if err != nil {
		t.Fatal(err)
	}
	// Vision tokens start at 3; t = 3 + {0,2,4}; the text after them at 3 + max(4+1, 2, 2) = 8.
	if pos[0][3] != 3 || pos[0][3+4] != 5 || pos[0][3+8] != 7 || pos[1][3+3] != 4 || pos[2][3+3] != 4 {
		t.Errorf("vision positions t %v h %v w %v", pos[0], pos[1], pos[2])
	}
	if pos[0][15] != 8 || pos[1][16] != 9 || next != 10 {
		t.Errorf("text after the video at %d/%d, next %d; want 8, 9, 10", pos[0][15], pos[1][16], next)
	}
}

// refVisionQwen25 is transformers' Qwen2_5_VisionTransformer forward for
// one video written out literally in float64: merge groups permuted
// window-major, attention over cu_window_seqlens or per-slice
// cu_seqlens, the permutation undone after the merger.
func refVisionQwen25(c Config, store *params.Store, patches []float64, g Grid) []float64 {
	v := c.VisionConfig
	D, heads := v.EmbedDim, v.NumHeads
	hd := D / heads
	P := c.PatchDim()
	S := g.GH * g.GW
	N := g.GT * S
	w := func(name string) []float64 {
		p, _ := store.Get(name)
		out := make([]float64, len(p.Data))
		for i, x := range p.Data {
			out[i] = float64(x)
		}
		return out
	}
	linear := func(x []float64, rows, in int, prefix string, out int) []float64 {
		W, b := w(prefix+".weight"), w(prefix+".bias")
		y := make([]float64, rows*out)
		for r := 0; r < rows; r++ {
			for o := 0; o < out; o++ {
				s := b[o]
				for i := 0; i < in; i++ {
					s += x[r*in+i] * W[o*in+i]
				}
				y[r*out+o] = s
			}
		}
		return y
	}
	rms := func(x []float64, rows, width int, name string) []float64 {
		W := w(name)
		y := make([]float64, len(x))
		for r := 0; r < rows; r++ {
			ms := 0.0
			for i := 0; i < width; i++ {
				ms += x[r*width+i] * x[r*width+i]
			}
			inv := 1 / math.Sqrt(ms/float64(width)+1e-6)
			for i := 0; i < width; i++ {
				y[r*width+i] = x[r*width+i] * inv * W[i]
			}
		}
		return y
	}
	// Patch embedding (Conv3d without bias).
	Wpe := w("visual.patch_embed.proj.weight")
	x := make([]float64, N*D)
	for n := 0; n < N; n++ {
		for d := 0; d < D; d++ {
			s := 0.0
			for p := 0; p < P; p++ {
				s += patches[n*P+p] * Wpe[d*P+p]
			}
			x[n*D+d] = s
		}
	}
	// Rotary angles of each patch (row, column of the full-resolution grid).
	q4 := hd / 4
	angles := make([]float64, N*hd/2)
	for n := 0; n < N; n++ {
		s := n % S
		mt := s / 4
		r := (mt/(g.GW/2))*2 + (s%4)/2
		col := (mt%(g.GW/2))*2 + s%2
		for j := 0; j < q4; j++ {
			inv := 1 / math.Pow(10000, float64(2*j)/float64(hd/2))
			angles[n*hd/2+j] = float64(r) * inv
			angles[n*hd/2+q4+j] = float64(col) * inv
		}
	}
	// Window-major permutation of the merge groups.
	index, cuWin := hfWindowIndex(c, g)
	perm := func(src []float64, width int) []float64 {
		out := make([]float64, len(src))
		for i, m := range index {
			copy(out[i*4*width:(i+1)*4*width], src[m*4*width:(m+1)*4*width])
		}
		return out
	}
	x = perm(x, D)
	angles = perm(angles, hd/2)
	cuFull := []int{0}
	for t := 0; t < g.GT; t++ {
		cuFull = append(cuFull, (t+1)*S)
	}
	rope := func(vec []float64, n int) {
		out := make([]float64, hd)
		for i := 0; i < hd; i++ {
			a := angles[n*hd/2+i%(hd/2)]
			rot := 0.0
			if i < hd/2 {
				rot = -vec[i+hd/2]
			} else {
				rot = vec[i-hd/2]
			}
			out[i] = vec[i]*math.Cos(a) + rot*math.Sin(a)
		}
		copy(vec, out)
	}
	for b := 0; b < v.Depth; b++ {
		p := fmt.Sprintf("visual.blocks.%d.", b)
		cu := cuWin
		if slices.Contains(v.FullAttBlockIndexes, b) {
			cu = cuFull
		}
		h := rms(x, N, D, p+"norm1.weight")
		qkv := linear(h, N, D, p+"attn.qkv", 3*D) // [N,3,heads,hd]
		att := make([]float64, N*D)
		for hh := 0; hh < heads; hh++ {
			q := make([][]float64, N)
			k := make([][]float64, N)
			for n := 0; n < N; n++ {
				q[n] = slices.Clone(qkv[n*3*D+0*D+hh*hd : n*3*D+0*D+(hh+1)*hd])
				k[n] = slices.Clone(qkv[n*3*D+1*D+hh*hd : n*3*D+1*D+(hh+1)*hd])
				rope(q[n], n)
				rope(k[n], n)
			}
			for s := 0; s+1 < len(cu); s++ {
				for i := cu[s]; i < cu[s+1]; i++ {
					sc := make([]float64, cu[s+1]-cu[s])
					mx := math.Inf(-1)
					for j := cu[s]; j < cu[s+1]; j++ {
						d := 0.0
						for e := 0; e < hd; e++ {
							d += q[i][e] * k[j][e]
						}
						sc[j-cu[s]] = d / math.Sqrt(float64(hd))
						mx = math.Max(mx, sc[j-cu[s]])
					}
					sum := 0.0
					for j := range sc {
						sc[j] = math.Exp(sc[j] - mx)
						sum += sc[j]
					}
					for j := cu[s]; j < cu[s+1]; j++ {
						for e := 0; e < hd; e++ {
							att[i*D+hh*hd+e] += sc[j-cu[s]] / sum * qkv[j*3*D+2*D+hh*hd+e]
						}
					}
				}
			}
		}
		o := linear(att, N, D, p+"attn.proj", D)
		for i := range x {
			x[i] += o[i]
		}
		h = rms(x, N, D, p+"norm2.weight")
		I := v.MLPDim()
		gate := linear(h, N, D, p+"mlp.gate_proj", I)
		up := linear(h, N, D, p+"mlp.up_proj", I)
		for i := range gate {
			gate[i] = gate[i] / (1 + math.Exp(-gate[i])) * up[i]
		}
		o = linear(gate, N, I, p+"mlp.down_proj", D)
		for i := range x {
			x[i] += o[i]
		}
	}
	h := rms(x, N, D, "visual.merger.ln_q.weight")
	h = linear(h, N/4, 4*D, "visual.merger.mlp.0", 4*D)
	for i, z := range h {
		h[i] = 0.5 * z * (1 + math.Erf(z/math.Sqrt2))
	}
	H := c.HiddenSize
	merged := linear(h, N/4, 4*D, "visual.merger.mlp.2", H)
	out := make([]float64, len(merged))
	for i, m := range index { // reverse_indices = argsort(window_index)
		copy(out[m*H:(m+1)*H], merged[i*H:(i+1)*H])
	}
	return out
}

// TestQwen25VisionMatchesReference: the vision graph (window bias, no
// permutation) gives transformers' output (permutation, cu_seqlens windows,
// inverse permutation), written out in plain Go.
func TestQwen25VisionMatchesReference(t *testing.T) {
	rt := openRuntime(t)
	c := parseConfig(t, hfConfigQwen25VL())
	store := sharpStore(t, c, 4, 8)
	g := Grid{GT: 2, GH: 12, GW: 10}
	patches, cos, sin, T, S := testVideos(c, []Grid{g}, 3)
	b, err := BuildVision(c, onnx.Float32)
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, rt, b, onnx.ExportOptions{ParamData: ParamData(store)})
	feeds := visionFeeds(c, onnx.Float32, patches, cos, sin, T, S)
	for k, v := range c.VisionExtraFeeds(g, onnx.Float32) {
		feeds[k] = v
	}
	out, err := sess.Run(context.Background(), feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := asFloat64(t, out[OutVisionEmbed])
	want := refVisionQwen25(c, store, patches, g)
	d, spread := maxAbsDiff(want, got)
	if d > 1e-4*math.Max(1, spread) {
		t.Fatalf("vision graph differs from the reference by %g (spread %g)", d, spread)
	}
	// Without the window bias (every block attending fully) the output
	// differs: the check discriminates window attention.
	full := c
	full.VisionConfig.FullAttBlockIndexes = []int{0, 1, 2, 3}
	if d2, _ := maxAbsDiff(refVisionQwen25(full, store, patches, g), want); d2 < 100*d {
		t.Fatalf("full attention differs from windowed by only %g (graph error %g)", d2, d)
	}
	t.Logf("max |graph - reference| = %.3g (spread %.3g)", d, spread)
}

// TestHFQwen25VLRuns: a bf16 sharded synthetic Qwen2.5-VL checkpoint loads
// and runs prefill/decode with KV-cache parity and SFT steps.
func TestHFQwen25VLRuns(t *testing.T) {
	rt := openRuntime(t)
	c, store := loadSynthetic(t, hfConfigQwen25VL(), hfCheckpoint{dtype: safetensors.BF16, shards: 3}, 5)
	if c.ModelType != ModelQwen25VL || c.VisionConfig.EmbedDim != 32 || c.VisionConfig.HiddenSize != 64 || c.VisionConfig.MLPDim() != 48 ||
		c.VisionConfig.WindowSize != 112 || !slices.Equal(c.VisionConfig.FullAttBlockIndexes, []int{1, 3}) || c.VisionConfig.TokensPerSecond != 2 || c.TieWordEmbeddings {
		t.Fatalf("config %+v", c)
	}
	d := checkKVParity(t, rt, c, store, []Grid{{GT: 2, GH: 12, GW: 10}, {GT: 2, GH: 12, GW: 10}}, 4)
	t.Logf("worst decode/prefill logit difference %.3g", d)
	trainSteps(t, rt, c, store, Grid{GT: 1, GH: 12, GW: 10}, 0.02, 3)
}

// trainFeeds is the feeds of the GRPO batch of newTrainFixtureOn.
func trainFeeds(t testing.TB, c Config, dt onnx.DType, grids []Grid, seed uint64) map[string]ort.Tensor {
	return newTrainFixtureOn(t, c, dt, grids, seed).feeds
}

// specsNamed picks parameter specs by name.
func specsNamed(t testing.TB, c Config, names ...string) []ParamSpec {
	t.Helper()
	var out []ParamSpec
	for _, n := range names {
		i := slices.IndexFunc(c.ParamSpecs(), func(s ParamSpec) bool { return s.Name == n })
		if i < 0 {
			t.Fatalf("no parameter %s", n)
		}
		out = append(out, c.ParamSpecs()[i])
	}
	return out
}

// archFDSetup prepares a float64 finite-difference check of an
// architecture's GRPO training graph (KL on): the runtime, the graph, a
// store of sharp weights and the feeds of two rows over videos of grids.
// It skips with -short.
func archFDSetup(t *testing.T, c Config, grids []Grid) (*ort.Runtime, *Built, *params.Store, map[string]ort.Tensor) {
	t.Helper()
	if testing.Short() {
		t.Skip("float64 finite differences of the whole graph")
	}
	rt := openRuntime(t)
	lc := DefaultGRPOLoss()
	lc.KLCoef = 0.5
	b, err := BuildTrain(c, onnx.Float64, lc)
	if err != nil {
		t.Fatal(err)
	}
	return rt, b, sharpStore(t, c, 6, 3), trainFeeds(t, c, onnx.Float64, grids, 2)
}

// TestQwen25TrainingGradients: finite differences on the Qwen2.5-VL GRPO
// training graph (windowed and full-attention vision blocks, SwiGLU, RMSNorm
// merger, decoder, untied head), float64.
func TestQwen25TrainingGradients(t *testing.T) {
	c := parseConfig(t, smallVocab(hfConfigQwen25VL()))
	rt, b, store, feeds := archFDSetup(t, c, []Grid{{GT: 2, GH: 12, GW: 10}, {GT: 1, GH: 12, GW: 10}})
	specs := specsNamed(t, c,
		"visual.patch_embed.proj.weight", "visual.blocks.0.norm1.weight", "visual.blocks.0.attn.qkv.weight",
		"visual.blocks.1.attn.qkv.bias", "visual.blocks.2.mlp.gate_proj.bias", "visual.blocks.3.mlp.down_proj.weight",
		"visual.merger.ln_q.weight", "visual.merger.mlp.0.weight", "model.layers.0.self_attn.q_proj.weight",
		"model.layers.1.self_attn.k_proj.bias", "model.layers.1.mlp.up_proj.weight", "lm_head.weight")
	fdCheck(t, rt, b, c, store, feeds, specs, 2, 1e-5)
}

// BenchmarkWindowBias: the per-batch window bias of a 448x448 frame (32x32 patches).
func BenchmarkWindowBias(b *testing.B) {
	c := parseConfig(b, hfConfigQwen25VL())
	g := Grid{GT: 1, GH: 32, GW: 32}
	for b.Loop() {
		_ = c.VisionExtraFeeds(g, onnx.Float32)
	}
}
