package model

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// hfConfigQwen3VL is Qwen3-VL-4B-Instruct's config.json at small sizes:
// nested text_config, explicit head_dim (heads*head_dim != hidden_size),
// interleaved M-RoPE, deepstack after the first two vision blocks.
func hfConfigQwen3VL() map[string]any {
	return map[string]any{
		"architectures":  []string{"Qwen3VLForConditionalGeneration"},
		"image_token_id": 151655,
		"model_type":     "qwen3_vl",
		"text_config": map[string]any{
			"attention_bias": false, "attention_dropout": 0.0, "bos_token_id": 151643, "dtype": "bfloat16", "eos_token_id": 151645,
			"head_dim": 16, "hidden_act": "silu", "hidden_size": 48, "initializer_range": 0.02, "intermediate_size": 96,
			"max_position_embeddings": 262144, "model_type": "qwen3_vl_text", "num_attention_heads": 4, "num_hidden_layers": 3,
			"num_key_value_heads": 2, "rms_norm_eps": 1e-06,
			"rope_scaling": map[string]any{"mrope_interleaved": true, "mrope_section": []int{4, 2, 2}, "rope_type": "default"},
			"rope_theta":   5000000, "tie_word_embeddings": true, "use_cache": true, "vocab_size": 151936,
		},
		"tie_word_embeddings":  true,
		"transformers_version": "4.57.0.dev0",
		"video_token_id":       151656,
		"vision_config": map[string]any{
			"deepstack_visual_indexes": []int{0, 1}, "depth": 3, "hidden_act": "gelu_pytorch_tanh", "hidden_size": 32, "in_channels": 3,
			"initializer_range": 0.02, "intermediate_size": 64, "model_type": "qwen3_vl", "num_heads": 2, "num_position_embeddings": 2304,
			"out_hidden_size": 48, "patch_size": 16, "spatial_merge_size": 2, "temporal_patch_size": 2,
		},
		"vision_end_token_id":   151653,
		"vision_start_token_id": 151652,
	}
}

// smallVocab3 is smallVocab for the nested Qwen3-VL layout.
func smallVocab3(cfg map[string]any) map[string]any {
	text := cfg["text_config"].(map[string]any)
	text["vocab_size"] = 400
	text["bos_token_id"], text["eos_token_id"] = 390, 391
	for i, k := range []string{"vision_start_token_id", "vision_end_token_id", "image_token_id", "video_token_id"} {
		cfg[k] = 392 + i
	}
	return cfg
}

func TestQwen3Config(t *testing.T) {
	c := parseConfig(t, hfConfigQwen3VL())
	v := c.VisionConfig
	if c.ModelType != ModelQwen3VL || c.HeadDim() != 16 || c.HiddenSize != 48 || c.RopeTheta != 5e6 || !c.RopeScaling.MropeInterleaved ||
		!c.TieWordEmbeddings || c.EosTokenID != 151645 || c.VideoTokenID != 151656 || v.EmbedDim != 32 || v.HiddenSize != 48 ||
		v.PatchSize != 16 || v.InChans != 3 || v.MLPDim() != 64 || v.NumPositionEmbeddings != 2304 || !slices.Equal(v.DeepstackVisualIndexes, []int{0, 1}) {
		t.Fatalf("config %+v", c)
	}
	if c.PatchDim() != 3*2*16*16 || c.VisionEmbedWidth() != 3*48 {
		t.Fatalf("patch dim %d, vision embed width %d", c.PatchDim(), c.VisionEmbedWidth())
	}
	var names []string
	for _, s := range c.baseParamSpecs() {
		names = append(names, c.HubWeightName(s.Name))
	}
	// Names as in the released Qwen3-VL model.safetensors.index.json.
	for _, want := range []string{
		"model.visual.patch_embed.proj.weight", "model.visual.patch_embed.proj.bias", "model.visual.pos_embed.weight",
		"model.visual.blocks.0.norm1.bias", "model.visual.blocks.2.attn.qkv.weight", "model.visual.blocks.1.mlp.linear_fc1.weight",
		"model.visual.blocks.1.mlp.linear_fc2.bias", "model.visual.merger.norm.weight", "model.visual.merger.linear_fc1.weight",
		"model.visual.merger.linear_fc2.bias", "model.visual.deepstack_merger_list.0.norm.weight",
		"model.visual.deepstack_merger_list.1.linear_fc2.weight", "model.language_model.embed_tokens.weight",
		"model.language_model.layers.0.self_attn.q_norm.weight", "model.language_model.layers.2.self_attn.k_norm.weight",
		"model.language_model.layers.0.self_attn.q_proj.weight", "model.language_model.layers.0.mlp.down_proj.weight",
		"model.language_model.norm.weight",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no weight %s", want)
		}
	}
	for _, not := range []string{"model.language_model.layers.0.self_attn.q_proj.bias", "lm_head.weight", "model.visual.merger.ln_q.weight"} {
		if slices.Contains(names, not) {
			t.Errorf("unexpected weight %s", not)
		}
	}
	if s := specsNamed(t, c, "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.o_proj.weight"); !slices.Equal(s[0].Shape, []int64{64, 48}) || !slices.Equal(s[1].Shape, []int64{48, 64}) {
		t.Fatalf("q/o shapes %v %v", s[0].Shape, s[1].Shape)
	}
}

// TestPosEmbedTaps checks the bilinear taps against transformers'
// fast_pos_embed_interpolate written out: the row-major grid of weights,
// then permuted into merge-block order.
func TestPosEmbedTaps(t *testing.T) {
	c := parseConfig(t, hfConfigQwen3VL())
	for _, g := range []Grid{{1, 2, 2}, {1, 8, 6}, {1, 48, 48}, {1, 30, 62}} {
		idx, w := c.PosEmbedTaps(g)
		n := 48
		// Row-major tables as transformers builds them.
		hs, ws := linspace32(0, float32(n-1), g.GH), linspace32(0, float32(n-1), g.GW)
		type tap struct {
			i [4]int64
			w [4]float64
		}
		rowMajor := make([]tap, g.GH*g.GW)
		for r := 0; r < g.GH; r++ {
			for col := 0; col < g.GW; col++ {
				hf, wf := int64(hs[r]), int64(ws[col])
				hc, wc := min(hf+1, int64(n-1)), min(wf+1, int64(n-1))
				dh, dw := float64(hs[r]-float32(hf)), float64(ws[col]-float32(wf))
				rowMajor[r*g.GW+col] = tap{[4]int64{hf*48 + wf, hf*48 + wc, hc*48 + wf, hc*48 + wc}, [4]float64{(1 - dh) * (1 - dw), (1 - dh) * dw, dh * (1 - dw), dh * dw}}
			}
		}
		// view(h/m, m, w/m, m).permute(0, 2, 1, 3)
		s := 0
		for br := 0; br < g.GH/2; br++ {
			for bc := 0; bc < g.GW/2; bc++ {
				for ir := 0; ir < 2; ir++ {
					for ic := 0; ic < 2; ic++ {
						want := rowMajor[(br*2+ir)*g.GW+bc*2+ic]
						for k := 0; k < 4; k++ {
							if idx[4*s+k] != want.i[k] || math.Abs(w[4*s+k]-want.w[k]) > 1e-6 {
								t.Fatalf("grid %v patch %d tap %d: (%d, %g), want (%d, %g)", g, s, k, idx[4*s+k], w[4*s+k], want.i[k], want.w[k])
							}
						}
						sum := w[4*s] + w[4*s+1] + w[4*s+2] + w[4*s+3]
						if math.Abs(sum-1) > 1e-6 {
							t.Fatalf("grid %v patch %d: weights sum to %g", g, s, sum)
						}
						s++
					}
				}
			}
		}
		if g.GH == 48 && g.GW == 48 { // the native grid: every patch hits its own row
			for s := 0; s < 48*48; s++ {
				if w[4*s] != 1 {
					t.Fatalf("48x48 grid: patch %d first weight %g", s, w[4*s])
				}
			}
		}
	}
	if ls := linspace32(0, 47, 5); !slices.Equal(ls, []float32{0, 11.75, 23.5, 35.25, 47}) {
		t.Fatalf("linspace %v", ls)
	}
}

// refTensor reads a parameter as float64.
func refTensor(store *params.Store, name string) []float64 {
	p, ok := store.Get(name)
	if !ok {
		panic("reference: no parameter " + name)
	}
	out := make([]float64, len(p.Data))
	for i, x := range p.Data {
		out[i] = float64(x)
	}
	return out
}

// refLinear is x W^T (+ b) over rows of width in.
func refLinear(store *params.Store, x []float64, in int, prefix string, bias bool) []float64 {
	W := refTensor(store, prefix+".weight")
	out := len(W) / in
	rows := len(x) / in
	var b []float64
	if bias {
		b = refTensor(store, prefix+".bias")
	}
	y := make([]float64, rows*out)
	for r := 0; r < rows; r++ {
		for o := 0; o < out; o++ {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for i := 0; i < in; i++ {
				s += x[r*in+i] * W[o*in+i]
			}
			y[r*out+o] = s
		}
	}
	return y
}

// refLayerNorm normalises rows of width w (eps 1e-6) with weight and bias of prefix.
func refLayerNorm(store *params.Store, x []float64, w int, prefix string) []float64 {
	W, B := refTensor(store, prefix+".weight"), refTensor(store, prefix+".bias")
	y := make([]float64, len(x))
	for r := 0; r < len(x)/w; r++ {
		row := x[r*w : (r+1)*w]
		mu, va := 0.0, 0.0
		for _, v := range row {
			mu += v
		}
		mu /= float64(w)
		for _, v := range row {
			va += (v - mu) * (v - mu)
		}
		inv := 1 / math.Sqrt(va/float64(w)+1e-6)
		for i, v := range row {
			y[r*w+i] = (v-mu)*inv*W[i] + B[i]
		}
	}
	return y
}

// refRMSNorm is Qwen RMSNorm over rows of width w.
func refRMSNorm(store *params.Store, x []float64, w int, name string, eps float64) []float64 {
	W := refTensor(store, name)
	y := make([]float64, len(x))
	for r := 0; r < len(x)/w; r++ {
		ms := 0.0
		for i := 0; i < w; i++ {
			ms += x[r*w+i] * x[r*w+i]
		}
		inv := 1 / math.Sqrt(ms/float64(w)+eps)
		for i := 0; i < w; i++ {
			y[r*w+i] = x[r*w+i] * inv * W[i]
		}
	}
	return y
}

func refGelu(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }

func refGeluTanh(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
}

// refRotate applies rotate-half rotary embeddings with angles ang [hd/2] to vec [hd].
func refRotate(vec []float64, ang []float64) {
	hd := len(vec)
	out := make([]float64, hd)
	for i := 0; i < hd; i++ {
		a := ang[i%(hd/2)]
		var rot float64
		if i < hd/2 {
			rot = -vec[i+hd/2]
		} else {
			rot = vec[i-hd/2]
		}
		out[i] = vec[i]*math.Cos(a) + rot*math.Sin(a)
	}
	copy(vec, out)
}

// refAttention is softmax(q k^T / sqrt(hd) + mask) v for one head;
// allowed(i, j) says whether query i sees key j.
func refAttention(q, k, v [][]float64, allowed func(i, j int) bool) [][]float64 {
	hd := len(q[0])
	out := make([][]float64, len(q))
	for i := range q {
		sc := make([]float64, len(k))
		mx := math.Inf(-1)
		for j := range k {
			if !allowed(i, j) {
				sc[j] = math.Inf(-1)
				continue
			}
			d := 0.0
			for e := 0; e < hd; e++ {
				d += q[i][e] * k[j][e]
			}
			sc[j] = d / math.Sqrt(float64(hd))
			mx = math.Max(mx, sc[j])
		}
		sum := 0.0
		for j := range sc {
			sc[j] = math.Exp(sc[j] - mx)
			sum += sc[j]
		}
		out[i] = make([]float64, hd)
		for j := range k {
			for e := 0; e < hd; e++ {
				out[i][e] += sc[j] / sum * v[j][e]
			}
		}
	}
	return out
}

// refVisionQwen3 is transformers' Qwen3VLVisionModel forward for one video
// in float64: patch embedding with bias, the interpolated position grid
// built row-major and permuted to merge-block order, LayerNorm blocks with
// a gelu_pytorch_tanh MLP and per-slice attention, deepstack mergers after
// the listed blocks, the merger. It returns [N/4, (1+K)H] as the graph lays
// it out.
func refVisionQwen3(c Config, store *params.Store, patches []float64, g Grid) []float64 {
	v := c.VisionConfig
	D, heads := v.EmbedDim, v.NumHeads
	hd := D / heads
	P := c.PatchDim()
	S := g.GH * g.GW
	N := g.GT * S
	x := refLinear(store, patches, P, "visual.patch_embed.proj", true)
	// Position embedding: bilinear on the 48x48 grid, row-major, then merge-block order.
	pe := refTensor(store, "visual.pos_embed.weight")
	n := 48
	hs, ws := linspace32(0, float32(n-1), g.GH), linspace32(0, float32(n-1), g.GW)
	rowMajor := make([]float64, S*D)
	for r := 0; r < g.GH; r++ {
		for col := 0; col < g.GW; col++ {
			hf, wf := int(hs[r]), int(ws[col])
			hc, wc := min(hf+1, n-1), min(wf+1, n-1)
			dh, dw := float64(hs[r]-float32(hf)), float64(ws[col]-float32(wf))
			for d := 0; d < D; d++ {
				rowMajor[(r*g.GW+col)*D+d] = (1-dh)*(1-dw)*pe[(hf*n+wf)*D+d] + (1-dh)*dw*pe[(hf*n+wc)*D+d] +
					dh*(1-dw)*pe[(hc*n+wf)*D+d] + dh*dw*pe[(hc*n+wc)*D+d]
			}
		}
	}
	angles := make([]float64, S*hd/2)
	s := 0
	for br := 0; br < g.GH/2; br++ {
		for bc := 0; bc < g.GW/2; bc++ {
			for ir := 0; ir < 2; ir++ {
				for ic := 0; ic < 2; ic++ {
					r, col := br*2+ir, bc*2+ic
					for t := 0; t < g.GT; t++ {
						for d := 0; d < D; d++ {
							x[(t*S+s)*D+d] += rowMajor[(r*g.GW+col)*D+d]
						}
					}
					for j := 0; j < hd/4; j++ {
						inv := 1 / math.Pow(10000, float64(2*j)/float64(hd/2))
						angles[s*hd/2+j] = float64(r) * inv
						angles[s*hd/2+hd/4+j] = float64(col) * inv
					}
					s++
				}
			}
		}
	}
	var deepstack [][]float64
	for b := 0; b < v.Depth; b++ {
		p := fmt.Sprintf("visual.blocks.%d.", b)
		h := refLayerNorm(store, x, D, p+"norm1")
		qkv := refLinear(store, h, D, p+"attn.qkv", true)
		att := make([]float64, N*D)
		for hh := 0; hh < heads; hh++ {
			q, k, vv := make([][]float64, N), make([][]float64, N), make([][]float64, N)
			for i := 0; i < N; i++ {
				q[i] = slices.Clone(qkv[i*3*D+hh*hd : i*3*D+(hh+1)*hd])
				k[i] = slices.Clone(qkv[i*3*D+D+hh*hd : i*3*D+D+(hh+1)*hd])
				vv[i] = qkv[i*3*D+2*D+hh*hd : i*3*D+2*D+(hh+1)*hd]
				refRotate(q[i], angles[(i%S)*hd/2:(i%S+1)*hd/2])
				refRotate(k[i], angles[(i%S)*hd/2:(i%S+1)*hd/2])
			}
			o := refAttention(q, k, vv, func(i, j int) bool { return i/S == j/S })
			for i := range o {
				copy(att[i*D+hh*hd:], o[i])
			}
		}
		o := refLinear(store, att, D, p+"attn.proj", true)
		for i := range x {
			x[i] += o[i]
		}
		h = refLinear(store, refLayerNorm(store, x, D, p+"norm2"), D, p+"mlp.linear_fc1", true)
		for i := range h {
			h[i] = refGeluTanh(h[i])
		}
		o = refLinear(store, h, v.MLPDim(), p+"mlp.linear_fc2", true)
		for i := range x {
			x[i] += o[i]
		}
		if k := slices.Index(v.DeepstackVisualIndexes, b); k >= 0 {
			dp := fmt.Sprintf("visual.deepstack_merger_list.%d.", k)
			h := refLinear(store, refLayerNorm(store, x, 4*D, dp+"norm"), 4*D, dp+"linear_fc1", true)
			for i := range h {
				h[i] = refGelu(h[i])
			}
			deepstack = append(deepstack, refLinear(store, h, 4*D, dp+"linear_fc2", true))
		}
	}
	h := refLinear(store, refLayerNorm(store, x, D, "visual.merger.norm"), 4*D, "visual.merger.linear_fc1", true)
	for i := range h {
		h[i] = refGelu(h[i])
	}
	main := refLinear(store, h, 4*D, "visual.merger.linear_fc2", true)
	H := c.HiddenSize
	W := (1 + len(deepstack)) * H
	out := make([]float64, N/4*W)
	for r := 0; r < N/4; r++ {
		copy(out[r*W:], main[r*H:(r+1)*H])
		for k, f := range deepstack {
			copy(out[r*W+(k+1)*H:], f[r*H:(r+1)*H])
		}
	}
	return out
}

// refLMQwen3 is transformers' Qwen3VL text model with the tied head for one
// unpadded sequence: vision rows spliced at the video pads, q/k RMSNorm per
// head, interleaved M-RoPE, causal GQA, deepstack features added at the
// vision positions after layers 0..K-1. It returns the last position's logits.
func refLMQwen3(c Config, store *params.Store, ids []int, pos [3][]int64, vis []float64) []float64 {
	H, hd := c.HiddenSize, c.HeadDim()
	heads, kvh := c.NumAttentionHeads, c.NumKeyValueHeads
	L := len(ids)
	W := c.VisionEmbedWidth()
	emb := refTensor(store, "model.embed_tokens.weight")
	x := make([]float64, L*H)
	visRow := make([]int, L)
	k := 0
	for t, id := range ids {
		visRow[t] = -1
		if id == c.VideoTokenID {
			visRow[t] = k
			copy(x[t*H:], vis[k*W:k*W+H])
			k++
		} else {
			copy(x[t*H:], emb[id*H:(id+1)*H])
		}
	}
	sec := c.RopeScaling.MropeSection
	ang := make([][]float64, L)
	for t := range ang {
		ang[t] = make([]float64, hd/2)
		for j := 0; j < hd/2; j++ {
			axis := 0
			if j%3 == 1 && j < 3*sec[1] {
				axis = 1
			} else if j%3 == 2 && j < 3*sec[2] {
				axis = 2
			}
			ang[t][j] = float64(pos[axis][t]) / math.Pow(c.RopeTheta, float64(2*j)/float64(hd))
		}
	}
	eps := c.RMSNormEps
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		h := refRMSNorm(store, x, H, p+"input_layernorm.weight", eps)
		q := refRMSNorm(store, refLinear(store, h, H, p+"self_attn.q_proj", false), hd, p+"self_attn.q_norm.weight", eps)
		kk := refRMSNorm(store, refLinear(store, h, H, p+"self_attn.k_proj", false), hd, p+"self_attn.k_norm.weight", eps)
		vv := refLinear(store, h, H, p+"self_attn.v_proj", false)
		att := make([]float64, L*heads*hd)
		for hh := 0; hh < heads; hh++ {
			g := hh / (heads / kvh)
			qs, ks, vs := make([][]float64, L), make([][]float64, L), make([][]float64, L)
			for t := 0; t < L; t++ {
				qs[t] = slices.Clone(q[(t*heads+hh)*hd : (t*heads+hh+1)*hd])
				ks[t] = slices.Clone(kk[(t*kvh+g)*hd : (t*kvh+g+1)*hd])
				vs[t] = vv[(t*kvh+g)*hd : (t*kvh+g+1)*hd]
				refRotate(qs[t], ang[t])
				refRotate(ks[t], ang[t])
			}
			o := refAttention(qs, ks, vs, func(i, j int) bool { return j <= i })
			for t := range o {
				copy(att[(t*heads+hh)*hd:], o[t])
			}
		}
		o := refLinear(store, att, heads*hd, p+"self_attn.o_proj", false)
		for j := range x {
			x[j] += o[j]
		}
		h = refRMSNorm(store, x, H, p+"post_attention_layernorm.weight", eps)
		gate := refLinear(store, h, H, p+"mlp.gate_proj", false)
		up := refLinear(store, h, H, p+"mlp.up_proj", false)
		for j := range gate {
			gate[j] = gate[j] / (1 + math.Exp(-gate[j])) * up[j]
		}
		o = refLinear(store, gate, c.IntermediateSize, p+"mlp.down_proj", false)
		for j := range x {
			x[j] += o[j]
		}
		if i < len(c.VisionConfig.DeepstackVisualIndexes) {
			for t := 0; t < L; t++ {
				if r := visRow[t]; r >= 0 {
					for d := 0; d < H; d++ {
						x[t*H+d] += vis[r*W+(i+1)*H+d]
					}
				}
			}
		}
	}
	last := refRMSNorm(store, x[(L-1)*H:], H, "model.norm.weight", eps)
	logits := make([]float64, c.VocabSize)
	for v := range logits {
		for d := 0; d < H; d++ {
			logits[v] += last[d] * emb[v*H+d]
		}
	}
	return logits
}

// qwen3Prompt lays out a video the Qwen3-VL way: per temporal slice a
// timestamp text, <|vision_start|>, the slice's pads, <|vision_end|>.
func qwen3Prompt(c Config, pre []int, g Grid, post []int) []int {
	p := slices.Clone(pre)
	for t := 0; t < g.GT; t++ {
		p = append(p, 60+t, 61, c.VisionStartTokenID) // "<t.t seconds>"
		for i := 0; i < g.GH*g.GW/4; i++ {
			p = append(p, c.VideoTokenID)
		}
		p = append(p, c.VisionEndTokenID)
	}
	return append(p, post...)
}

// TestQwen3MatchesReference: the vision and prefill graphs of a synthetic
// Qwen3-VL checkpoint give the outputs of transformers' forward written out
// in plain Go (vision tower with deepstack; decoder with q/k norms,
// interleaved M-RoPE over the per-slice layout, deepstack injection).
func TestQwen3MatchesReference(t *testing.T) {
	rt := openRuntime(t)
	c, store := loadSynthetic(t, hfConfigQwen3VL(), hfCheckpoint{dtype: safetensors.BF16, shards: 2}, 7)
	g := Grid{GT: 2, GH: 8, GW: 6}
	patches, cos, sin, T, S := testVideos(c, []Grid{g}, 3)
	pd := onnx.ExportOptions{ParamData: ParamData(store)}
	vb, err := BuildVision(c, onnx.Float32)
	if err != nil {
		t.Fatal(err)
	}
	feeds := visionFeeds(c, onnx.Float32, patches, cos, sin, T, S)
	for k, v := range c.VisionExtraFeeds(g, onnx.Float32) {
		feeds[k] = v
	}
	ctx := context.Background()
	vout, err := newSession(t, rt, vb, pd).Run(ctx, feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := asFloat64(t, vout[OutVisionEmbed])
	want := refVisionQwen3(c, store, patches, g)
	d, spread := maxAbsDiff(want, got)
	if d > 1e-4*math.Max(1, spread) {
		t.Fatalf("vision graph differs from the reference by %g (spread %g)", d, spread)
	}
	t.Logf("vision: max |graph - reference| = %.3g (spread %.6g)", d, spread)

	// Prefill over the per-slice layout.
	vs := c.SliceVideos(c.NewVideos([]Grid{g}))
	prompt := qwen3Prompt(c, []int{9, 10}, g, []int{12, 13})
	batch, err := c.NewPromptBatch([][]int{prompt}, [][]int{{0, 1}}, vs, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := BuildPrefill(c, onnx.Float32)
	if err != nil {
		t.Fatal(err)
	}
	pf := batch.Feeds(onnx.Float32)
	pf[InVisionEmbeds] = vout[OutVisionEmbed]
	pout, err := newSession(t, rt, pb, pd).Run(ctx, pf, []string{OutLogits})
	if err != nil {
		t.Fatal(err)
	}
	pos, _, err := c.RopeIndex(prompt, nil, vs.Grids)
	if err != nil {
		t.Fatal(err)
	}
	// Slice 1 starts after slice 0's end token and its timestamp text.
	if p0 := slices.Index(prompt, c.VideoTokenID); pos[0][p0] != int64(p0) || pos[1][p0+1] != int64(p0) || pos[2][p0+1] != int64(p0)+1 {
		t.Fatalf("slice 0 positions t %v h %v w %v", pos[0][p0:p0+4], pos[1][p0:p0+4], pos[2][p0:p0+4])
	}
	ref := refLMQwen3(c, store, prompt, pos, want)
	lg := asFloat64(t, pout[OutLogits])
	d, spread = maxAbsDiff(ref, lg)
	if d > 1e-4*math.Max(1, spread) || spread < 0.1 {
		t.Fatalf("prefill logits differ from the reference by %g (spread %g)", d, spread)
	}
	t.Logf("prefill: max |graph - reference| = %.3g (spread %.6g, logits[:3] %.4g)", d, spread, lg[:3])
	// The deepstack features matter: dropping them changes the logits.
	flat := slices.Clone(want)
	for r := 0; r < len(flat)/c.VisionEmbedWidth(); r++ {
		clear(flat[r*c.VisionEmbedWidth()+c.HiddenSize : (r+1)*c.VisionEmbedWidth()])
	}
	if d2, _ := maxAbsDiff(refLMQwen3(c, store, prompt, pos, flat), ref); d2 < 100*d {
		t.Fatalf("deepstack changes the logits by only %g", d2)
	}
}

// TestHFQwen3VLRuns: a bf16 sharded synthetic Qwen3-VL checkpoint (hub
// names model.visual.* / model.language_model.*) loads and runs
// prefill/decode with KV-cache parity and SFT steps.
func TestHFQwen3VLRuns(t *testing.T) {
	rt := openRuntime(t)
	c, store := loadSynthetic(t, hfConfigQwen3VL(), hfCheckpoint{dtype: safetensors.BF16, shards: 3}, 8)
	// Two single-slice items per row, as a 2-slice Qwen3-VL video is laid out.
	d := checkKVParity(t, rt, c, store, []Grid{{GT: 1, GH: 8, GW: 6}, {GT: 1, GH: 8, GW: 6}}, 4)
	t.Logf("worst decode/prefill logit difference %.3g", d)
	trainSteps(t, rt, c, store, Grid{GT: 1, GH: 8, GW: 6}, 0.02, 3)
	// The older layout (visual.*, model.layers.*) loads as well.
	if _, _, err := writeAndLoad(t, hfConfigQwen3VL(), hfCheckpoint{dtype: safetensors.F16, storeNames: true}, 9); err != nil {
		t.Fatal(err)
	}
}

// TestQwen3TrainingGradients: finite differences on the Qwen3-VL GRPO
// training graph (position grid, patch bias, deepstack mergers, q/k norms,
// interleaved M-RoPE), float64.
func TestQwen3TrainingGradients(t *testing.T) {
	c := parseConfig(t, smallVocab3(hfConfigQwen3VL()))
	rt, b, store, feeds := archFDSetup(t, c, []Grid{{GT: 1, GH: 8, GW: 6}, {GT: 1, GH: 8, GW: 6}})
	specs := specsNamed(t, c,
		"visual.patch_embed.proj.bias", "visual.blocks.0.norm1.bias", "visual.blocks.0.attn.qkv.weight",
		"visual.blocks.1.mlp.linear_fc1.weight", "visual.blocks.2.mlp.linear_fc2.bias",
		"visual.deepstack_merger_list.0.norm.weight", "visual.deepstack_merger_list.1.linear_fc1.weight",
		"visual.merger.norm.bias", "visual.merger.linear_fc2.weight", "model.layers.0.self_attn.q_norm.weight",
		"model.layers.1.self_attn.k_norm.weight", "model.layers.2.self_attn.o_proj.weight", "model.embed_tokens.weight")
	coords := randomCoords(c, specs, 2)
	// pos_embed: only the rows the 8x6 grid taps get a gradient.
	idx, _ := c.PosEmbedTaps(Grid{GT: 1, GH: 8, GW: 6})
	D := c.VisionConfig.EmbedDim
	for _, r := range []int64{idx[0], idx[7], idx[4*20+2]} {
		coords = append(coords, fdCoord{"visual.pos_embed.weight", int(r)*D + int(r)%D})
	}
	fdCheckCoords(t, rt, b, store, feeds, coords, 1e-5)
}

// TestQwen3LoRANames: PEFT keys of a Qwen3-VL adapter follow the released
// module layout, and suffix targets reach the vision tower as in PEFT.
func TestQwen3LoRANames(t *testing.T) {
	c := parseConfig(t, hfConfigQwen3VL())
	c.LoRA = &LoRAConfig{Rank: 2, Alpha: 4, TargetModules: []string{"q_proj", "linear_fc1"}}
	mods, err := c.LoRAModules()
	if err != nil {
		t.Fatal(err)
	}
	// 3 decoder q_proj, 3 vision blocks, the merger and 2 deepstack mergers.
	if len(mods) != 3+3+1+2 {
		t.Fatalf("modules %v", mods)
	}
	if got, want := c.PEFTKey("model.layers.1.self_attn.q_proj.lora_A.weight"), "base_model.model.model.language_model.layers.1.self_attn.q_proj.lora_A.weight"; got != want {
		t.Fatalf("PEFT key %s, want %s", got, want)
	}
	if got, want := c.PEFTKey("visual.deepstack_merger_list.1.linear_fc1.lora_B.weight"), "base_model.model.model.visual.deepstack_merger_list.1.linear_fc1.lora_B.weight"; got != want {
		t.Fatalf("PEFT key %s, want %s", got, want)
	}
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapters(t, c, store, 2, 0.1)
	dir := t.TempDir()
	if err := SaveAdapters(dir, c, store, "Qwen/Qwen3-VL-4B-Instruct"); err != nil {
		t.Fatal(err)
	}
	base := c
	base.LoRA = nil
	fresh, err := base.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAdapters(dir, base, fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.Checksum() != store.Checksum() {
		t.Fatal("Qwen3-VL adapters did not round-trip")
	}
}

func TestQwen3Patchify(t *testing.T) {
	c := parseConfig(t, hfConfigQwen3VL())
	frame := make([]byte, 3*32*32)
	for i := range frame {
		frame[i] = byte(i % 256)
	}
	in, err := c.Patchify([][]byte{frame}, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if in.Grid != (Grid{GT: 1, GH: 2, GW: 2}) || len(in.Patches) != 4*c.PatchDim() {
		t.Fatalf("grid %v, %d values", in.Grid, len(in.Patches))
	}
	// First value: red channel of pixel (0,0) = 0 -> (0 - 0.5) / 0.5 = -1.
	// Second: red of pixel (1,0) = byte 3 -> (3/255 - 0.5) / 0.5.
	if in.Patches[0] != -1 || math.Abs(float64(in.Patches[1])-(3.0/255-0.5)/0.5) > 1e-6 {
		t.Fatalf("patch values %v", in.Patches[:2])
	}
}

// BenchmarkPosEmbedTaps: the position-grid taps of a 512x512 frame (32x32 patches).
func BenchmarkPosEmbedTaps(b *testing.B) {
	c := parseConfig(b, hfConfigQwen3VL())
	g := Grid{GT: 1, GH: 32, GW: 32}
	for b.Loop() {
		_ = c.VisionExtraFeeds(g, onnx.Float32)
	}
}
