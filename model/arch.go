package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/videossr/videossr-go/model/onnx"
)

// arch emits the Qwen2-VL computation into one graph. It owns the mapping
// from Hugging Face weight names to graph parameters, so every graph of the
// model refers to the same names.
type arch struct {
	g      *onnx.Graph
	c      Config
	specs  map[string]ParamSpec
	params map[string]*onnx.Value // in the compute type
	raw    map[string]*onnx.Value // as held (see rawParam)
	// staticCache makes the decoder read its past keys and values from
	// fixed-size cache buffers without concatenating the new ones (see
	// BuildDecodeStatic).
	staticCache bool
	// training marks the training graphs: LoRA dropout applies there only.
	training bool
	// lora holds the module paths with adapters (nil without LoRA).
	lora map[string]bool
	// deepstack holds Qwen3-VL's deepstack features [B,L,H] (zero outside
	// vision positions) that the decoder adds after layers 0, 1, ...; set
	// by embed.
	deepstack []*onnx.Value
	// recompute marks every vision block's and decoder layer's input (and
	// each loop's output) with onnx Checkpoint, the segments that
	// GradientsWith recomputes in the backward pass (BuildTrain with
	// LossConfig.Recompute).
	recompute bool
}

// checkpoint marks x as a recomputation boundary when a.recompute is set.
func (a *arch) checkpoint(x *onnx.Value) *onnx.Value {
	if !a.recompute {
		return x
	}
	return a.g.Checkpoint(x)
}

func newArch(g *onnx.Graph, c Config) *arch {
	a := &arch{g: g, c: c, specs: map[string]ParamSpec{}, params: map[string]*onnx.Value{}, raw: map[string]*onnx.Value{}}
	for _, s := range c.ParamSpecs() {
		a.specs[s.Name] = s
	}
	if mods, err := c.LoRAModules(); err == nil && len(mods) > 0 {
		a.lora = map[string]bool{}
		for _, m := range mods {
			a.lora[m] = true
		}
	}
	return a
}

// adapter adds the LoRA term scale * B(A(x)) of module path to y when the
// module is adapted.
func (a *arch) adapter(x, y *onnx.Value, path string) *onnx.Value {
	if !a.lora[path] {
		return y
	}
	g := a.g
	an, bn := LoRAParamNames(path)
	if p := a.c.LoRA.Dropout; a.training && p > 0 {
		// PEFT's lora_dropout on the adapter input, training graphs only;
		// each module draws from its own seeded stream.
		x = g.Dropout(x, p, loraDropoutSeed(path))
	}
	d := g.MatMul(g.MatMul(x, g.Transpose(a.param(an), 1, 0)), g.Transpose(a.param(bn), 1, 0))
	return g.Add(y, g.Mul(d, g.Scalar(a.c.LoRA.Scale())))
}

// param returns the graph parameter of a weight in the compute type,
// creating it on first use: a weight held in half precision is cast.
func (a *arch) param(name string) *onnx.Value {
	if p, ok := a.params[name]; ok {
		return p
	}
	p := a.rawParam(name)
	if p.DType != a.g.Float() {
		p = a.g.Cast(p, a.g.Float())
	}
	a.params[name] = p
	return p
}

// rawParam returns the graph input of a weight as it is held: the compute
// type, or BFloat16/Float16 for a frozen base kept in half precision.
func (a *arch) rawParam(name string) *onnx.Value {
	if p, ok := a.raw[name]; ok {
		return p
	}
	var p *onnx.Value
	if s, ok := a.specs[name]; !ok {
		// A programming error in this package: surface it as a build error.
		p = a.g.Param("missing."+name, []int64{0})
	} else if dt := graphDType(a.c.ParamDType(name)); dt != onnx.Float32 {
		p = a.g.ParamOf(name, s.Shape, dt)
	} else {
		p = a.g.Param(name, s.Shape)
	}
	a.raw[name] = p
	return p
}

// gatherRows looks rows of a weight up (embeddings): a half-precision
// table is gathered first and only the rows are cast, not the table.
func (a *arch) gatherRows(name string, ids *onnx.Value) *onnx.Value {
	w := a.rawParam(name)
	e := a.g.Gather(w, ids, 0)
	if w.DType != a.g.Float() {
		e = a.g.Cast(e, a.g.Float())
	}
	return e
}

// linear is torch.nn.Linear: x W^T (+ b).
func (a *arch) linear(x *onnx.Value, prefix string, bias bool) *onnx.Value {
	g := a.g
	y := g.MatMul(x, g.Transpose(a.param(prefix+".weight"), 1, 0))
	if bias {
		y = g.Add(y, a.param(prefix+".bias"))
	}
	return a.adapter(x, y, prefix)
}

// layerNorm normalises the last axis to zero mean and unit variance, then
// applies the weight and bias of prefix.
func (a *arch) layerNorm(x *onnx.Value, prefix string, eps float64) *onnx.Value {
	g := a.g
	mu := g.ReduceMean(x, []int64{-1}, true)
	xc := g.Sub(x, mu)
	variance := g.ReduceMean(g.Mul(xc, xc), []int64{-1}, true)
	y := g.Mul(xc, g.Reciprocal(g.Sqrt(g.Add(variance, g.Scalar(eps)))))
	return g.Add(g.Mul(y, a.param(prefix+".weight")), a.param(prefix+".bias"))
}

// rmsNorm is Qwen2RMSNorm with the decoder's eps: x / sqrt(mean(x^2) + eps) * weight.
func (a *arch) rmsNorm(x *onnx.Value, name string) *onnx.Value {
	return a.rmsNormEps(x, name, a.c.RMSNormEps)
}

// rmsNormEps is Qwen2RMSNorm over the last axis with weight name and eps.
func (a *arch) rmsNormEps(x *onnx.Value, name string, eps float64) *onnx.Value {
	g := a.g
	ms := g.ReduceMean(g.Mul(x, x), []int64{-1}, true)
	y := g.Mul(x, g.Reciprocal(g.Sqrt(g.Add(ms, g.Scalar(eps)))))
	return g.Mul(y, a.param(name))
}

// rotateHalf maps the halves (x1, x2) of the last axis to (-x2, x1).
func (a *arch) rotateHalf(x *onnx.Value, dim int64) *onnx.Value {
	g := a.g
	parts := g.Split(x, -1, []int64{dim / 2, dim / 2})
	return g.Concat(-1, g.Neg(parts[1]), parts[0])
}

// rope applies rotary embeddings: x*cos + rotate_half(x)*sin.
func (a *arch) rope(x, cos, sin *onnx.Value, dim int64) *onnx.Value {
	g := a.g
	return g.Add(g.Mul(x, cos), g.Mul(a.rotateHalf(x, dim), sin))
}

// visionIn are the vision graph inputs.
type visionIn struct {
	patches, cos, sin *onnx.Value
	// windowBias [S,S] is Qwen2.5-VL's window-attention bias (nil otherwise).
	windowBias *onnx.Value
	// posIndex [S,4] int64 and posWeight [S,4] are Qwen3-VL's bilinear taps
	// into the learned position grid (nil otherwise).
	posIndex, posWeight *onnx.Value
}

// visionTower runs the vision encoder and patch merger of the model type.
// patches: [T, S, C*2*p*p] (T temporal slices, S patches per slice in the
// processor's row order); cos, sin: [S, head_dim] 2-D rotary tables.
// Attention stays within one temporal slice, as in Qwen2-VL (cu_seqlens);
// Qwen2.5-VL blocks outside fullatt_block_indexes also stay within windows
// (windowBias). Returns the merged tokens [T*S/4, VisionEmbedWidth()] in
// order (Qwen3-VL: the deepstack features follow the main tokens on the
// last axis).
func (a *arch) visionTower(in visionIn) *onnx.Value {
	g := a.g
	v := a.c.VisionConfig
	mt := a.c.ModelType
	D := int64(v.EmbedDim)
	heads := int64(v.NumHeads)
	hd := D / heads
	w := g.Reshape(a.param("visual.patch_embed.proj.weight"), []int64{D, int64(a.c.PatchDim())})
	x := g.MatMul(in.patches, g.Transpose(w, 1, 0)) // [T,S,D]
	if mt == ModelQwen3VL {
		x = g.Add(x, a.param("visual.patch_embed.proj.bias"))
		x = g.Add(x, a.visionPosEmbed(in.posIndex, in.posWeight))
	}
	norm := func(x *onnx.Value, prefix string) *onnx.Value {
		if mt == ModelQwen25VL {
			return a.rmsNormEps(x, prefix+".weight", 1e-6)
		}
		return a.layerNorm(x, prefix, 1e-6)
	}
	scale := g.Scalar(1 / math.Sqrt(float64(hd)))
	var deepstack []*onnx.Value
	for i := 0; i < v.Depth; i++ {
		x = a.checkpoint(x) // recomputation boundary (LossConfig.Recompute)
		p := fmt.Sprintf("visual.blocks.%d.", i)
		h := norm(x, p+"norm1")
		qkv := g.Reshape(a.linear(h, p+"attn.qkv", true), []int64{0, 0, 3, heads, hd}) // [T,S,3,h,hd]
		qkv = g.Transpose(qkv, 2, 0, 3, 1, 4)                                          // [3,T,h,S,hd]
		parts := g.Split(qkv, 0, []int64{1, 1, 1})
		q := a.rope(g.Squeeze(parts[0], 0), in.cos, in.sin, hd)
		k := a.rope(g.Squeeze(parts[1], 0), in.cos, in.sin, hd)
		val := g.Squeeze(parts[2], 0)
		scores := g.Mul(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)), scale)
		if mt == ModelQwen25VL && !slices.Contains(v.FullAttBlockIndexes, i) {
			scores = g.Add(scores, in.windowBias)
		}
		att := g.MatMul(g.Softmax(scores, -1), val)                     // [T,h,S,hd]
		att = g.Reshape(g.Transpose(att, 0, 2, 1, 3), []int64{0, 0, D}) // [T,S,D]
		x = g.Add(x, a.linear(att, p+"attn.proj", true))
		h = norm(x, p+"norm2")
		switch mt {
		case ModelQwen25VL:
			gate := a.linear(h, p+"mlp.gate_proj", true)
			h = a.linear(g.Mul(silu(g, gate), a.linear(h, p+"mlp.up_proj", true)), p+"mlp.down_proj", true)
		case ModelQwen3VL:
			h = a.linear(a.visionAct(a.linear(h, p+"mlp.linear_fc1", true)), p+"mlp.linear_fc2", true)
		default:
			h = a.linear(a.visionAct(a.linear(h, p+"mlp.fc1", true)), p+"mlp.fc2", true)
		}
		x = g.Add(x, h)
		if mt == ModelQwen3VL {
			if k := slices.Index(v.DeepstackVisualIndexes, i); k >= 0 {
				for len(deepstack) <= k {
					deepstack = append(deepstack, nil)
				}
				deepstack[k] = a.deepstackMerger(x, k)
			}
		}
	}
	x = a.checkpoint(x) // end of the last recomputed vision block
	m := int64(v.SpatialMergeSize * v.SpatialMergeSize)
	if mt == ModelQwen3VL {
		h := a.layerNorm(x, "visual.merger.norm", 1e-6)
		h = g.Reshape(h, []int64{-1, D * m})
		h = gelu(g, a.linear(h, "visual.merger.linear_fc1", true))
		out := []*onnx.Value{a.linear(h, "visual.merger.linear_fc2", true)}
		return g.Concat(1, append(out, deepstack...)...)
	}
	h := norm(x, "visual.merger.ln_q")
	h = g.Reshape(h, []int64{-1, D * m})
	h = gelu(g, a.linear(h, "visual.merger.mlp.0", true))
	return a.linear(h, "visual.merger.mlp.2", true)
}

// visionAct is the vision MLP activation of vision_config.hidden_act.
func (a *arch) visionAct(h *onnx.Value) *onnx.Value {
	g := a.g
	switch a.c.VisionConfig.HiddenAct {
	case "quick_gelu":
		return g.Mul(h, g.Sigmoid(g.Mul(h, g.Scalar(1.702))))
	case "gelu_pytorch_tanh":
		return geluTanh(g, h)
	}
	return gelu(g, h)
}

// silu is x * sigmoid(x).
func silu(g *onnx.Graph, x *onnx.Value) *onnx.Value { return g.Mul(x, g.Sigmoid(x)) }

// geluTanh is the tanh approximation of GELU (gelu_pytorch_tanh):
// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), with tanh(u) written as
// 2 sigmoid(2u) - 1 so float64 graphs run on ONNX Runtime.
func geluTanh(g *onnx.Graph, x *onnx.Value) *onnx.Value {
	u := g.Mul(g.Add(x, g.Mul(g.Mul(g.Mul(x, x), x), g.Scalar(0.044715))), g.Scalar(math.Sqrt(2/math.Pi)))
	// 0.5 (1 + tanh(u)) = sigmoid(2u)
	return g.Mul(x, g.Sigmoid(g.Mul(u, g.Scalar(2))))
}

// gelu is the exact (erf) GELU.
func gelu(g *onnx.Graph, x *onnx.Value) *onnx.Value {
	z := g.Mul(x, g.Scalar(1/math.Sqrt2))
	var e *onnx.Value
	if g.Float() == onnx.Float64 {
		e = erfSeries(g, z)
	} else {
		e = g.Erf(z)
	}
	return g.Mul(g.Mul(x, g.Scalar(0.5)), g.Add(e, g.Scalar(1)))
}

// erfSeries computes erf for float64 graphs, which ONNX Runtime cannot run
// with its Erf kernel (float32 only): the Maclaurin series
// 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)) on x clamped to [-4, 4]
// (absolute error below 2e-8 at the clamp, where erf(4) = 1 - 1.5e-8, and
// about 1e-11 from cancellation inside), evaluated by Horner's rule in x^2.
// Float64 graphs exist for gradient checks, where this precision is ample.
func erfSeries(g *onnx.Graph, x *onnx.Value) *onnx.Value {
	const terms = 64
	xc := g.Clip(x, -4, 4)
	x2 := g.Mul(xc, xc)
	// Coefficients c_n = (-1)^n / (n! (2n+1)).
	coef := make([]float64, terms)
	fact := 1.0
	for n := 0; n < terms; n++ {
		if n > 0 {
			fact *= float64(n)
		}
		c := 1 / (fact * float64(2*n+1))
		if n%2 == 1 {
			c = -c
		}
		coef[n] = c
	}
	acc := g.Scalar(coef[terms-1])
	for n := terms - 2; n >= 0; n-- {
		acc = g.Add(g.Mul(acc, x2), g.Scalar(coef[n]))
	}
	return g.Mul(g.Mul(acc, xc), g.Scalar(2/math.SqrtPi))
}

// embed looks up token embeddings and, where mask is 1, replaces them with
// the vision embeddings visionEmbeds[index] (Qwen2-VL splices the merged
// vision tokens into the <|video_pad|> positions in order).
// ids, index: [B,L] int64; mask: [B,L] float; visionEmbeds: [N,H].
//
// For Qwen3-VL, visionEmbeds is [N,(1+K)H]: the first H columns are spliced,
// and the K deepstack features, gathered the same way and masked to the
// vision positions, are kept in a.deepstack for the decoder to add after
// layers 0..K-1.
func (a *arch) embed(ids, visionEmbeds, index, mask *onnx.Value) *onnx.Value {
	g := a.g
	e := a.gatherRows("model.embed_tokens.weight", ids)
	if visionEmbeds == nil {
		return e
	}
	m := g.Unsqueeze(mask, 2)
	H := int64(a.c.HiddenSize)
	main := visionEmbeds
	if K := int64(len(a.c.VisionConfig.DeepstackVisualIndexes)); a.c.ModelType == ModelQwen3VL && K > 0 {
		main = g.Slice(visionEmbeds, []int64{0}, []int64{H}, []int64{1}, nil)
		a.deepstack = nil
		for k := int64(1); k <= K; k++ {
			f := g.Slice(visionEmbeds, []int64{k * H}, []int64{(k + 1) * H}, []int64{1}, nil)
			a.deepstack = append(a.deepstack, g.Mul(g.Gather(f, index, 0), m))
		}
	}
	vis := g.Gather(main, index, 0)
	return g.Add(e, g.Mul(g.Sub(vis, e), m))
}

// mrope builds the multimodal rotary cos/sin tables [B,1,L,head_dim] from
// position ids [3,B,L] (t, h, w): frequency j uses the t, h or w position
// according to mrope_section: in contiguous sections (Qwen2-VL,
// Qwen2.5-VL) or interleaved (Qwen3-VL).
func (a *arch) mrope(pos *onnx.Value) (cos, sin *onnx.Value) {
	g := a.g
	hd := a.c.HeadDim()
	half := hd / 2
	inv := make([]float64, half)
	for j := range inv {
		inv[j] = 1 / math.Pow(a.c.RopeTheta, float64(2*j)/float64(hd))
	}
	p := g.Unsqueeze(g.Cast(pos, g.Float()), 3)            // [3,B,L,1]
	freqs := g.Mul(p, g.ConstF(inv, []int64{int64(half)})) // [3,B,L,half]
	sec := a.c.RopeScaling.MropeSection
	var f *onnx.Value
	if a.c.RopeScaling.MropeInterleaved {
		// Qwen3-VL: frequency j takes h when j%3 == 1 and j < 3*sec[1], w
		// when j%3 == 2 and j < 3*sec[2], t otherwise; selected by a one-hot
		// mask over the axis (exact: the other terms are 0*x).
		sel := make([]float64, 3*half)
		for j := 0; j < half; j++ {
			axis := 0
			switch {
			case j%3 == 1 && j < 3*sec[1]:
				axis = 1
			case j%3 == 2 && j < 3*sec[2]:
				axis = 2
			}
			sel[axis*half+j] = 1
		}
		f = g.ReduceSum(g.Mul(freqs, g.ConstF(sel, []int64{3, 1, 1, int64(half)})), []int64{0}, true) // [1,B,L,half]
	} else {
		var chunks []*onnx.Value
		start := int64(0)
		for axis, s := range sec {
			chunks = append(chunks, g.Slice(freqs, []int64{int64(axis), start}, []int64{int64(axis) + 1, start + int64(s)}, []int64{0, 3}, nil))
			start += int64(s)
		}
		f = g.Concat(3, chunks...) // [1,B,L,half]
	}
	f = g.Concat(3, f, f)          // [1,B,L,hd]
	f = g.Transpose(f, 1, 0, 2, 3) // [B,1,L,hd]
	if g.Float() == onnx.Float64 {
		// ONNX Runtime has no float64 Cos/Sin kernels. The tables depend on
		// positions only (no gradient flows through them), so float64 graphs,
		// used for gradient checks, take them in float32 like HF does.
		f32 := g.Cast(f, onnx.Float32)
		return g.Cast(g.Cos(f32), onnx.Float64), g.Cast(g.Sin(f32), onnx.Float64)
	}
	return g.Cos(f), g.Sin(f)
}

// kv is one layer's key and value cache [B, kv_heads, P, head_dim].
type kv struct{ k, v *onnx.Value }

// decoder runs the Qwen2 decoder layers and the final norm.
// x: [B,L,H] embeddings; pos: [3,B,L]; bias: [B,1,L,P+L] additive attention
// bias (0 = attend, large negative = masked); past: per-layer caches or nil.
// Returns the hidden states [B,L,H] and the per-layer present caches.
func (a *arch) decoder(x, pos, bias *onnx.Value, past []kv) (*onnx.Value, []kv) {
	g := a.g
	c := a.c
	heads := int64(c.NumAttentionHeads)
	kvh := int64(c.NumKeyValueHeads)
	hd := int64(c.HeadDim())
	cos, sin := a.mrope(pos)
	scale := g.Scalar(1 / math.Sqrt(float64(hd)))
	bias5 := g.Unsqueeze(bias, 2) // [B,1,1,L,Lk]
	qkvBias := c.ModelType != ModelQwen3VL
	present := make([]kv, c.NumHiddenLayers)
	for i := 0; i < c.NumHiddenLayers; i++ {
		x = a.checkpoint(x) // recomputation boundary (LossConfig.Recompute)
		p := fmt.Sprintf("model.layers.%d.", i)
		h := a.rmsNorm(x, p+"input_layernorm.weight")
		q := g.Reshape(a.linear(h, p+"self_attn.q_proj", qkvBias), []int64{0, 0, heads, hd})
		k := g.Reshape(a.linear(h, p+"self_attn.k_proj", qkvBias), []int64{0, 0, kvh, hd})
		v := g.Transpose(g.Reshape(a.linear(h, p+"self_attn.v_proj", qkvBias), []int64{0, 0, kvh, hd}), 0, 2, 1, 3)
		if !qkvBias { // Qwen3: RMSNorm of every head before the rotary
			q = a.rmsNorm(q, p+"self_attn.q_norm.weight")
			k = a.rmsNorm(k, p+"self_attn.k_norm.weight")
		}
		q, k = g.Transpose(q, 0, 2, 1, 3), g.Transpose(k, 0, 2, 1, 3)
		q = a.rope(q, cos, sin, hd)
		k = a.rope(k, cos, sin, hd)
		q5 := g.Reshape(q, []int64{0, kvh, heads / kvh, -1, hd}) // [B,kvh,rep,L,hd]
		var att *onnx.Value
		if past != nil && a.staticCache {
			// Scores over the cache buffer and over the new key are computed
			// apart and joined, so the cache is read once and never copied;
			// only the new key and value leave the graph.
			present[i] = kv{k, v}
			kp, vp := g.Unsqueeze(past[i].k, 2), g.Unsqueeze(past[i].v, 2) // [B,kvh,1,C,hd]
			kn, vn := g.Unsqueeze(k, 2), g.Unsqueeze(v, 2)                 // [B,kvh,1,1,hd]
			sp := g.MatMul(q5, g.Transpose(kp, 0, 1, 2, 4, 3))
			sn := g.MatMul(q5, g.Transpose(kn, 0, 1, 2, 4, 3))
			probs := g.Softmax(g.Add(g.Mul(g.Concat(4, sp, sn), scale), bias5), -1) // [B,kvh,rep,1,C+1]
			pp := g.Slice(probs, []int64{0}, []int64{-1}, []int64{4}, nil)
			pn := g.Slice(probs, []int64{-1}, []int64{1 << 62}, []int64{4}, nil)
			att = g.Add(g.MatMul(pp, vp), g.MatMul(pn, vn))
		} else {
			if past != nil {
				k = g.Concat(2, past[i].k, k)
				v = g.Concat(2, past[i].v, v)
			}
			present[i] = kv{k, v}
			k5 := g.Unsqueeze(k, 2) // [B,kvh,1,Lk,hd]
			v5 := g.Unsqueeze(v, 2)
			scores := g.Add(g.Mul(g.MatMul(q5, g.Transpose(k5, 0, 1, 2, 4, 3)), scale), bias5)
			att = g.MatMul(g.Softmax(scores, -1), v5) // [B,kvh,rep,L,hd]
		}
		att = g.Reshape(att, []int64{0, heads, -1, hd})                          // [B,h,L,hd]
		att = g.Reshape(g.Transpose(att, 0, 2, 1, 3), []int64{0, 0, heads * hd}) // [B,L,H]
		x = g.Add(x, a.linear(att, p+"self_attn.o_proj", false))
		h = a.rmsNorm(x, p+"post_attention_layernorm.weight")
		gate := a.linear(h, p+"mlp.gate_proj", false)
		up := a.linear(h, p+"mlp.up_proj", false)
		x = g.Add(x, a.linear(g.Mul(g.Mul(gate, g.Sigmoid(gate)), up), p+"mlp.down_proj", false))
		if i < len(a.deepstack) {
			x = g.Add(x, a.deepstack[i]) // Qwen3-VL deepstack feature i at the vision positions
		}
	}
	x = a.checkpoint(x) // end of the last recomputed decoder layer
	return a.rmsNorm(x, "model.norm.weight"), present
}

// lmHead maps hidden states to vocabulary logits (tied to the embeddings
// when tie_word_embeddings is set).
func (a *arch) lmHead(h *onnx.Value) *onnx.Value {
	name := "lm_head.weight"
	if a.c.TieWordEmbeddings {
		name = "model.embed_tokens.weight"
	}
	return a.adapter(h, a.g.MatMul(h, a.g.Transpose(a.param(name), 1, 0)), "lm_head")
}
