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
	mlp := int64(float64(v.EmbedDim) * v.MLPRatio)
	H := int64(c.HiddenSize)
	kv := int64(c.NumKeyValueHeads * c.HeadDim())
	I := int64(c.IntermediateSize)
	V := int64(c.VocabSize)
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
	add("visual.patch_embed.proj.weight", InitNormal, D, int64(v.InChans), int64(v.TemporalPatchSize), int64(v.PatchSize), int64(v.PatchSize))
	for i := 0; i < v.Depth; i++ {
		p := fmt.Sprintf("visual.blocks.%d.", i)
		add(p+"norm1.weight", InitOnes, D)
		add(p+"norm1.bias", InitZeros, D)
		add(p+"norm2.weight", InitOnes, D)
		add(p+"norm2.bias", InitZeros, D)
		linear(p+"attn.qkv", 3*D, D, true)
		linear(p+"attn.proj", D, D, true)
		linear(p+"mlp.fc1", mlp, D, true)
		linear(p+"mlp.fc2", D, mlp, true)
	}
	m := D * int64(v.SpatialMergeSize*v.SpatialMergeSize)
	add("visual.merger.ln_q.weight", InitOnes, D)
	add("visual.merger.ln_q.bias", InitZeros, D)
	linear("visual.merger.mlp.0", m, m, true)
	linear("visual.merger.mlp.2", H, m, true)
	add("model.embed_tokens.weight", InitNormal, V, H)
	for i := 0; i < c.NumHiddenLayers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"input_layernorm.weight", InitOnes, H)
		linear(p+"self_attn.q_proj", H, H, true)
		linear(p+"self_attn.k_proj", kv, H, true)
		linear(p+"self_attn.v_proj", kv, H, true)
		linear(p+"self_attn.o_proj", H, H, false)
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
