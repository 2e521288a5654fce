package model

import (
	"fmt"

	"github.com/videossr/videossr-go/model/onnx"
)

// Graphs of a device-resident policy (PolicyOptions.Device), loaded with
// the static-cache decode graph.
const (
	// GraphDecodeResident decodes one token over cache buffers that stay
	// on the device: see BuildDecodeResident.
	GraphDecodeResident = "decode_resident"
	// GraphCacheSelect gathers cache rows and pads their slots on the
	// device: see BuildCacheSelect.
	GraphCacheSelect = "cache_select"
	// GraphAttnBias makes a causal attention bias from key validity on
	// the device: see BuildAttnBias.
	GraphAttnBias = "attn_bias"
)

// Inputs and outputs of the resident graphs.
const (
	InDecodePositions = "decode_positions" // [B] int64: M-RoPE position of each row's new token (all three axes)
	InDecodeSlot      = "decode_slot"      // [1] int64: cache slot the new token's key and value go to
	InPromptValid     = "prompt_valid"     // [B,L] float: 1 at the prompt's real (non-padding) positions
	InCacheRows       = "cache_rows"       // [n] int64: source row of each output row
	InCachePads       = "cache_pads"       // [4] int64: zeros appended to each axis ([0,0,C-L,0])
	InKeyValid        = "key_valid"        // [B,L] float: 1 at real keys (attn_bias graph)
	OutCacheValid     = "cache_valid"      // [n,L] float: the gathered prompt validity
)

// CacheKey and CacheValue name the outputs of the cache_select graph.
func CacheKey(i int) string   { return fmt.Sprintf("cache.%d.key", i) }
func CacheValue(i int) string { return fmt.Sprintf("cache.%d.value", i) }

// residentGraphs are the graphs a resident policy adds to the static
// decode graph.
func residentGraphs() []string {
	return []string{GraphDecodeResident, GraphCacheSelect}
}

// BuildDecodeResident emits the decode graph whose KV cache never leaves
// the device. Inputs: the new tokens input_ids [B,1], their positions
// decode_positions [B], the slot decode_slot [1], the prompt validity
// prompt_valid [B,L] and the cache buffers past.i.key/value
// [B,kv_heads,C,head_dim]. The attention mask is made in the graph: slot
// j < L is valid where the prompt is, slot L <= j < decode_slot holds a
// generated token, later slots are empty, and the new token attends to
// itself. Outputs: logits [B,V] and present.i.key/value, the cache buffers
// with the new key and value written at decode_slot. Bound to the same
// device buffers as past.i.key/value, present.i.key/value update the cache
// in place (ScatterElements: only the new slot is written). Whether the
// write lands before or after the attention reads the buffer does not
// matter: the slot is masked in this step.
//
// A step thus sends 2B+1 int64 values in and (the caller's choice) the
// B*V logits out; the parameters and the cache stay.
func BuildDecodeResident(c Config, float onnx.DType) (*Built, error) {
	g := onnx.NewGraph("qwen2vl_decode_resident", float)
	a := newArch(g, c)
	a.staticCache = true
	kvh, hd := int64(c.NumKeyValueHeads), int64(c.HeadDim())
	ids := g.Input(InInputIDs, onnx.Int64, []int64{-1, 1}, "batch", "")
	positions := g.Input(InDecodePositions, onnx.Int64, []int64{-1}, "batch")
	slot := g.Input(InDecodeSlot, onnx.Int64, []int64{1}, "")
	pvalid := g.Input(InPromptValid, float, []int64{-1, -1}, "batch", "prompt")
	past := make([]kv, c.NumHiddenLayers)
	for i := range past {
		past[i].k = g.Input(PastKey(i), float, []int64{-1, kvh, -1, hd}, "batch", "", "cache", "")
		past[i].v = g.Input(PastValue(i), float, []int64{-1, kvh, -1, hd}, "batch", "", "cache", "")
	}
	// position_ids [3,B,1]: the three M-RoPE axes advance together in text.
	pos := g.Expand(g.Unsqueeze(g.Unsqueeze(positions, 0), 2), g.ConstI64([]int64{3, 1, 1}, []int64{3}))

	// Validity of the C slots and of the new token: [B, C+1].
	L := g.Squeeze(g.ShapeDims(pvalid, 1, 2), 0)
	C := g.Squeeze(g.ShapeDims(past[0].k, 2, 3), 0)
	j := g.Range(L, C, g.ScalarI64(1))                                    // [C-L]
	gen := g.Cast(g.Less(g.Unsqueeze(j, 0), g.Unsqueeze(slot, 0)), float) // [1, C-L]
	B := g.ShapeDims(pvalid, 0, 1)
	gen = g.Expand(gen, g.Concat(0, B, g.ShapeDims(gen, 1, 2))) // [B, C-L]
	one := g.Expand(g.ConstF([]float64{1}, []int64{1, 1}), g.Concat(0, B, g.ConstI64([]int64{1}, []int64{1})))
	valid := g.Concat(1, pvalid, gen, one) // [B, C+1]
	bias := g.Where(g.Greater(valid, g.Scalar(0.5)), g.Scalar(0), g.Scalar(MaskedBias))
	bias = g.Unsqueeze(g.Unsqueeze(bias, 1), 1) // [B,1,1,C+1]

	h, present := a.decoder(a.embed(ids, nil, nil, nil), pos, bias, past)
	g.Output(OutLogits, a.lmHead(g.Squeeze(h, 1)))
	at := g.Reshape(slot, []int64{1, 1, 1, 1})
	for i, p := range present {
		idx := g.Expand(at, g.Shape(p.k)) // [B,kvh,1,hd], every entry = slot
		g.Output(PresentKey(i), g.ScatterElements(past[i].k, idx, p.k, 2))
		g.Output(PresentValue(i), g.ScatterElements(past[i].v, idx, p.v, 2))
	}
	return finish(g, a, "decode_resident")
}

// BuildCacheSelect emits the cache set-up graph of the resident decode:
// from source caches past.i.key/value [P,kv_heads,L,head_dim] and their
// prompt validity [P,L], output row r is source row cache_rows[r], with
// cache_pads zeros appended to each axis: cache.i.key/value [n,kv_heads,
// L+pad,head_dim] and cache_valid [n,L]. With pads [0,0,C-L,0] it turns a
// prefill's cache into decode buffers of C slots, each prompt's cache
// repeated for its group; with zero pads it drops finished rows.
func BuildCacheSelect(c Config, float onnx.DType) (*Built, error) {
	g := onnx.NewGraph("cache_select", float)
	kvh, hd := int64(c.NumKeyValueHeads), int64(c.HeadDim())
	rows := g.Input(InCacheRows, onnx.Int64, []int64{-1}, "rows")
	pads := g.Input(InCachePads, onnx.Int64, []int64{4}, "")
	pvalid := g.Input(InPromptValid, float, []int64{-1, -1}, "batch", "prompt")
	for i := 0; i < c.NumHiddenLayers; i++ {
		k := g.Input(PastKey(i), float, []int64{-1, kvh, -1, hd}, "batch", "", "slots", "")
		v := g.Input(PastValue(i), float, []int64{-1, kvh, -1, hd}, "batch", "", "slots", "")
		g.Output(CacheKey(i), g.PadEnd(g.Gather(k, rows, 0), pads))
		g.Output(CacheValue(i), g.PadEnd(g.Gather(v, rows, 0), pads))
	}
	g.Output(OutCacheValid, g.Gather(pvalid, rows, 0))
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("build cache_select graph: %w", err)
	}
	return &Built{Graph: g}, nil
}

// BuildAttnBias emits the graph that makes the causal attention bias
// attention_bias [B,1,L,L] (0 where query i may attend key j <= i and key
// j is valid, MaskedBias elsewhere: CausalBias with as many queries as
// keys) from key_valid [B,L].
func BuildAttnBias(float onnx.DType) (*Built, error) {
	g := onnx.NewGraph("attn_bias", float)
	valid := g.Input(InKeyValid, float, []int64{-1, -1}, "batch", "keys")
	j := g.Range(g.ScalarI64(0), g.Squeeze(g.ShapeDims(valid, 1, 2), 0), g.ScalarI64(1)) // [L]
	causal := g.LessOrEqual(g.Unsqueeze(j, 0), g.Unsqueeze(j, 1))                        // [i, j]: j <= i
	ok := g.And(g.Unsqueeze(causal, 0), g.Unsqueeze(g.Greater(valid, g.Scalar(0.5)), 1))
	bias := g.Where(ok, g.Scalar(0), g.Scalar(MaskedBias)) // [B,L,L]
	g.Output(InAttnBias, g.Unsqueeze(bias, 1))
	if err := g.Err(); err != nil {
		return nil, fmt.Errorf("build attn_bias graph: %w", err)
	}
	return &Built{Graph: g}, nil
}
