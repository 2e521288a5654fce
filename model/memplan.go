package model

import (
	"errors"
	"fmt"
)

// PlanInput sizes one GRPO run for PlanMemory.
type PlanInput struct {
	// Batch is the number of prompts per step and Group the responses
	// sampled per prompt (G); the rollout holds Batch x Group sequences.
	Batch, Group int
	// ChunkPrompts is how many prompts are rolled out together (0 or more
	// than Batch: all); the KV cache holds ChunkPrompts x Group sequences.
	ChunkPrompts int
	// PromptLen is the prompt length in tokens, vision tokens included, and
	// ResponseLen the longest response (rollout max_new_tokens).
	PromptLen, ResponseLen int
	// MicroBatch is the number of sequences in one training micro-batch;
	// 0 means all Batch x Group at once.
	MicroBatch int
	// WeightBytes is the size of one weight, KV-cache or activation value:
	// 2 for bf16/f16, 4 for f32; 0 means 4.
	WeightBytes int
	// FrozenWeightBytes is the size of one frozen weight (the parameters
	// beyond Trainable): 2 for a LoRA base held in bf16/f16; 0 means
	// WeightBytes.
	FrozenWeightBytes int
	// Trainable is the number of parameters that get gradients and AdamW
	// moments: every parameter for full fine-tuning, the adapter parameters
	// for LoRA.
	Trainable int64
	// Recompute is activation recomputation (gradient checkpointing): only
	// each decoder layer's input is kept for the backward pass.
	Recompute bool
	// Reference is true when a frozen copy of the weights is held for the KL
	// penalty (full fine-tuning with kl_coef > 0; with LoRA the frozen base
	// is the reference and no copy is needed).
	Reference bool
}

// MemoryPlan is the memory estimate of a run, in bytes, as PlanMemory
// computes it. Weights, Gradients and Optimizer live for the whole run; the
// KV cache lives during the rollout and Activations during the training
// pass, which do not overlap, so Total counts only the larger of the two.
type MemoryPlan struct {
	Weights, KVCache, Activations, Gradients, Optimizer, Total int64
	// Lines is the plan in words, one item per line, for printing before a
	// run.
	Lines []string
	// in is the input the plan was made from (for Check's advice).
	in PlanInput
}

// ErrOutOfMemory is wrapped by MemoryPlan.Check when the plan does not fit.
var ErrOutOfMemory = errors.New("memory plan does not fit")

// PlanMemory estimates the memory a GRPO run of the model c needs:
//
//	weights      Trainable x WeightBytes + (P - Trainable) x FrozenWeightBytes,
//	             twice with Reference; P = c.NumParams()
//	kv cache     C x Group x (PromptLen+ResponseLen) x layers x 2 (K and V)
//	             x kv_heads x head_dim x WeightBytes; C = ChunkPrompts, or Batch
//	             when that is 0 or larger
//	activations  one training micro-batch of R sequences of T = PromptLen+ResponseLen
//	             tokens: R x T x WeightBytes x per-token values, plus the f32
//	             logits and log-softmax of the response positions,
//	             R x ResponseLen x vocab x 2 x 4 bytes
//	gradients    Trainable x 4 (f32)
//	optimizer    Trainable x 8 (AdamW first and second moments in f32)
//	total        weights + gradients + optimizer + max(kv cache, activations)
//
// The per-token values of the activations are a rough count of the tensors
// one decoder layer keeps for its backward pass,
//
//	a = 7H + 4·kv + 4I + 2·heads·T
//
// (layer input, the two RMSNorm outputs, q and k before and after the
// rotary embedding, v, the attention context and output, the gate, up,
// SiLU and product of the MLP, and the attention scores and probabilities,
// which this project's graphs materialise: H hidden size, kv = kv_heads x
// head_dim, I intermediate size), plus 2H for the embeddings and final
// norm. Without recomputation all layers keep theirs and one more layer's
// worth is live as gradients during the backward pass: (L+1)·a + 2H. With
// recomputation only each layer's input is kept and one layer is
// recomputed at a time: L·H + 2a + 2H. The vision tower's activations,
// allocator fragmentation and ONNX Runtime's workspace are not counted:
// leave headroom of a few percent.
func PlanMemory(c Config, p PlanInput) MemoryPlan {
	nz := func(v int) int64 {
		if v < 0 {
			return 0
		}
		return int64(v)
	}
	wb := nz(p.WeightBytes)
	if wb == 0 {
		wb = 4
	}
	params := int64(c.NumParams())
	trainable := p.Trainable
	if trainable < 0 {
		trainable = 0
	}
	rows := nz(p.Batch) * nz(p.Group)
	micro := nz(p.MicroBatch)
	if micro == 0 || micro > rows {
		micro = rows
	}
	seq := nz(p.PromptLen) + nz(p.ResponseLen)
	H, I, L := nz(c.HiddenSize), nz(c.IntermediateSize), nz(c.NumHiddenLayers)
	heads := nz(c.NumAttentionHeads)
	kvHeads := nz(c.NumKeyValueHeads)
	var headDim int64
	if heads > 0 {
		headDim = H / heads
	}
	kv := kvHeads * headDim

	m := MemoryPlan{in: p}
	copies := int64(1)
	if p.Reference {
		copies = 2
	}
	fb := nz(p.FrozenWeightBytes)
	if fb == 0 {
		fb = wb
	}
	frozen := max(params-trainable, 0)
	m.Weights = copies * ((params-frozen)*wb + frozen*fb)
	kvRows := rows
	if c := nz(p.ChunkPrompts); c > 0 && c < nz(p.Batch) {
		kvRows = c * nz(p.Group)
	}
	m.KVCache = kvRows * seq * L * 2 * kv * wb
	perLayer := 7*H + 4*kv + 4*I + 2*heads*seq
	perToken := (L+1)*perLayer + 2*H
	if p.Recompute {
		perToken = L*H + 2*perLayer + 2*H
	}
	logits := micro * nz(p.ResponseLen) * nz(c.VocabSize) * 2 * 4
	m.Activations = micro*seq*perToken*wb + logits
	m.Gradients = trainable * 4
	m.Optimizer = trainable * 8
	m.Total = m.Weights + m.Gradients + m.Optimizer + max(m.KVCache, m.Activations)

	ref := ""
	if p.Reference {
		ref = ", plus the frozen reference copy"
	}
	rc := "all layers kept"
	if p.Recompute {
		rc = "recomputed per layer"
	}
	line := func(name string, n int64, format string, a ...any) string {
		return fmt.Sprintf("%-12s %11s  %s", name, FormatBytes(n), fmt.Sprintf(format, a...))
	}
	wl := fmt.Sprintf("%d params x %d B%s", params, wb, ref)
	if fb != wb && frozen > 0 {
		wl = fmt.Sprintf("%d trainable x %d B + %d frozen x %d B%s", params-frozen, wb, frozen, fb, ref)
	}
	m.Lines = []string{
		line("weights", m.Weights, "%s", wl),
		line("kv cache", m.KVCache, "%d sequences x %d tokens x %d layers x K,V x %d x %d B", kvRows, seq, L, kv, wb),
		line("activations", m.Activations, "micro-batch of %d x %d tokens (%s) + response logits", micro, seq, rc),
		line("gradients", m.Gradients, "%d trainable x 4 B (f32)", trainable),
		line("optimizer", m.Optimizer, "%d trainable x 2 AdamW moments x 4 B (f32)", trainable),
		line("total", m.Total, "weights + gradients + optimizer + max(kv cache, activations)"),
	}
	return m
}

// Largest returns the name and size of the plan's largest item.
func (m MemoryPlan) Largest() (string, int64) {
	name, size := "weights", m.Weights
	for _, it := range []struct {
		name string
		n    int64
	}{{"kv cache", m.KVCache}, {"activations", m.Activations}, {"gradients", m.Gradients}, {"optimizer", m.Optimizer}} {
		if it.n > size {
			name, size = it.name, it.n
		}
	}
	return name, size
}

// Check returns nil when the plan fits in available bytes, otherwise an
// error wrapping ErrOutOfMemory that gives the shortfall and names the
// largest item with what lowers it.
func (m MemoryPlan) Check(available int64) error {
	if m.Total <= available {
		return nil
	}
	name, size := m.Largest()
	hint := map[string]string{
		"weights":     "use a smaller model, or LoRA (model.lora.rank) with the base held in bf16 (model.lora.base_dtype)",
		"kv cache":    "roll out fewer prompts at a time (rollout.chunk_prompts below grpo.batch_prompts; the samples stay the same), or lower grpo.group_size or rollout.max_new_tokens",
		"activations": "lower grpo.micro_batch_rows or turn on activation recomputation (model.recompute)",
		"gradients":   "train LoRA adapters instead of every parameter",
		"optimizer":   "train LoRA adapters instead of every parameter",
	}[name]
	switch {
	case name == "activations" && m.in.Recompute:
		hint = "lower grpo.micro_batch_rows (activation recomputation is already on), or shorten rollout.max_new_tokens or the video (data.sampling)"
	case name == "weights" && m.in.FrozenWeightBytes == 2:
		hint = "use a smaller model (the LoRA base is already held in 16 bits)"
	}
	return fmt.Errorf("%w: the run needs %s but %s is available (short by %s); the largest item is the %s at %s: %s",
		ErrOutOfMemory, FormatBytes(m.Total), FormatBytes(max(available, 0)), FormatBytes(m.Total-max(available, 0)), name, FormatBytes(size), hint)
}

// FormatBytes renders a byte count with a binary unit, e.g. "1.50 GiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		if v < unit && v > -unit || u == "TiB" {
			return fmt.Sprintf("%.2f %s", v, u)
		}
	}
	return fmt.Sprintf("%d B", n)
}
