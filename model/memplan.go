package model

import (
	"errors"
	"fmt"
	"math"
)

// PlanInput sizes one GRPO run for PlanMemory.
type PlanInput struct {
	// Batch is the number of prompts per step and Group the responses
	// sampled per prompt (G); the rollout holds Batch x Group sequences.
	Batch, Group int
	// ChunkPrompts is how many prompts are rolled out together (0 or more
	// than Batch: all); the KV cache holds ChunkPrompts x Group sequences.
	ChunkPrompts int
	// PromptLen is the longest prompt in tokens, vision tokens included, and
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
	// RefPass is true when every micro-batch also runs the reference
	// log-prob graph (kl_coef > 0, with or without LoRA).
	RefPass bool
	// SFTRows is the number of sequences of one warm-up (SFT) micro-batch;
	// 0: no warm-up.
	SFTRows int
	// EvalPrompts is the number of prompts an evaluation decodes together
	// (0: no evaluation).
	EvalPrompts int
	// VisionPatches is the number of vision patches (before merging) of the
	// videos of one prompt, and SlicePatches the patches of one temporal
	// slice (the span of the vision tower's attention).
	VisionPatches, SlicePatches int
	// PromptCache is the bytes of the prompt inputs (token ids and video
	// patches) the trainer keeps in Go memory for reuse.
	PromptCache int64
	// CUDA plans a run on a CUDA device: Total is then the device's share
	// (Host the rest). False plans a CPU run, where everything is host RAM.
	CUDA bool
	// Resident is the device-resident policy (PolicyOptions.Device): the
	// weights, the KV cache, the gradients and the AdamW moments live in
	// ONNX Runtime's device memory instead of Go's.
	Resident bool
}

// MemoryPlan is the memory estimate of a run, in bytes, as PlanMemory
// computes it: the peak resident set of a CPU run (or the peak device
// memory of a CUDA run) and its parts.
type MemoryPlan struct {
	// Runtime is the process before any model: Go's runtime, the code and
	// libraries (ONNX Runtime, OpenCV) and ONNX Runtime's environment.
	Runtime int64
	// Sessions is ONNX Runtime's own memory of the policy's sessions: the
	// graphs as loaded and optimised, and their kernels.
	Sessions int64
	// Weights is every copy of the weights held (the policy's, the frozen
	// reference copy, the device copy of a resident policy).
	Weights int64
	// Gradients is the gradient accumulator and one micro-batch's gradient
	// outputs; Optimizer the AdamW moments.
	Gradients, Optimizer int64
	// KVCache is one rollout's KV cache (ChunkPrompts x Group sequences of
	// PromptLen + ResponseLen slots).
	KVCache int64
	// Activations is the peak of one run of the GRPO training graph over a
	// micro-batch: what its arena must hold (see PlanMemory).
	Activations int64
	// TrainArenas and RolloutArenas are the ONNX Runtime arenas of the
	// training graphs (GRPO, warm-up, reference log-probs) and of the
	// rollout graphs (vision, prefill, decode): twice each graph's peak.
	TrainArenas, RolloutArenas int64
	// Inputs is the prompt cache and the per-batch inputs in Go memory.
	Inputs int64
	// GCHeadroom is the growth Go's collector allows the heap beyond its
	// live data (GOGC=100: as much again).
	GCHeadroom int64
	// Host and Device split the plan by memory: on a CPU run everything is
	// host memory and Device is 0.
	Host, Device int64
	// Total is what Check compares with the free memory: the device's
	// share on CUDA, the whole plan on CPU.
	Total int64
	// Lines is the plan in words, one item per line, for printing before a
	// run.
	Lines []string
	// in is the input the plan was made from (for Check's advice).
	in PlanInput
	// items are the named items Largest chooses from.
	items []planItem
}

type planItem struct {
	name string
	n    int64
}

// ErrOutOfMemory is wrapped by MemoryPlan.Check when the plan does not fit.
var ErrOutOfMemory = errors.New("memory plan does not fit")

// The coefficients of PlanMemory, in float32 values (4 bytes each). They
// were fitted by least squares to the resident-set rise of one run of each
// graph, measured in a child process (TestMemMeasureChild, 2-core AMD EPYC
// VM, ONNX Runtime 1.24.3) over 30 shapes of the training graph (layers
// 1-12, hidden 128-1024, intermediate 384-4096, 4-16 heads, vocabulary
// 1024-32768, 1-32 rows of 60-612 tokens, responses of 12-48 tokens, 1-16
// videos, vision width 64-256 and depth 2-6, LoRA on float32 and BF16
// bases, with and without recomputation) and about 20 of the forward
// graphs: every training-graph run is within 11% of its measurement
// (TestActivationModelMatchesMeasurements).
const (
	// Training graph, per decoder layer and token: the tensors kept for
	// the backward pass (the layer input and residual, q/k/v before and
	// after the rotary embedding, the MLP's gate, up, activation and
	// product) and, per head and key position, the attention scores and
	// probabilities.
	trainLayerH, trainLayerKV, trainLayerI, trainLayerScore = 2.0, 5.4, 6.5, 2.1
	// Per token outside the layers: the embeddings, the vision splice, the
	// final norm, the LM-head input and the residual stream's gradients
	// live at the peak.
	trainTokenH = 23.7
	// Per response position and vocabulary entry: the f32 logits, their
	// log-softmax and its gradient.
	trainLogits = 3.6
	// Vision tower trained (full fine-tuning), per patch: per block
	// visionBlockD x embed + visionBlockI x MLP width + trainLayerScore x
	// heads x slice patches, plus visionTokenD x embed outside the blocks.
	visionBlockD, visionBlockI, visionTokenD = 12.6, 6.5, 5.1
	// Per trained parameter: its gradient output and the weight
	// gradients' temporaries (1.18 measured on a 61.8M-weight model with
	// one short row, where the weights dominate).
	trainParams = 1.2
	// With recomputation: the H-wide input of every layer plus about one
	// layer's full set (the layer being recomputed and its backward).
	recomputeInputH, recomputeLayers = 1.1, 1.1
	// LoRA: the frozen weights' gradients are not made. Without
	// recomputation the text part keeps loraText of full fine-tuning's
	// values (with it, the one recomputed layer is all it could save), and
	// instead of trainParams x P the graph holds 1.5 x the adapters and
	// loraCastHalf (a 16-bit base: each layer's weights cast to float32 in
	// the forward and again in the backward) or loraCastF32 (a float32
	// base) times one decoder layer's weights (measured on a 61.8M-weight
	// model: 0.76 and 0.09).
	loraText, loraCastHalf, loraCastF32 = 0.88, 0.75, 0.1
	// Forward-only graphs (reference log-probs), per token: one layer's MLP
	// and attention live at a time, plus the response logits.
	fwdI, fwdScore, fwdLogits = 3.5, 2.9, 2.0
	// Prefill, per prompt token: one layer's MLP and attention and the
	// KV-cache outputs of every layer.
	prefillI, prefillScore, prefillKV = 2.4, 3.0, 2.7
	// Vision tower forward (rollout, reference pass, frozen tower), per
	// patch: visionFwdD x embed + fwdI x MLP width + fwdScore x heads x
	// slice patches.
	visionFwdD = 24.0
	// Decode step, per row: the MLP, the attention over the cache and the
	// logits.
	decodeI, decodeScore, decodeLogits = 3.0, 2.0, 2.0
	// arenaCopies: ONNX Runtime keeps each session's CPU arena for the
	// session's life, and the second run of a shape places all its
	// intermediates in one block planned from the first (the memory
	// pattern), which the first run's scattered free chunks cannot hold:
	// the arena settles at twice the peak of one run less the graph's
	// outputs (the gradients, the prefill's cache), which stay outside the
	// block (measured: 1.96x the peak for the tiny GRPO graph, peak + 958
	// and + 338 MiB for 1103 and 481 MiB peaks with 140 MiB of gradients).
	arenaCopies = 2
	// gcFactor: with GOGC=100 Go's heap grows to twice its live data
	// before a collection (measured 2.0x in the default run's trace).
	gcFactor = 2
	// runtimeBytes: the trainer's resident set before its first session
	// (Go runtime, the binary, ONNX Runtime and OpenCV loaded, the
	// generated data's decoding done).
	runtimeBytes = 64 << 20
	// sessionBytes is ONNX Runtime's first-session overhead (environment,
	// thread pools) and nodeBytes its memory per graph node (measured
	// 5.1-5.6 KiB).
	sessionBytes = 12 << 20
	nodeBytes    = 5632
	// Graph nodes of the policy's graphs (all seven): per decoder layer,
	// per vision block and the rest (counted on the tiny model at 1-12
	// layers and 2-8 vision blocks).
	nodesPerLayer, nodesPerBlock, nodesBase = 720, 466, 730
	// cudaContextBytes is an allowance for the CUDA context, cuBLAS and
	// cuDNN workspaces on the device (not measured: no GPU was lent).
	cudaContextBytes = 1 << 30
)

// PlanMemory estimates the peak memory of a GRPO run of the model c: the
// resident set of a CPU run, or the device memory of a CUDA run. The items
// (each a line of MemoryPlan.Lines):
//
//	runtime      the process before the first session (a measured constant)
//	sessions     ONNX Runtime's graphs and kernels: 12 MiB + 5.5 KiB a node
//	weights      Trainable x 4 + frozen x FrozenWeightBytes; again for the
//	             reference copy; again on the device when Resident
//	gradients    accumulator + one micro-batch's outputs: 2 x Trainable x 4
//	optimizer    AdamW moments: 2 x Trainable x 4
//	kv cache     C x Group x (PromptLen+ResponseLen) x layers x 2 x kv x 4
//	             (C = ChunkPrompts, or Batch); twice on the host path (the
//	             prefill's rows and the decode buffers)
//	inputs       the prompt cache, one micro-batch's attention bias
//	             (12 B x rows x T^2) and vision patches
//	gc headroom  Go's heap grows to twice its live data (GOGC=100): the
//	             items above that live in Go memory, once more
//	train arenas 2 x (GRPO step + warm-up step + reference pass), each the
//	             peak of one run (see below), less each training graph's
//	             gradient outputs (Trainable x 4)
//	rollout ar.  2 x (vision + prefill + decode) less the prefill's cache
//
// One run of the training graph over R rows of T = PromptLen+ResponseLen
// tokens, N = R·T, peaks at (float32 values; the fitted coefficients are
// the constants above)
//
//	N·L·(2.0·H + 5.4·kv + 6.5·I + 2.1·heads·T) + 23.7·N·H
//	+ 3.6·R·ResponseLen·V + vision + 1.2·P
//
// (with recomputation the per-layer term becomes N·L·1.1·H + 1.1·N·layer;
// LoRA keeps 0.88 of the text part without recomputation, holds 1.5 x
// the adapters and 0.75 (16-bit base) or 0.1 (float32 base) of one
// layer's weights instead of 1.2·P, and keeps the frozen tower's
// activations only for its forward pass). The items are exact for the host
// path on CPU, where they were measured; a CUDA plan applies the same
// activation model to the device and adds the fed weights to every graph's
// arena and a 1 GiB allowance for the CUDA context (not measured).
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
	fb := nz(p.FrozenWeightBytes)
	if fb == 0 {
		fb = wb
	}
	params := int64(c.NumParams())
	trainable := max(p.Trainable, 0)
	frozen := max(params-trainable, 0)
	batch, group := nz(p.Batch), nz(p.Group)
	rows := batch * group
	micro := nz(p.MicroBatch)
	if micro == 0 || micro > rows {
		micro = rows
	}
	resp := nz(p.ResponseLen)
	prompt := nz(p.PromptLen)
	seq := prompt + resp
	H, I, L := nz(c.HiddenSize), nz(c.IntermediateSize), nz(c.NumHiddenLayers)
	heads := nz(c.NumAttentionHeads)
	kv := nz(c.NumKeyValueHeads) * nz(c.HeadDim())
	V := nz(c.VocabSize)
	v := c.VisionConfig
	vd, vI, vh, vL := nz(v.EmbedDim), nz(v.MLPDim()), nz(v.NumHeads), nz(v.Depth)
	patches, slice := nz(p.VisionPatches), nz(p.SlicePatches)
	chunk := batch
	if cp := nz(p.ChunkPrompts); cp > 0 && cp < batch {
		chunk = cp
	}
	lora := c.LoRA != nil
	// The weights of one decoder layer: q and o (heads x head_dim wide),
	// k and v (kv wide) and the three MLP projections.
	layerParams := 2*H*heads*nz(c.HeadDim()) + 2*H*kv + 3*H*I
	f := func(x float64) int64 { return int64(math.Min(math.Ceil(x), math.MaxInt64/4)) }
	fl := func(x int64) float64 { return float64(x) }

	// One run of a training graph over r rows of t tokens whose videos
	// are np prompts' (values, float32).
	trainRun := func(r, t, np int64) float64 {
		if r == 0 || t == 0 {
			return 0
		}
		n := fl(r * t)
		layer := trainLayerH*fl(H) + trainLayerKV*fl(kv) + trainLayerI*fl(I) + trainLayerScore*fl(heads*t)
		text := n * fl(L) * layer
		if p.Recompute {
			text = n*fl(L)*recomputeInputH*fl(H) + recomputeLayers*n*layer
		}
		text += trainTokenH*n*fl(H) + trainLogits*fl(r*resp*V)
		var vis float64
		pt := fl(np * patches)
		block := visionBlockD*fl(vd) + visionBlockI*fl(vI) + trainLayerScore*fl(vh*slice)
		switch {
		case lora: // the frozen tower's activations are freed as it goes
			if !p.Recompute {
				text *= loraText
			}
			vis = pt * (visionFwdD*fl(vd) + fwdI*fl(vI) + fwdScore*fl(vh*slice))
		case p.Recompute:
			vis = pt * (fl(vL)*recomputeInputH*fl(vd) + recomputeLayers*block + visionTokenD*fl(vd))
		default:
			vis = pt * (fl(vL)*block + visionTokenD*fl(vd))
		}
		if lora {
			cast := loraCastF32
			if fb < 4 {
				cast = loraCastHalf
			}
			return text + vis + 1.5*fl(trainable) + cast*fl(layerParams)
		}
		return text + vis + trainParams*fl(params)
	}
	// Prompts whose videos one micro-batch of r rows holds (rows of a
	// prompt are contiguous).
	promptsOf := func(r int64) int64 {
		if group == 0 || r == 0 {
			return 0
		}
		n := (r + group - 1) / group
		if r%group != 0 {
			n++
		}
		return min(n, max(batch, 1))
	}
	visionFwd := func(np int64) float64 {
		return fl(np*patches) * (visionFwdD*fl(vd) + fwdI*fl(vI) + fwdScore*fl(vh*slice))
	}
	mbPrompts := promptsOf(micro)

	grpo := trainRun(micro, seq, mbPrompts)
	sftRows := nz(p.SFTRows)
	var sft float64
	if sftRows > 0 {
		sft = trainRun(sftRows, seq, sftRows)
	}
	var ref float64
	if p.RefPass {
		ref = fl(micro*seq)*(fwdI*fl(I)+fwdScore*fl(heads*seq)) + fwdLogits*fl(micro*resp*V)
	}
	prePrompts := max(chunk, nz(p.EvalPrompts))
	prefill := fl(prePrompts*prompt) * (prefillI*fl(I) + prefillScore*fl(heads*prompt) + prefillKV*fl(L*kv))
	decRows := max(chunk*group, nz(p.EvalPrompts))
	decode := fl(decRows) * (decodeI*fl(I) + decodeScore*fl(heads*seq) + decodeLogits*fl(V))
	visPrompts := int64(1)
	if p.RefPass {
		visPrompts = max(visPrompts, mbPrompts)
	}
	vision := visionFwd(visPrompts)

	// The graphs' outputs, which the second block leaves out: the
	// gradients of each training graph, the prefill's KV cache.
	var gradOut float64
	if grpo > 0 {
		gradOut += fl(trainable)
	}
	if sft > 0 {
		gradOut += fl(trainable)
	}
	prefillOut := fl(prePrompts * prompt * L * 2 * kv)

	m := MemoryPlan{in: p}
	m.Activations = f(grpo * fl(wb))
	trainArena := f((arenaCopies*(grpo+sft+ref) - gradOut) * fl(wb))
	rolloutArena := f((arenaCopies*(prefill+decode+vision) - prefillOut) * fl(wb))

	nodes := nodesBase + nodesPerLayer*L + nodesPerBlock*vL
	m.Runtime = runtimeBytes
	m.Sessions = sessionBytes + nodes*nodeBytes

	// Go memory (and the device's on the resident path).
	held := trainable*wb + frozen*fb
	copies := int64(1)
	if p.Reference {
		copies = 2
	}
	goWeights := copies * held
	m.Gradients = 2 * trainable * 4
	m.Optimizer = 2 * trainable * 4
	kvRows := chunk * group
	m.KVCache = kvRows * seq * L * 2 * kv * wb
	goKV := 2 * m.KVCache
	bias := 12 * micro * seq * seq
	m.Inputs = max(p.PromptCache, 0) + bias + mbPrompts*patches*int64(c.PatchDim())*4
	var devWeights, devState int64
	goGrads, goOpt := m.Gradients, m.Optimizer
	if p.Resident {
		// The device holds the weights (and the reference store once
		// used), the cache buffers, the gradient accumulators and outputs
		// and the moments; the host store stays for checkpoints.
		devWeights = copies * held
		devState = m.KVCache + m.Gradients + m.Optimizer
		goKV, goGrads, goOpt = 0, 0, 0
	}
	m.Weights = goWeights + devWeights
	// Sums saturate at math.MaxInt64 (sizes past it are refused anyway).
	sum := func(xs ...int64) int64 {
		var t float64
		for _, x := range xs {
			t += fl(x)
		}
		if t >= math.MaxInt64 {
			return math.MaxInt64
		}
		return int64(t)
	}
	goLive := sum(goWeights, goGrads, goOpt, goKV, m.Inputs)
	m.GCHeadroom = sum(goLive * (gcFactor - 1))
	m.TrainArenas, m.RolloutArenas = trainArena, rolloutArena

	hostOnly := sum(m.Runtime, goLive, m.GCHeadroom)
	onDevice := sum(m.Sessions, trainArena, rolloutArena, devWeights, devState)
	if p.CUDA {
		// Host-fed graphs copy every weight they take into their arena at
		// each run; the arenas keep it.
		var fed int64
		if !p.Resident {
			graphs := int64(4) // vision, prefill, decode, GRPO
			if sftRows > 0 {
				graphs++
			}
			if p.RefPass {
				graphs++
			}
			fed = sum(graphs * held)
		}
		m.Device = sum(cudaContextBytes, trainArena, rolloutArena, devWeights, devState, fed)
		m.Host = sum(hostOnly, m.Sessions)
		m.Total = m.Device
	} else {
		m.Host = sum(hostOnly, onDevice)
		m.Total = m.Host
	}

	m.items = []planItem{
		{"weights", m.Weights}, {"gradients", m.Gradients}, {"optimizer", m.Optimizer}, {"kv cache", m.KVCache},
		{"activations", trainArena}, {"rollout arenas", rolloutArena}, {"inputs", m.Inputs},
	}
	m.Lines = m.lines(c, planWords{params: params, trainable: trainable, frozen: frozen, wb: wb, fb: fb, micro: micro, seq: seq,
		kvRows: kvRows, kv: kv, L: L, nodes: nodes, grpo: f(grpo * fl(wb)), sft: f(sft * fl(wb)), ref: f(ref * fl(wb)),
		prefill: f(prefill * fl(wb)), decode: f(decode * fl(wb)), vision: f(vision * fl(wb)), sftRows: sftRows,
		prePrompts: prePrompts, decRows: decRows, goLive: goLive, bias: bias, goKV: goKV})
	return m
}

// planWords carries PlanMemory's intermediate sizes to its lines.
type planWords struct {
	params, trainable, frozen, wb, fb, micro, seq, kvRows, kv, L, nodes int64
	grpo, sft, ref, prefill, decode, vision                             int64
	sftRows, prePrompts, decRows, goLive, bias, goKV                    int64
}

func (m MemoryPlan) lines(c Config, w planWords) []string {
	p := m.in
	line := func(name string, n int64, format string, a ...any) string {
		return fmt.Sprintf("%-14s %11s  %s", name, FormatBytes(n), fmt.Sprintf(format, a...))
	}
	ref := ""
	if p.Reference {
		ref = ", plus the frozen reference copy"
	}
	if p.Resident {
		ref += ", plus the device copy"
	}
	wl := fmt.Sprintf("%d params x %d B%s", w.params, w.wb, ref)
	if w.fb != w.wb && w.frozen > 0 {
		wl = fmt.Sprintf("%d trainable x %d B + %d frozen x %d B%s", w.params-w.frozen, w.wb, w.frozen, w.fb, ref)
	}
	rc := "all layers kept"
	if p.Recompute {
		rc = "recomputed per layer"
	}
	if c.LoRA != nil {
		rc += ", LoRA"
	}
	kvWhere := "Go memory, twice: the prefill's rows and the decode buffers"
	if p.Resident {
		kvWhere = "device buffers"
	}
	train := fmt.Sprintf("2 x (GRPO step %s", FormatBytes(w.grpo))
	if w.sftRows > 0 {
		train += fmt.Sprintf(" + warm-up step %s", FormatBytes(w.sft))
	}
	if p.RefPass {
		train += fmt.Sprintf(" + reference pass %s", FormatBytes(w.ref))
	}
	train += ") less the gradient outputs: ONNX Runtime keeps each session's arena, and a repeated shape adds one block for all its intermediates (memory pattern)"
	out := []string{
		line("runtime", m.Runtime, "Go runtime, code and libraries (ONNX Runtime, OpenCV) before the first session"),
		line("sessions", m.Sessions, "ONNX Runtime's graphs and kernels: 12 MiB + 5.5 KiB x ~%d nodes", w.nodes),
		line("weights", m.Weights, "%s", wl),
		line("gradients", m.Gradients, "accumulator + one micro-batch's outputs: 2 x %d trainable x 4 B", w.trainable),
		line("optimizer", m.Optimizer, "%d trainable x 2 AdamW moments x 4 B", w.trainable),
		line("kv cache", m.KVCache, "%d sequences x %d tokens x %d layers x K,V x %d x %d B (%s)", w.kvRows, w.seq, w.L, w.kv, w.wb, kvWhere),
		line("inputs", m.Inputs, "prompt cache %s + one micro-batch's attention bias %s and patches", FormatBytes(max(p.PromptCache, 0)), FormatBytes(w.bias)),
		line("gc headroom", m.GCHeadroom, "Go's heap grows to 2x its live data (GOGC=100): the %s above in Go memory, once more", FormatBytes(w.goLive)),
		line("activations", m.Activations, "one GRPO micro-batch of %d x %d tokens (%s): the peak of one run", w.micro, w.seq, rc),
		line("train arenas", m.TrainArenas, "%s", train),
		line("rollout arenas", m.RolloutArenas, "2 x (vision %s + prefill of %d prompts %s + decode of %d rows %s) less the prefill's cache output",
			FormatBytes(w.vision), w.prePrompts, FormatBytes(w.prefill), w.decRows, FormatBytes(w.decode)),
	}
	if p.CUDA {
		fed := "each graph's arena also holds the weights fed to it"
		if p.Resident {
			fed = "weights, cache, gradients and moments resident"
		}
		out = append(out,
			line("device", m.Device, "CUDA: 1 GiB context allowance + arenas (%s); a model, not measured", fed),
			line("host", m.Host, "runtime, sessions and Go memory, in host RAM"),
			line("total", m.Total, "the device's share (host RAM: %s)", FormatBytes(m.Host)))
	} else {
		out = append(out, line("total", m.Total, "sum of the items: the run's peak resident set"))
	}
	return out
}

// Largest returns the name and size of the plan's largest item.
func (m MemoryPlan) Largest() (string, int64) {
	name, size := "weights", m.Weights
	for _, it := range m.items {
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
		"weights":        "use a smaller model, or LoRA (model.lora.rank) with the base held in bf16 (model.lora.base_dtype)",
		"kv cache":       "roll out fewer prompts at a time (rollout.chunk_prompts below grpo.batch_prompts; the samples stay the same), or lower grpo.group_size or rollout.max_new_tokens",
		"activations":    "lower grpo.micro_batch_rows (and sft.batch_size) or turn on activation recomputation (model.recompute)",
		"rollout arenas": "roll out fewer prompts at a time (rollout.chunk_prompts below grpo.batch_prompts; the samples stay the same), or lower grpo.group_size, or shorten the video (data.sampling.frames, max_pixels)",
		"inputs":         "use fewer training samples (data.train_samples) or shorter videos (data.sampling.frames, max_pixels)",
		"gradients":      "train LoRA adapters instead of every parameter",
		"optimizer":      "train LoRA adapters instead of every parameter",
	}[name]
	switch {
	case name == "activations" && m.in.Recompute:
		hint = "lower grpo.micro_batch_rows and sft.batch_size (activation recomputation is already on), or shorten rollout.max_new_tokens or the video (data.sampling)"
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
