package onnx_test

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
)

// tensor is a host tensor fed to or fetched from a session.
type tensor struct {
	shape []int64
	data  any // []float32 | []float64 | []int64
}

// session runs one model; engine creates sessions from model bytes. The
// ORT-backed implementation lives in ort_test.go.
type session interface {
	run(feeds map[string]tensor) (map[string]tensor, error)
	close()
}

type engine func(model []byte, inputs, outputs []string) (session, error)

// gvar is one input of a gradient check.
type gvar struct {
	name   string
	decl   []int64 // declared shape (-1 dynamic) for graph inputs
	shape  []int64 // actual shape
	gen    func(r *rand.Rand) float64
	input  bool    // graph Input instead of Param
	ints   []int64 // int64 input data (never differentiated)
	noGrad bool
}

func p(name string, shape ...int64) gvar { return gvar{name: name, shape: shape, gen: normal} }

func pos(name string, shape ...int64) gvar {
	return gvar{name: name, shape: shape, gen: func(r *rand.Rand) float64 { return 0.5 + 1.5*r.Float64() }}
}

// away returns values with |x| in [0.2, 1.2] (away from kinks at 0).
func away(name string, shape ...int64) gvar {
	return gvar{name: name, shape: shape, gen: func(r *rand.Rand) float64 {
		v := 0.2 + r.Float64()
		if r.IntN(2) == 0 {
			return -v
		}
		return v
	}}
}

func in(name string, decl []int64, shape ...int64) gvar {
	return gvar{name: name, decl: decl, shape: shape, gen: normal, input: true}
}

func ii(name string, decl []int64, data []int64, shape ...int64) gvar {
	return gvar{name: name, decl: decl, shape: shape, ints: data, input: true, noGrad: true}
}

func normal(r *rand.Rand) float64 { return r.NormFloat64() }

// gc is one gradient check: loss = ReduceSum(build(...) * W), W random.
type gc struct {
	name  string
	f32   bool // ORT CPU lacks a float64 kernel: check in float32
	vars  []gvar
	build func(g *onnx.Graph, v []*onnx.Value) *onnx.Value
}

// declare adds the case's variables to g (int inputs, float inputs, float
// parameters in the graph's float type) and returns them with those that
// are differentiated.
func (c gc) declare(g *onnx.Graph) (vals, wrt []*onnx.Value) {
	vals = make([]*onnx.Value, len(c.vars))
	for i, v := range c.vars {
		switch {
		case v.ints != nil:
			vals[i] = g.Input(v.name, onnx.Int64, v.decl)
		case v.input:
			vals[i] = g.Input(v.name, g.Float(), v.decl)
		default:
			vals[i] = g.Param(v.name, v.shape)
		}
		if v.ints == nil && !v.noGrad {
			wrt = append(wrt, vals[i])
		}
	}
	return vals, wrt
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

type gcResult struct {
	relErr float64
	n      int
}

// check runs the gradient check and returns the max relative error
// max|a-n| / max(1, max|n|) over the differentiated tensors.
func (c gc) check(t *testing.T, eng engine) gcResult {
	t.Helper()
	dt := onnx.Float64
	if c.f32 {
		dt = onnx.Float32
	}
	r := rand.New(rand.NewPCG(seedOf(c.name), 7))
	feeds := map[string]tensor{}
	var wrtNames []string
	for _, v := range c.vars {
		n := 1
		for _, d := range v.shape {
			n *= int(d)
		}
		if v.ints != nil {
			feeds[v.name] = tensor{v.shape, v.ints}
			continue
		}
		data := make([]float64, n)
		for i := range data {
			data[i] = v.gen(r)
		}
		if c.f32 {
			f := make([]float32, n)
			for i, x := range data {
				f[i] = float32(x)
			}
			feeds[v.name] = tensor{v.shape, f}
		} else {
			feeds[v.name] = tensor{v.shape, data}
		}
		if !v.noGrad {
			wrtNames = append(wrtNames, v.name)
		}
	}
	inputNames := func() []string {
		var ns []string
		for _, v := range c.vars {
			ns = append(ns, v.name)
		}
		return ns
	}()

	// build constructs the graph: mode 0 = output y, 1 = loss, 2 = loss + grads.
	build := func(mode int, w []float64, wShape []int64) ([]byte, []string) {
		g := onnx.NewGraph(c.name, dt)
		vals, wrt := c.declare(g)
		y := c.build(g, vals)
		if y.Rank() == 0 {
			y = g.Reshape(y, []int64{1}) // onnxruntime_go cannot fetch rank-0 tensors
		}
		if mode == 0 {
			g.Output("probe_out", y)
		} else {
			y64 := y
			if y.DType != onnx.Float64 {
				y64 = g.Cast(y, onnx.Float64)
			}
			wv := g.ConstF(w, wShape)
			if wv.DType != onnx.Float64 {
				wv = g.Cast(wv, onnx.Float64)
			}
			// shape [1]: onnxruntime_go cannot fetch rank-0 tensors
			loss := g.ReduceSum(g.Mul(y64, wv), nil, true)
			loss = g.Reshape(loss, []int64{1})
			g.Output("loss", loss)
			if mode == 2 {
				grads, err := g.Gradients(loss, wrt)
				if err != nil {
					t.Fatalf("gradients: %v", err)
				}
				for i, gr := range grads {
					g.Output("grad_"+c.vars[indexOf(c.vars, wrt[i].Name)].name, gr)
				}
			}
		}
		m, err := g.Build(onnx.ExportOptions{ParamsAsInputs: true})
		if err != nil {
			t.Fatalf("build: %v", err)
		}
		b, err := onnx.MarshalModel(m)
		if err != nil {
			t.Fatal(err)
		}
		var outs []string
		for _, o := range g.Outputs() {
			outs = append(outs, o.Name)
		}
		return b, outs
	}
	open := func(b []byte, outs []string) session {
		s, err := eng(b, inputNames, outs)
		if err != nil {
			t.Fatalf("session: %v", err)
		}
		return s
	}
	runOrFail := func(s session, f map[string]tensor) map[string]tensor {
		res, err := s.run(f)
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		return res
	}

	// Probe the output shape, then draw the loss weights.
	b, outs := build(0, nil, nil)
	s := open(b, outs)
	yShape := runOrFail(s, feeds)["probe_out"].shape
	s.close()
	nw := 1
	for _, d := range yShape {
		nw *= int(d)
	}
	w := make([]float64, nw)
	for i := range w {
		w[i] = r.NormFloat64()
	}

	b, outs = build(2, w, yShape)
	s = open(b, outs)
	res := runOrFail(s, feeds)
	s.close()
	b, outs = build(1, w, yShape)
	fwd := open(b, outs)
	defer fwd.close()
	lossAt := func(f map[string]tensor) float64 {
		return toF64(runOrFail(fwd, f)["loss"].data)[0]
	}

	h := 1e-6
	if c.f32 {
		h = 1e-3
	}
	var worst gcResult
	for _, name := range wrtNames {
		an := toF64(res["grad_"+name].data)
		if !slices.Equal(res["grad_"+name].shape, feeds[name].shape) {
			t.Fatalf("grad %s has shape %v, input %v", name, res["grad_"+name].shape, feeds[name].shape)
		}
		base := feeds[name]
		num := make([]float64, len(an))
		for i := range num {
			fp, fm, step := perturb(base, i, h)
			f := clone(feeds)
			f[name] = fp
			lp := lossAt(f)
			f[name] = fm
			lm := lossAt(f)
			num[i] = (lp - lm) / step
		}
		var maxDiff, maxNum float64
		for i := range num {
			maxDiff = max(maxDiff, math.Abs(an[i]-num[i]))
			maxNum = max(maxNum, math.Abs(num[i]))
		}
		rel := maxDiff / max(1, maxNum)
		if rel > worst.relErr || math.IsNaN(rel) {
			worst.relErr = rel
		}
		worst.n += len(num)
		tol := 1e-6
		if c.f32 {
			tol = 1e-3
		}
		if !(rel < tol) {
			t.Errorf("%s: d/d%s rel err %.3g > %g\nanalytic %v\nnumeric  %v", c.name, name, rel, tol, an, num)
		}
	}
	return worst
}

func indexOf(vs []gvar, name string) int {
	for i, v := range vs {
		if v.name == name {
			return i
		}
	}
	return -1
}

func clone(m map[string]tensor) map[string]tensor {
	o := make(map[string]tensor, len(m))
	for k, v := range m {
		o[k] = v
	}
	return o
}

// perturb returns copies of t with element i moved by +h and -h, and the
// actual distance between the two (exact in float32).
func perturb(t tensor, i int, h float64) (tensor, tensor, float64) {
	switch d := t.data.(type) {
	case []float64:
		a, b := slices.Clone(d), slices.Clone(d)
		a[i] += h
		b[i] -= h
		return tensor{t.shape, a}, tensor{t.shape, b}, a[i] - b[i]
	case []float32:
		a, b := slices.Clone(d), slices.Clone(d)
		a[i] += float32(h)
		b[i] -= float32(h)
		return tensor{t.shape, a}, tensor{t.shape, b}, float64(a[i]) - float64(b[i])
	}
	panic(fmt.Sprintf("perturb: %T", t.data))
}

func toF64(d any) []float64 {
	switch x := d.(type) {
	case []float64:
		return x
	case []float32:
		o := make([]float64, len(x))
		for i, v := range x {
			o[i] = float64(v)
		}
		return o
	}
	return nil
}
