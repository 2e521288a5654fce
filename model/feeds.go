package model

import (
	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// FloatTensor makes a tensor of the graph float type dt from float64 values.
func FloatTensor(dt onnx.DType, shape []int64, vals []float64) ort.Tensor {
	if dt == onnx.Float64 {
		return ort.Tensor{Shape: shape, DType: ort.Float64, Data: vals}
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return ort.Tensor{Shape: shape, DType: ort.Float32, Data: f}
}

// Float32Tensor makes a tensor of the graph float type dt from float32 values
// (shared, not copied, when dt is Float32).
func Float32Tensor(dt onnx.DType, shape []int64, vals []float32) ort.Tensor {
	if dt == onnx.Float32 {
		return ort.Tensor{Shape: shape, DType: ort.Float32, Data: vals}
	}
	f := make([]float64, len(vals))
	for i, v := range vals {
		f[i] = float64(v)
	}
	return ort.Tensor{Shape: shape, DType: ort.Float64, Data: f}
}

// Int64Tensor wraps int64 values.
func Int64Tensor(shape []int64, vals []int64) ort.Tensor {
	return ort.Tensor{Shape: shape, DType: ort.Int64, Data: vals}
}

// AddParamFeeds adds every parameter of the store to feeds (graphs exported
// with ParamsAsInputs). Float32 parameters are shared with the store, so
// in-place optimizer updates are seen by the next run without copies;
// half-precision ones are fed as their raw BFloat16/Float16 bits (shared
// too), whatever the graph float type dt.
func AddParamFeeds(feeds map[string]ort.Tensor, s *params.Store, dt onnx.DType) {
	for _, p := range s.Params() {
		shape := make([]int64, len(p.Shape))
		for i, d := range p.Shape {
			shape[i] = int64(d)
		}
		if p.IsHalf() {
			feeds[p.Name] = ort.Tensor{Shape: shape, DType: ort.DType(graphDType(p.DType)), Data: p.Half}
			continue
		}
		feeds[p.Name] = Float32Tensor(dt, shape, p.Data)
	}
}

// Feeds returns the sequence inputs of the log-prob and training graphs.
func (b *SeqBatch) Feeds(dt onnx.DType) map[string]ort.Tensor {
	B, L, R := int64(b.B), int64(b.L), int64(b.R)
	return map[string]ort.Tensor{
		InInputIDs:    Int64Tensor([]int64{B, L}, b.IDs),
		InVisionIndex: Int64Tensor([]int64{B, L}, b.Index),
		InVisionMask:  FloatTensor(dt, []int64{B, L}, b.VisMask),
		InPositionIDs: Int64Tensor([]int64{3, B, L}, b.Pos),
		InAttnBias:    FloatTensor(dt, []int64{B, 1, L, L}, b.Bias),
		InRespIndex:   Int64Tensor([]int64{B, R}, b.RespIndex),
		InRespTokens:  Int64Tensor([]int64{B, R}, b.RespTokens),
		InRespMask:    FloatTensor(dt, []int64{B, R}, b.RespMask),
	}
}

// Feeds returns the text inputs of the prefill graph (the vision embeddings
// are added by the caller under InVisionEmbeds).
func (b *PromptBatch) Feeds(dt onnx.DType) map[string]ort.Tensor {
	B, L := int64(b.B), int64(b.L)
	return map[string]ort.Tensor{
		InInputIDs:    Int64Tensor([]int64{B, L}, b.IDs),
		InVisionIndex: Int64Tensor([]int64{B, L}, b.Index),
		InVisionMask:  FloatTensor(dt, []int64{B, L}, b.VisMask),
		InPositionIDs: Int64Tensor([]int64{3, B, L}, b.Pos),
		InAttnBias:    FloatTensor(dt, []int64{B, 1, L, L}, b.Bias),
	}
}

// DecodeFeeds returns the inputs of one decode step: the new token of each
// row, its M-RoPE position (all three axes equal) and the attention bias
// over valid, which must already include the new position.
func DecodeFeeds(dt onnx.DType, tokens []int64, pos []int64, valid [][]bool) map[string]ort.Tensor {
	B := int64(len(tokens))
	p := make([]int64, 3*len(pos))
	for a := 0; a < 3; a++ {
		copy(p[a*len(pos):], pos)
	}
	total := int64(len(valid[0]))
	return map[string]ort.Tensor{
		InInputIDs:    Int64Tensor([]int64{B, 1}, tokens),
		InPositionIDs: Int64Tensor([]int64{3, B, 1}, p),
		InAttnBias:    FloatTensor(dt, []int64{B, 1, 1, total}, CausalBias(valid, 1)),
	}
}
