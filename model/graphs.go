package model

import (
	"fmt"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
)

// Graph input and output names shared by the graph builders, the rollout
// engine and the trainer.
const (
	InPatches      = "pixel_patches" // [T,S,C*2*p*p] float: patch rows, T temporal slices of S patches
	InVisionCos    = "vision_cos"    // [S,vision_head_dim] float
	InVisionSin    = "vision_sin"    // [S,vision_head_dim] float
	InVisionEmbeds = "vision_embeds" // [N,VisionEmbedWidth] float: merged vision tokens (output of the vision graph; Qwen3-VL: + deepstack features)
	InInputIDs     = "input_ids"     // [B,L] int64
	InVisionIndex  = "vision_index"  // [B,L] int64: row of vision_embeds spliced at each position (0 elsewhere)
	InVisionMask   = "vision_mask"   // [B,L] float: 1 at <|video_pad|> positions
	InPositionIDs  = "position_ids"  // [3,B,L] int64: M-RoPE t/h/w positions
	// Architecture-specific vision inputs (see Config.VisionExtraFeeds).
	InVisionWindowBias = "vision_window_bias" // [S,S] float: Qwen2.5-VL window attention bias (0 = same window, -1e9 = other)
	InVisionPosIndex   = "vision_pos_index"   // [S,4] int64: Qwen3-VL bilinear taps into the position grid
	InVisionPosWeight  = "vision_pos_weight"  // [S,4] float: their weights
	InAttnBias         = "attention_bias"     // [B,1,L,P+L] float: 0 = attend, -1e9 = masked
	InRespIndex        = "response_index"     // [B,R] int64: flat index b*L+t of the hidden state that predicts each response token
	InRespTokens       = "response_tokens"    // [B,R] int64
	InRespMask         = "response_mask"      // [B,R] float
	InAdvantages       = "advantages"         // [B] float
	InOldLogProbs      = "old_log_probs"      // [B,R] float
	InRefLogProbs      = "ref_log_probs"      // [B,R] float
	OutVisionEmbed     = "vision_embeds"      // vision graph output
	OutLogits          = "logits"             // [B,V]: logits of the last position
	OutLogProbs        = "log_probs"          // [B,R]
	OutEntropy         = "entropy"            // [B,R] per-token entropy (log-prob graph) or [1] masked mean (training graph)
	OutLoss            = "loss"               // [1]
	OutPGLoss          = "pg_loss"            // [1]
	OutKLLoss          = "kl_loss"            // [1]
	OutClipFrac        = "clip_frac"          // [1]
	OutApproxKL        = "approx_kl"          // [1]
	GradPrefix         = "grad."              // training graph: GradPrefix + parameter name
)

// PastKey and PastValue name the KV-cache inputs of layer i of the decode graph;
// PresentKey and PresentValue name the outputs of the prefill and decode graphs.
func PastKey(i int) string      { return fmt.Sprintf("past.%d.key", i) }
func PastValue(i int) string    { return fmt.Sprintf("past.%d.value", i) }
func PresentKey(i int) string   { return fmt.Sprintf("present.%d.key", i) }
func PresentValue(i int) string { return fmt.Sprintf("present.%d.value", i) }

// Built is a finished graph together with the parameters it references.
type Built struct {
	Graph  *onnx.Graph
	Params []*onnx.Value
}

func finish(g *onnx.Graph, a *arch, what string) (*Built, error) {
	if err := a.c.checkGraphSupport(); err != nil {
		return nil, fmt.Errorf("build %s graph: %w", what, err)
	}
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("build %s graph: %w", what, err)
	}
	return &Built{Graph: g, Params: g.Params()}, nil
}

func (a *arch) visionInputs() visionIn {
	g := a.g
	hdv := int64(a.c.VisionHeadDim())
	in := visionIn{
		patches: g.Input(InPatches, g.Float(), []int64{-1, -1, int64(a.c.PatchDim())}, "slices", "patches", ""),
		cos:     g.Input(InVisionCos, g.Float(), []int64{-1, hdv}, "patches", ""),
		sin:     g.Input(InVisionSin, g.Float(), []int64{-1, hdv}, "patches", ""),
	}
	switch a.c.ModelType {
	case ModelQwen25VL:
		in.windowBias = g.Input(InVisionWindowBias, g.Float(), []int64{-1, -1}, "patches", "patches")
	case ModelQwen3VL:
		in.posIndex = g.Input(InVisionPosIndex, onnx.Int64, []int64{-1, 4}, "patches", "")
		in.posWeight = g.Input(InVisionPosWeight, g.Float(), []int64{-1, 4}, "patches", "")
	}
	return in
}

func (a *arch) textInputs(seq string) (ids, index, mask, pos *onnx.Value) {
	g := a.g
	ids = g.Input(InInputIDs, onnx.Int64, []int64{-1, -1}, "batch", seq)
	index = g.Input(InVisionIndex, onnx.Int64, []int64{-1, -1}, "batch", seq)
	mask = g.Input(InVisionMask, g.Float(), []int64{-1, -1}, "batch", seq)
	pos = g.Input(InPositionIDs, onnx.Int64, []int64{3, -1, -1}, "", "batch", seq)
	return
}

// BuildVision emits the vision graph: patches -> merged vision tokens.
func BuildVision(c Config, float onnx.DType) (*Built, error) {
	g := onnx.NewGraph("qwen2vl_vision", float)
	a := newArch(g, c)
	g.Output(OutVisionEmbed, a.visionTower(a.visionInputs()))
	return finish(g, a, "vision")
}

// BuildPrefill emits the prefill graph: a (left-padded) batch of prompts with
// their spliced vision tokens -> logits of the last position and the KV cache.
func BuildPrefill(c Config, float onnx.DType) (*Built, error) {
	g := onnx.NewGraph("qwen2vl_prefill", float)
	a := newArch(g, c)
	ids, index, mask, pos := a.textInputs("seq")
	vis := g.Input(InVisionEmbeds, float, []int64{-1, int64(c.VisionEmbedWidth())}, "vision_tokens", "")
	bias := g.Input(InAttnBias, float, []int64{-1, 1, -1, -1}, "batch", "", "seq", "seq_total")
	h, present := a.decoder(a.embed(ids, vis, index, mask), pos, bias, nil)
	last := g.Squeeze(g.Slice(h, []int64{-1}, []int64{1 << 62}, []int64{1}, nil), 1) // [B,H]
	g.Output(OutLogits, a.lmHead(last))
	for i, p := range present {
		g.Output(PresentKey(i), p.k)
		g.Output(PresentValue(i), p.v)
	}
	return finish(g, a, "prefill")
}

// BuildDecode emits the single-token decode graph with KV-cache inputs and outputs.
func BuildDecode(c Config, float onnx.DType) (*Built, error) { return buildDecode(c, float, false) }

// BuildDecodeStatic emits the single-token decode graph over fixed-size
// cache buffers: past.i.key/value [B,kv_heads,C,head_dim] hold C slots, of
// which the attention bias [B,1,1,C+1] marks the filled ones (last column:
// the new token itself); present.i.key/value are only the new token's key
// and value [B,kv_heads,1,head_dim], which the caller writes into the
// buffers. The cache is read once per step and never copied, so a step's
// memory traffic is the weights plus one read of the cache.
func BuildDecodeStatic(c Config, float onnx.DType) (*Built, error) {
	return buildDecode(c, float, true)
}

// buildDecode emits a decode graph: with static, over fixed-size cache
// buffers (BuildDecodeStatic), else with a growing cache (BuildDecode).
func buildDecode(c Config, float onnx.DType, static bool) (*Built, error) {
	name, what, pastDim, biasDim := "qwen2vl_decode", "decode", "past", "total"
	if static {
		name, what, pastDim, biasDim = "qwen2vl_decode_static", "decode_static", "cache", "slots"
	}
	g := onnx.NewGraph(name, float)
	a := newArch(g, c)
	a.staticCache = static
	kvh, hd := int64(c.NumKeyValueHeads), int64(c.HeadDim())
	ids := g.Input(InInputIDs, onnx.Int64, []int64{-1, 1}, "batch", "")
	pos := g.Input(InPositionIDs, onnx.Int64, []int64{3, -1, 1}, "", "batch", "")
	bias := g.Input(InAttnBias, float, []int64{-1, 1, 1, -1}, "batch", "", "", biasDim)
	past := make([]kv, c.NumHiddenLayers)
	for i := range past {
		past[i].k = g.Input(PastKey(i), float, []int64{-1, kvh, -1, hd}, "batch", "", pastDim, "")
		past[i].v = g.Input(PastValue(i), float, []int64{-1, kvh, -1, hd}, "batch", "", pastDim, "")
	}
	h, present := a.decoder(a.embed(ids, nil, nil, nil), pos, bias, past)
	g.Output(OutLogits, a.lmHead(g.Squeeze(h, 1)))
	for i, p := range present {
		g.Output(PresentKey(i), p.k)
		g.Output(PresentValue(i), p.v)
	}
	return finish(g, a, what)
}

// sequenceLogProbs runs the full model over whole sequences and returns the
// temperature-scaled log-probs and entropies of the response tokens [B,R].
// withVision selects the trainable vision tower (training graph) over
// precomputed vision embeddings (log-prob graph).
func (a *arch) sequenceLogProbs(withVision bool, temperature float64) (logp, ent *onnx.Value) {
	g := a.g
	ids, index, mask, pos := a.textInputs("seq")
	var vis *onnx.Value
	if withVision {
		vis = a.visionTower(a.visionInputs())
	} else {
		vis = g.Input(InVisionEmbeds, g.Float(), []int64{-1, int64(a.c.VisionEmbedWidth())}, "vision_tokens", "")
	}
	bias := g.Input(InAttnBias, g.Float(), []int64{-1, 1, -1, -1}, "batch", "", "seq", "seq_total")
	respIdx := g.Input(InRespIndex, onnx.Int64, []int64{-1, -1}, "batch", "response")
	respTok := g.Input(InRespTokens, onnx.Int64, []int64{-1, -1}, "batch", "response")
	h, _ := a.decoder(a.embed(ids, vis, index, mask), pos, bias, nil)
	flat := g.Reshape(h, []int64{-1, int64(a.c.HiddenSize)})
	sel := g.Gather(flat, respIdx, 0) // [B,R,H]
	logits := a.lmHead(sel)
	if temperature != 1 {
		logits = g.Div(logits, g.Scalar(temperature))
	}
	lsm := g.LogSoftmax(logits, -1)                                        // [B,R,V]
	logp = g.Squeeze(g.GatherElements(lsm, g.Unsqueeze(respTok, 2), 2), 2) // [B,R]
	ent = g.Neg(g.ReduceSum(g.Mul(g.Exp(lsm), lsm), []int64{-1}, false))
	return logp, ent
}

// BuildLogProb emits the log-prob graph used for old-policy and frozen
// reference log-probs: sequences + vision embeddings -> per-token log-probs
// and entropies of the response tokens.
func BuildLogProb(c Config, float onnx.DType, temperature float64) (*Built, error) {
	g := onnx.NewGraph("qwen2vl_logprob", float)
	a := newArch(g, c)
	logp, ent := a.sequenceLogProbs(false, temperature)
	g.Output(OutLogProbs, logp)
	g.Output(OutEntropy, ent)
	return finish(g, a, "log-prob")
}

// BuildTrain emits the training graph: the full model from patches and token
// ids, the loss of lc, and one gradient output per trainable parameter
// (GradPrefix + name; with LoRA only the adapters, see TrainableSpecs).
// Parameters are graph inputs when exported with ExportOptions.ParamsAsInputs.
func BuildTrain(c Config, float onnx.DType, lc LossConfig) (*Built, error) {
	if err := lc.Validate(); err != nil {
		return nil, err
	}
	g := onnx.NewGraph("qwen2vl_train_"+lc.Mode, float)
	a := newArch(g, c)
	a.training = true
	a.recompute = lc.Recompute
	logp, ent := a.sequenceLogProbs(true, lc.Temperature)
	mask := g.Input(InRespMask, float, []int64{-1, -1}, "batch", "response")
	out := lossGraph(g, lc, logp, ent, mask)
	for _, name := range out.names() {
		g.Output(name, out.values[name])
	}
	params := trainableParams(g.Params(), c)
	grads, err := g.GradientsWith(out.values[OutLoss], params, onnx.GradOptions{Recompute: lc.Recompute})
	if err != nil {
		return nil, fmt.Errorf("build training graph gradients: %w", err)
	}
	for i, p := range params {
		g.Output(GradPrefix+p.Name, grads[i])
	}
	return finish(g, a, "training")
}

// trainableParams keeps the graph parameters the optimizer updates.
func trainableParams(ps []*onnx.Value, c Config) []*onnx.Value {
	if c.LoRA == nil {
		return ps
	}
	keep := map[string]bool{}
	for _, s := range c.TrainableSpecs() {
		keep[s.Name] = true
	}
	var out []*onnx.Value
	for _, p := range ps {
		if keep[p.Name] {
			out = append(out, p)
		}
	}
	return out
}

// VisionExtraFeeds returns the vision graph inputs beyond the patches and
// rotary tables that the architecture needs for one temporal slice of grid
// g (every video of a vision batch shares the slice size): Qwen2.5-VL's
// window bias, Qwen3-VL's position-grid taps, nothing for Qwen2-VL.
func (c Config) VisionExtraFeeds(g Grid, dt onnx.DType) map[string]ort.Tensor {
	S := int64(g.PatchesPerSlice())
	switch c.ModelType {
	case ModelQwen25VL:
		return map[string]ort.Tensor{InVisionWindowBias: FloatTensor(dt, []int64{S, S}, c.WindowBias(g))}
	case ModelQwen3VL:
		idx, w := c.PosEmbedTaps(g)
		return map[string]ort.Tensor{InVisionPosIndex: Int64Tensor([]int64{S, 4}, idx), InVisionPosWeight: FloatTensor(dt, []int64{S, 4}, w)}
	}
	return nil
}

// VisionEmbedWidth is the width of a row of the vision graph's output
// (vision_embeds): hidden_size, and for Qwen3-VL (1 + deepstack features)
// * hidden_size, the main tokens followed by each deepstack feature.
func (c Config) VisionEmbedWidth() int {
	if c.ModelType == ModelQwen3VL {
		return (1 + len(c.VisionConfig.DeepstackVisualIndexes)) * c.HiddenSize
	}
	return c.HiddenSize
}
