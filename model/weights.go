package model

import "fmt"

// Init says how a parameter is initialised.
type Init int

const (
	// InitNormal draws from N(0, InitStd^2), as HF's initializer_range does.
	InitNormal Init = iota
	// InitZeros sets every element to 0 (biases).
	InitZeros
	// InitOnes sets every element to 1 (norm weights).
	InitOnes
	// InitKaimingUniform draws from U(-1/sqrt(in), 1/sqrt(in)) with in the
	// last dimension: torch's kaiming_uniform_(a=sqrt(5)), PEFT's LoRA A init.
	InitKaimingUniform
)

// InitStd is the standard deviation of normal initialisation (HF initializer_range).
const InitStd = 0.02

// ParamSpec names one trainable tensor with its Hugging Face weight name.
type ParamSpec struct {
	Name  string
	Shape []int64
	Init  Init
}

// Size is the number of elements of the parameter.
func (p ParamSpec) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= int(d)
	}
	return n
}

// ParamSpecs lists every parameter of the model in a fixed order, with the
// Hugging Face Qwen2-VL weight names and shapes; with LoRA the adapter
// weights follow the base weights.
func (c Config) ParamSpecs() []ParamSpec {
	return append(c.baseParamSpecs(), c.loraSpecs()...)
}

// baseParamSpecs lists the weights of the model without adapters.
func (c Config) baseParamSpecs() []ParamSpec {
	v := c.VisionConfig
	D := int64(v.EmbedDim)
	mlp := int64(v.MLPDim())
	H := int64(c.HiddenSize)
	q := int64(c.NumAttentionHeads * c.HeadDim())
	kv := int64(c.NumKeyValueHeads * c.HeadDim())
	hd := int64(c.HeadDim())
	I := int64(c.IntermediateSize)
	V := int64(c.VocabSize)
	v2, v25, v3 := c.ModelType == ModelQwen2VL, c.ModelType == ModelQwen25VL, c.ModelType == ModelQwen3VL
	var ps []ParamSpec
	add := func(name string, init Init, shape ...int64) {
		ps = append(ps, ParamSpec{Name: name, Shape: shape, Init: init})
	}
	linear := func(prefix string, out, in int64, bias bool) {
		add(prefix+".weight", InitNormal, out, in)
		if bias {
			add(prefix+".bias", InitZeros, out)
		}
	}
	norm := func(prefix string, width int64, bias bool) {
		add(prefix+".weight", InitOnes, width)
		if bias {
			add(prefix+".bias", InitZeros, width)
		}
	}
	m := D * int64(v.SpatialMergeSize*v.SpatialMergeSize)
	// Vision tower. Norms: LayerNorm (weight, bias) except Qwen2.5-VL's RMSNorm (weight).
	add("visual.patch_embed.proj.weight", InitNormal, D, int64(v.InChans), int64(v.TemporalPatchSize), int64(v.PatchSize), int64(v.PatchSize))
	if v3 {
		add("visual.patch_embed.proj.bias", InitZeros, D)
		add("visual.pos_embed.weight", InitNormal, int64(v.NumPositionEmbeddings), D)
	}
	for i := 0; i < v.Depth; i++ {
		p := fmt.Sprintf("visual.blocks.%d.", i)
		norm(p+"norm1", D, !v25)
		norm(p+"norm2", D, !v25)
		linear(p+"attn.qkv", 3*D, D, true)
		linear(p+"attn.proj", D, D, true)
		switch {
		case v25:
			linear(p+"mlp.gate_proj", mlp, D, true)
			linear(p+"mlp.up_proj", mlp, D, true)
			linear(p+"mlp.down_proj", D, mlp, true)
		case v3:
			linear(p+"mlp.linear_fc1", mlp, D, true)
			linear(p+"mlp.linear_fc2", D, mlp, true)
		default:
			linear(p+"mlp.fc1", mlp, D, true)
			linear(p+"mlp.fc2", D, mlp, true)
		}
	}
	if v3 {
		norm("visual.merger.norm", D, true)
		linear("visual.merger.linear_fc1", m, m, true)
		linear("visual.merger.linear_fc2", H, m, true)
		for k := range v.DeepstackVisualIndexes {
			p := fmt.Sprintf("visual.deepstack_merger_list.%d.", k)
			norm(p+"norm", m, true)
			linear(p+"linear_fc1", m, m, true)
			linear(p+"linear_fc2", H, m, true)
		}
	} else {
		norm("visual.merger.ln_q", D, v2)
		linear("visual.merger.mlp.0", m, m, true)
		linear("visual.merger.mlp.2", H, m, true)
	}
	// Language model: Qwen2 (q/k/v biases) or Qwen3 (no biases, q/k norms).
	add("model.embed_tokens.weight", InitNormal, V, H)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", InitOnes, H)
		linear(p+"self_attn.q_proj", q, H, !v3)
		linear(p+"self_attn.k_proj", kv, H, !v3)
		linear(p+"self_attn.v_proj", kv, H, !v3)
		linear(p+"self_attn.o_proj", H, q, false)
		if v3 {
			add(p+"self_attn.q_norm.weight", InitOnes, hd)
			add(p+"self_attn.k_norm.weight", InitOnes, hd)
		}
		add(p+"post_attention_layernorm.weight", InitOnes, H)
		linear(p+"mlp.gate_proj", I, H, false)
		linear(p+"mlp.up_proj", I, H, false)
		linear(p+"mlp.down_proj", H, I, false)
	}
	add("model.norm.weight", InitOnes, H)
	if !c.TieWordEmbeddings {
		linear("lm_head", V, H, false)
	}
	return ps
}

// NumParams is the total number of trainable scalars.
func (c Config) NumParams() int {
	n := 0
	for _, p := range c.ParamSpecs() {
		n += p.Size()
	}
	return n
}
