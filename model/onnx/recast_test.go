package onnx

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/safetensors"
)

// openORT opens ONNX Runtime, skipping the test when the library or cgo
// is missing.
func openORT(t *testing.T) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		t.Skipf("onnxruntime not available: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// recastGraph is loss = sum(tanh((x * v) W^T)) with W [3,4] held in wdt
// (cast to float32 when it is BFloat16) and gradients for v only.
func recastGraph(t *testing.T, wdt DType) (*Graph, *Value) {
	t.Helper()
	g := NewGraph("recast", Float32)
	x := g.Input("x", Float32, []int64{-1, 4}, "batch", "")
	v := g.Param("v", []int64{4})
	w := g.ParamOf("w", []int64{3, 4}, wdt)
	if wdt != Float32 {
		w = g.Cast(w, Float32)
	}
	y := g.MatMul(g.Mul(x, v), g.Transpose(w, 1, 0))
	loss := g.ReduceSum(g.Tanh(y), nil, false)
	g.Output("loss", loss)
	grads, err := g.Gradients(loss, []*Value{v})
	if err != nil {
		t.Fatal(err)
	}
	g.Output("grad.v", grads[0])
	return g, v
}

// TestRecastORT: with a BFloat16 weight the backward pass reads a second,
// gated cast of it (ONNX Runtime keeps both casts with its optimizations
// on), and the gradient equals that of the float32 graph over the same
// rounded weight. Gradients with respect to a BFloat16 parameter are refused.
func TestRecastORT(t *testing.T) {
	rt := openORT(t)
	r := rand.New(rand.NewPCG(5, 6))
	randn := func(n int) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64())
		}
		return d
	}
	x, v := randn(5*4), randn(4)
	wbits, err := safetensors.Float32ToHalf(safetensors.BF16, randn(12))
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := safetensors.HalfToFloat32(safetensors.BF16, wbits)
	dir := t.TempDir()
	run := func(wdt DType, w ort.Tensor) (map[string][]float32, string) {
		g, _ := recastGraph(t, wdt)
		path := filepath.Join(dir, wdt.String()+".onnx")
		s := paramSession(t, rt, g, ort.Options{IntraOpThreads: 1, InterOpThreads: 1, OptimizedModelPath: path})
		out, err := s.Run(context.Background(), map[string]ort.Tensor{
			"x": {Shape: []int64{5, 4}, Data: x}, "v": {Shape: []int64{4}, Data: v}, "w": w,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res := map[string][]float32{}
		for k, o := range out {
			res[k] = o.Data.([]float32)
		}
		return res, path
	}
	want, _ := run(Float32, ort.Tensor{Shape: []int64{3, 4}, Data: wf})
	got, path := run(BFloat16, ort.Tensor{Shape: []int64{3, 4}, DType: ort.BFloat16, Data: wbits})
	for k, wv := range want {
		for i := range wv {
			if d := math.Abs(float64(wv[i] - got[k][i])); d > 1e-6*math.Max(1, math.Abs(float64(wv[i]))) {
				t.Fatalf("%s[%d] = %g with a BF16 weight, %g with float32", k, i, got[k][i], wv[i])
			}
		}
	}
	if n := countOps(t, path, "Cast"); n != 2 {
		t.Fatalf("ONNX Runtime's optimised model has %d Casts, want the forward and the backward one", n)
	}
	g := NewGraph("bad", Float32)
	w := g.ParamOf("w", []int64{2}, BFloat16)
	if _, err := g.Gradients(g.ReduceSum(g.Cast(w, Float32), nil, false), []*Value{w}); err == nil {
		t.Fatal("gradient with respect to a BF16 parameter accepted")
	}
}
