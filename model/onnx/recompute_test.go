package onnx

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/videossr/videossr-go/model/onnx/pb"
	"github.com/videossr/videossr-go/model/ort"
)

const rcLayers, rcWidth = 4, 6

// rcGraph builds a residual stack x <- x + tanh(x W_i + c)^2 * s with a
// Checkpoint at every layer input and after the last layer, where c is
// computed before the first marker (a value shared by every segment), and
// appends the gradients with respect to every W_i and the input.
func rcGraph(t *testing.T, dt DType, recompute bool) (*Graph, []*Value) {
	t.Helper()
	g := NewGraph("rc", dt)
	x := g.Input("x", dt, []int64{-1, rcWidth}, "batch", "")
	c := g.Sigmoid(g.Input("c", dt, []int64{rcWidth}))
	s := g.Param("s", []int64{rcWidth})
	var wrt []*Value
	for i := 0; i < rcLayers; i++ {
		x = g.Checkpoint(x)
		w := g.Param("w"+string(rune('0'+i)), []int64{rcWidth, rcWidth})
		wrt = append(wrt, w)
		h := g.Tanh(g.Add(g.MatMul(x, w), c))
		x = g.Add(x, g.Mul(g.Mul(h, h), s))
	}
	x = g.Checkpoint(x)
	loss := g.Reshape(g.ReduceSum(g.Mul(x, x), nil, false), []int64{1})
	g.Output("loss", loss)
	wrt = append(wrt, s)
	grads, err := g.GradientsWith(loss, wrt, GradOptions{Recompute: recompute})
	if err != nil {
		t.Fatal(err)
	}
	for i, gr := range grads {
		g.Output("grad_"+wrt[i].Name, gr)
	}
	return g, wrt
}

// TestRecomputeStructure checks that with Recompute no backward node reads
// an activation computed inside a segment during the forward pass, and that
// without it some do (so the check discriminates).
func TestRecomputeStructure(t *testing.T) {
	for _, recompute := range []bool{false, true} {
		g, _ := rcGraph(t, Float64, recompute)
		if got := g.NumCheckpoints(); got != rcLayers+1 {
			t.Fatalf("%d checkpoints, want %d", got, rcLayers+1)
		}
		// Forward nodes end at the loss output's producer.
		fwdEnd := 0
		for i, n := range g.nodes {
			if len(n.outputs) > 0 && n.outputs[0].Name == "loss" {
				fwdEnd = i
			}
		}
		inSeg := map[*Value]bool{}
		seen, segs := 0, 0
		for _, n := range g.nodes[:fwdEnd] {
			if isCheckpoint(n) {
				seen++
				continue
			}
			if seen >= 1 && seen <= rcLayers {
				segs++
				for _, o := range n.outputs {
					inSeg[o] = true
				}
			}
		}
		reads, tanh := 0, 0
		for _, n := range g.nodes[fwdEnd+1:] {
			for _, in := range n.inputs {
				if inSeg[in] {
					reads++
				}
			}
			if n.op == "Tanh" {
				tanh++
			}
		}
		if recompute && (reads != 0 || tanh != rcLayers) {
			t.Errorf("recompute: backward reads %d forward activations (want 0), recomputes %d Tanh (want %d)", reads, tanh, rcLayers)
		}
		if !recompute && (reads == 0 || tanh != 0) {
			t.Errorf("no recompute: backward reads %d forward activations (want > 0), %d Tanh (want 0)", reads, tanh)
		}
		if segs == 0 {
			t.Fatal("no segment nodes found")
		}
	}
}

// TestCheckpointWithoutRecompute checks that a marker is a plain Identity
// for Gradients and that fewer than two markers recompute nothing.
func TestCheckpointWithoutRecompute(t *testing.T) {
	g := NewGraph("one", Float64)
	w := g.Param("w", []int64{3})
	y := g.Checkpoint(g.Tanh(w))
	loss := g.ReduceSum(g.Mul(g.Tanh(y), y), nil, true)
	before := g.NumNodes()
	if _, err := g.GradientsWith(loss, []*Value{w}, GradOptions{Recompute: true}); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.nodes[before:] {
		if n.op == "Tanh" {
			t.Fatal("a single checkpoint recomputed a node")
		}
	}
	if g2 := NewGraph("bad", Float64); g2.Checkpoint(nil) != nil && g2.Err() == nil {
		t.Fatal("Checkpoint(nil) recorded no error")
	}
}

// paramSession opens a session over g built with its parameters as inputs;
// it is closed when the test ends.
func paramSession(t *testing.T, rt *ort.Runtime, g *Graph, o ort.Options) *ort.Session {
	t.Helper()
	m, err := g.Build(ExportOptions{ParamsAsInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSession(raw, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rcRun(t *testing.T, rt *ort.Runtime, g *Graph, wrt []*Value, optimize bool, saveAs string) map[string][]float64 {
	t.Helper()
	s := paramSession(t, rt, g, ort.Options{IntraOpThreads: 1, InterOpThreads: 1, DisableOptimizations: !optimize, OptimizedModelPath: saveAs})
	r := rand.New(rand.NewPCG(3, 4))
	const batch = 5
	mk := func(shape ...int64) ort.Tensor {
		n := 1
		for _, d := range shape {
			n *= int(d)
		}
		if g.Float() == Float32 {
			d := make([]float32, n)
			for i := range d {
				d[i] = float32(r.NormFloat64() * 0.6)
			}
			return ort.Tensor{Shape: shape, Data: d}
		}
		d := make([]float64, n)
		for i := range d {
			d[i] = r.NormFloat64() * 0.6
		}
		return ort.Tensor{Shape: shape, Data: d}
	}
	feeds := map[string]ort.Tensor{"x": mk(batch, rcWidth), "c": mk(rcWidth)}
	for _, w := range wrt {
		feeds[w.Name] = mk(w.Shape...)
	}
	out, err := s.Run(context.Background(), feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string][]float64{}
	for k, v := range out {
		switch d := v.Data.(type) {
		case []float64:
			res[k] = d
		case []float32:
			f := make([]float64, len(d))
			for i, x := range d {
				f[i] = float64(x)
			}
			res[k] = f
		}
	}
	return res
}

// countOps counts the nodes of the model at path whose op is one of ops.
func countOps(t *testing.T, path string, ops ...string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, n := range m.GetGraph().GetNode() {
		if slices.Contains(ops, n.GetOpType()) {
			k++
		}
	}
	return k
}

// TestRecomputeORT runs the stack with and without recomputation on ONNX
// Runtime: the gradients agree, and with graph optimizations on (common
// subexpression elimination included) the optimised model still holds the
// recomputed Tanh (or fused Gemm+Tanh) nodes, so ONNX Runtime did not merge them with the
// forward ones.
func TestRecomputeORT(t *testing.T) {
	rt := openORT(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		dt       DType
		optimize bool
		tol      float64
	}{{Float64, false, 1e-12}, {Float32, true, 1e-6}} {
		g0, wrt0 := rcGraph(t, tc.dt, false)
		g1, wrt1 := rcGraph(t, tc.dt, true)
		p0, p1 := filepath.Join(dir, tc.dt.String()+"_plain.onnx"), filepath.Join(dir, tc.dt.String()+"_rc.onnx")
		ref := rcRun(t, rt, g0, wrt0, tc.optimize, p0)
		got := rcRun(t, rt, g1, wrt1, tc.optimize, p1)
		for name, want := range ref {
			have := got[name]
			scale, diff := 0.0, 0.0
			for i := range want {
				scale = math.Max(scale, math.Abs(want[i]))
				diff = math.Max(diff, math.Abs(want[i]-have[i]))
			}
			if len(have) != len(want) || !(diff <= tc.tol*math.Max(scale, 1e-30)) || scale == 0 {
				t.Errorf("%s %s: recomputed gradient differs by %g (scale %g)", tc.dt, name, diff, scale)
			}
		}
		// ONNX Runtime fuses MatMul+Add+Tanh into FusedGemm (float32).
		n0, n1 := countOps(t, p0, "Tanh", "FusedGemm"), countOps(t, p1, "Tanh", "FusedGemm")
		if n0 != rcLayers || n1 != 2*rcLayers {
			t.Errorf("%s optimize=%v: ONNX Runtime's model has %d Tanh/FusedGemm without recompute (want %d), %d with (want %d)", tc.dt, tc.optimize, n0, rcLayers, n1, 2*rcLayers)
		}
	}
}
