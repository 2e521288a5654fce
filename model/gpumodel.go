package model

import (
	"fmt"
	"strings"
)

// A roofline model of one GRPO step on a GPU, before and after the
// device-resident policy (PolicyOptions.Device). It is arithmetic on the
// model's shapes, not a measurement: every phase takes
//
//	max(HBM bytes / HBM bandwidth, FLOPs / float32 rate)
//
// on the GPU, plus its host<->device bytes (the Ledger's kinds, counted the
// way the two code paths move them) over the host link, without overlap.
// The graphs compute in float32: trained weights, KV cache and activations
// are 4-byte values, a frozen base held in bf16 is cast to float32 inside
// every graph (2 bytes read, 4 written, 4 read again by the matrix
// product), and matrix products run at the float32 rate. The BF16 figure
// of each phase is the same work with 2-byte weights, cache and
// activations at the dense bf16 tensor-core rate: the gap is what float32
// compute costs.

// GPUSpec gives the peak figures of a GPU and its host link.
type GPUSpec struct {
	Name string
	// HBM is the device memory bandwidth and Link the host<->device one,
	// in bytes/s.
	HBM, Link float64
	// BF16 is the dense bf16 tensor-core rate and FP32 the float32 rate
	// (no tensor cores), in FLOP/s.
	BF16, FP32 float64
}

// H100 is an H100 SXM on PCIe Gen5.
func H100() GPUSpec {
	return GPUSpec{Name: "H100 SXM", HBM: 3.35e12, Link: 55e9, BF16: 990e12, FP32: 67e12}
}

// StepWorkload is the shape of one GRPO step of a model.
type StepWorkload struct {
	// Prompts per step and Group responses per prompt; ChunkPrompts are
	// rolled out together (0: all), so a decode step has ChunkPrompts x
	// Group rows.
	Prompts, Group, ChunkPrompts int
	// PromptTokens per prompt (vision tokens included), VisionTokens of
	// them merged vision tokens, and ResponseTokens the response length
	// (rollout.max_new_tokens: the decode buffers and the padded training
	// sequences have that many slots).
	PromptTokens, VisionTokens, ResponseTokens int
	// MicroRows is the training micro-batch in sequences.
	MicroRows int
	// FrozenBytes is the size of a frozen weight as held (2: LoRA base in
	// bf16; 0 or 4: float32).
	FrozenBytes int
	// Recompute is activation recomputation; Reference a KL reference
	// log-prob pass per micro-batch.
	Recompute, Reference bool
}

// Traffic is the host<->device bytes of a phase.
type Traffic struct{ H2D, D2H int64 }

// Bytes is both directions.
func (t Traffic) Bytes() int64 { return t.H2D + t.D2H }

// PhaseModel is the modelled cost of one phase of the step.
type PhaseModel struct {
	// Phase is "decode step", "prefill" or "train step".
	Phase string
	// Before is what the host-fed path moves (parameters fed from the host
	// at every run, KV cache in host memory, host AdamW), After what the
	// resident path moves.
	Before, After Traffic
	// HBMBytes and FLOPs are the device work of the phase (either path).
	HBMBytes, FLOPs float64
	// GPU is the device time, Bound "memory" or "compute".
	GPU   float64
	Bound string
	// BeforeSec and AfterSec add the host link time of each path.
	BeforeSec, AfterSec float64
	// BF16 is GPU for the same work in bf16 (2-byte values, tensor cores).
	BF16 float64
}

// shapes of the model the roofline needs.
type rooflineShapes struct {
	textParams, visionParams int64   // parameter counts
	heldText, heldAll        int64   // bytes as held
	effText, effAll          float64 // HBM bytes of one float32 pass over the weights
	trainable                int64
	L, V                     int64
	attn                     int64 // heads x head_dim
	kvTok                    int64 // KV values per token (layers x K,V x kv_heads x head_dim)
	patchDim, embedW         int64
}

func (c Config) rooflineShapes(frozenBytes int) rooflineShapes {
	fb := int64(frozenBytes)
	if fb == 0 {
		fb = 4
	}
	trainable := map[string]bool{}
	for _, s := range c.TrainableSpecs() {
		trainable[s.Name] = true
	}
	var r rooflineShapes
	for _, s := range c.ParamSpecs() {
		n := int64(s.Size())
		held, eff := int64(4), 4.0
		if trainable[s.Name] {
			r.trainable += n
		} else if fb != 4 {
			held, eff = fb, float64(fb)+4+4 // cast to float32 in every graph
		}
		if strings.HasPrefix(s.Name, "visual.") {
			r.visionParams += n
		} else {
			r.textParams += n
			r.heldText += n * held
			r.effText += float64(n) * eff
		}
		r.heldAll += n * held
		r.effAll += float64(n) * eff
	}
	r.L, r.V = int64(c.NumHiddenLayers), int64(c.VocabSize)
	r.attn = int64(c.NumAttentionHeads * c.HeadDim())
	r.kvTok = r.L * 2 * int64(c.NumKeyValueHeads*c.HeadDim())
	r.patchDim, r.embedW = int64(c.PatchDim()), int64(c.VisionEmbedWidth())
	return r
}

// ModelGPUStep models the decode step, the prefill and the training step
// of workload w on the model c on GPU g.
func ModelGPUStep(c Config, w StepWorkload, g GPUSpec) []PhaseModel {
	r := c.rooflineShapes(w.FrozenBytes)
	P, G := int64(w.Prompts), int64(w.Group)
	B := P * G
	D := B // rows of a decode step
	if w.ChunkPrompts > 0 && w.ChunkPrompts < w.Prompts {
		D = int64(w.ChunkPrompts) * G
	}
	T := int64(w.PromptTokens)
	C := T + int64(w.ResponseTokens) // decode buffer slots; padded training length
	patches := 4 * int64(w.VisionTokens)
	finish := func(m PhaseModel, bf16HBM float64) PhaseModel {
		mem, comp := m.HBMBytes/g.HBM, m.FLOPs/g.FP32
		m.GPU, m.Bound = max(mem, comp), "memory"
		if comp > mem {
			m.Bound = "compute"
		}
		m.BF16 = max(bf16HBM/g.HBM, m.FLOPs/g.BF16)
		m.BeforeSec = m.GPU + float64(m.Before.Bytes())/g.Link
		m.AfterSec = m.GPU + float64(m.After.Bytes())/g.Link
		return m
	}

	// Decode: one token for every row over buffers of C slots (all read).
	cache := D * C * r.kvTok * 4
	dec := PhaseModel{Phase: "decode step",
		FLOPs:    2*float64(r.textParams*D) + 4*float64(D*C*r.L*r.attn),
		HBMBytes: r.effText + float64(cache) + float64(4*D*r.V),
		// Host-fed: every parameter, the cache buffers, tokens, positions
		// and the [rows,C+1] bias in; logits and the new keys/values out.
		Before: Traffic{H2D: r.heldText + cache + D*(8+24+4*(C+1)), D2H: 4*D*r.V + D*r.kvTok*4},
		// Resident: tokens, positions and the slot in; logits out.
		After: Traffic{H2D: 16*D + 8, D2H: 4 * D * r.V},
	}
	dec = finish(dec, float64(r.textParams*2)+float64(cache/2)+float64(2*D*r.V))

	// Prefill: vision tower and prompts of every prompt, once.
	io := 48 * P * T // ids, vision index, mask, 3 positions, validity
	pix := 4 * P * patches * r.patchDim
	emb := 4 * P * int64(w.VisionTokens) * r.embedW
	pre := PhaseModel{Phase: "prefill",
		FLOPs:    2*float64(r.textParams*P*T) + 4*float64(P*T*T*r.L*r.attn) + 2*float64(r.visionParams*P*patches),
		HBMBytes: r.effAll + float64(P*T*r.kvTok*4) + float64(4*P*r.V),
		Before:   Traffic{H2D: r.heldAll + io + 4*P*T*T + pix + emb, D2H: P*T*r.kvTok*4 + 4*P*r.V + emb},
		After:    Traffic{H2D: io + pix + emb, D2H: 4*P*r.V + emb},
	}
	pre = finish(pre, float64(r.textParams+r.visionParams)*2+float64(P*T*r.kvTok*2))

	// Training: every row's sequence through the training graph in
	// micro-batches, plus the reference pass, then AdamW.
	micro := max(int64(w.MicroRows), 1)
	M := (B + micro - 1) / micro
	tok := float64(B * C)
	fwd := 2*float64(r.textParams)*tok + 4*float64(B*C*C*r.L*r.attn) + 2*float64(r.visionParams*B*patches)
	passes := 3.0 // forward, backward through activations and weights
	if r.trainable < r.textParams/2 {
		passes = 2 // LoRA: the backward pass skips the frozen weights' gradients
	}
	if w.Recompute {
		passes++
	}
	flops := passes * fwd
	weightReads := passes
	if w.Reference {
		flops += fwd
		weightReads++
	}
	act := PlanMemory(c, PlanInput{Batch: 1, Group: int(micro), PromptLen: w.PromptTokens, ResponseLen: w.ResponseTokens,
		MicroBatch: int(micro), WeightBytes: 4, Recompute: w.Recompute}).Activations
	opt := float64(r.trainable) * (16 + 12)            // read p, m, v, g; write p, m, v
	accum := float64(M) * float64(r.trainable) * 4 * 3 // gradient out, accumulator read and write
	hbm := float64(M)*(weightReads*r.effAll+2*float64(act)) + opt + accum
	R := int64(w.ResponseTokens)
	// Per row: ids, vision index, mask, positions, validity (48 B a
	// token); its video's patches; response index, tokens, mask,
	// advantage-side inputs and old/reference log-probs (36 B a response
	// token).
	in := 48*B*C + 4*B*patches*r.patchDim + 36*B*R
	ref := int64(0)
	if w.Reference {
		ref = 1
	}
	metrics := (1+ref)*4*B*R + 24*M + 8 // log-probs, losses, gradient norm
	trn := PhaseModel{Phase: "train step", FLOPs: flops, HBMBytes: hbm,
		// Host-fed: every micro-batch (and reference pass) feeds every
		// parameter and the [rows,1,C,C] bias, and returns every gradient.
		Before: Traffic{H2D: (1 + ref) * (M*r.heldAll + in + 4*B*C*C), D2H: M*4*r.trainable + metrics},
		After:  Traffic{H2D: (1+ref)*in + 33*M, D2H: metrics},
	}
	trn = finish(trn, float64(M)*(weightReads*float64(r.textParams+r.visionParams)*2+float64(act))+opt+accum)
	return []PhaseModel{dec, pre, trn}
}

// FormatSeconds renders a duration in s, ms or µs.
func FormatSeconds(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.2f s", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.2f ms", s*1e3)
	}
	return fmt.Sprintf("%.1f µs", s*1e6)
}
