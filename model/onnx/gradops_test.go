package onnx_test

import (
	"math"
	"sort"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
)

type V = *onnx.Value
type G = *onnx.Graph

func dyn(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = -1
	}
	return s
}

func unary(name string, f func(g G, x V) V, gen func(string, ...int64) gvar, f32 bool) gc {
	return gc{name: name, f32: f32, vars: []gvar{gen("x", 2, 3)}, build: func(g G, v []V) V { return f(g, v[0]) }}
}

func opCases() []gc {
	cs := []gc{
		unary("Neg", G.Neg, p, false),
		unary("Exp", G.Exp, p, false),
		unary("Log", G.Log, pos, false),
		unary("Sqrt", G.Sqrt, pos, false),
		unary("Tanh", G.Tanh, p, false),
		unary("Sigmoid", G.Sigmoid, p, false),
		unary("Erf", G.Erf, p, true),
		unary("Abs", G.Abs, away, false),
		unary("Reciprocal", G.Reciprocal, away, false),
		unary("Cos", G.Cos, p, false),
		unary("Sin", G.Sin, p, false),
		unary("Cos/f32", G.Cos, p, true),
		unary("Sin/f32", G.Sin, p, true),
		unary("Identity", G.Identity, p, false),
		{name: "Clip", vars: []gvar{p("x", 3, 4)}, build: func(g G, v []V) V { return g.Clip(v[0], -0.5, 0.7) }},
		// Broadcasting: row, column, scalar, leading batch.
		{name: "Add/row", vars: []gvar{p("a", 2, 3), p("b", 3)}, build: func(g G, v []V) V { return g.Add(v[0], v[1]) }},
		{name: "Sub/column", vars: []gvar{p("a", 2, 3), p("b", 2, 1)}, build: func(g G, v []V) V { return g.Sub(v[0], v[1]) }},
		{name: "Mul/scalar", vars: []gvar{p("a", 2, 3), p("b", 1)}, build: func(g G, v []V) V { return g.Mul(v[0], v[1]) }},
		{name: "Mul/rank0", vars: []gvar{p("a", 2, 3)}, build: func(g G, v []V) V { return g.Mul(g.Exp(g.ReduceSum(v[0], nil, false)), v[0]) }},
		{name: "Mul/both", vars: []gvar{p("a", 2, 1, 3), p("b", 4, 1)}, build: func(g G, v []V) V { return g.Mul(v[0], v[1]) }},
		{name: "Div/batch", vars: []gvar{p("a", 4, 2, 3), away("b", 2, 3)}, build: func(g G, v []V) V { return g.Div(v[0], v[1]) }},
		{name: "Pow", vars: []gvar{pos("a", 2, 3), p("b", 3)}, build: func(g G, v []V) V { return g.Pow(v[0], v[1]) }},
		{name: "Pow/const", vars: []gvar{p("a", 2, 3)}, build: func(g G, v []V) V { return g.Pow(v[0], g.Scalar(2)) }},
		{name: "Min", vars: []gvar{p("a", 2, 3), p("b", 1, 3)}, build: func(g G, v []V) V { return g.Min(v[0], v[1]) }},
		{name: "Max", vars: []gvar{p("a", 3), p("b", 2, 3)}, build: func(g G, v []V) V { return g.Max(v[0], v[1]) }},
		{name: "Where", vars: []gvar{p("a", 2, 3), p("b", 3), p("c", 2, 3)}, build: func(g G, v []V) V {
			return g.Where(g.Less(v[2], g.Scalar(0)), v[0], v[1])
		}},
		{name: "MatMul", vars: []gvar{p("a", 2, 3), p("b", 3, 4)}, build: func(g G, v []V) V { return g.MatMul(v[0], v[1]) }},
		{name: "MatMul/batch", vars: []gvar{p("a", 2, 2, 3), p("b", 3, 4)}, build: func(g G, v []V) V { return g.MatMul(v[0], v[1]) }},
		{name: "MatMul/bcast", vars: []gvar{p("a", 2, 1, 2, 3), p("b", 3, 3, 4)}, build: func(g G, v []V) V { return g.MatMul(v[0], v[1]) }},
		{name: "MatMul/vec-mat", vars: []gvar{p("a", 3), p("b", 2, 3, 4)}, build: func(g G, v []V) V { return g.MatMul(v[0], v[1]) }},
		{name: "MatMul/mat-vec", vars: []gvar{p("a", 2, 3), p("b", 3)}, build: func(g G, v []V) V { return g.MatMul(v[0], v[1]) }},
		{name: "MatMul/dot", vars: []gvar{p("a", 3), p("b", 3)}, build: func(g G, v []V) V { return g.MatMul(v[0], v[1]) }},
		{name: "Gemm", vars: []gvar{p("a", 2, 3), p("b", 3, 4), p("c", 4)}, build: func(g G, v []V) V { return g.Gemm(v[0], v[1], v[2], false, false, 1.5, 0.5) }},
		{name: "Gemm/tA", vars: []gvar{p("a", 3, 2), p("b", 3, 4), p("c", 2, 1)}, build: func(g G, v []V) V { return g.Gemm(v[0], v[1], v[2], true, false, 1, 1) }},
		{name: "Gemm/tB", vars: []gvar{p("a", 2, 3), p("b", 4, 3), p("c", 2, 4)}, build: func(g G, v []V) V { return g.Gemm(v[0], v[1], v[2], false, true, 0.7, 2) }},
		{name: "Gemm/tAtB", vars: []gvar{p("a", 3, 2), p("b", 4, 3)}, build: func(g G, v []V) V { return g.Gemm(v[0], v[1], nil, true, true, 1, 0) }},
		{name: "Softmax", vars: []gvar{p("x", 2, 4)}, build: func(g G, v []V) V { return g.Softmax(v[0], -1) }},
		{name: "Softmax/axis0", vars: []gvar{p("x", 3, 2, 2)}, build: func(g G, v []V) V { return g.Softmax(v[0], 0) }},
		{name: "LogSoftmax", vars: []gvar{p("x", 2, 4)}, build: func(g G, v []V) V { return g.LogSoftmax(v[0], 1) }},
		{name: "ReduceSum", vars: []gvar{p("x", 2, 3, 2)}, build: func(g G, v []V) V { return g.ReduceSum(v[0], []int64{1}, false) }},
		{name: "ReduceSum/keep", vars: []gvar{p("x", 2, 3, 2)}, build: func(g G, v []V) V { return g.ReduceSum(v[0], []int64{0, 2}, true) }},
		{name: "ReduceSum/all", vars: []gvar{p("x", 2, 3)}, build: func(g G, v []V) V { return g.ReduceSum(v[0], nil, false) }},
		{name: "ReduceMean", vars: []gvar{p("x", 2, 3, 2)}, build: func(g G, v []V) V { return g.ReduceMean(v[0], []int64{-1}, true) }},
		{name: "ReduceMax", vars: []gvar{p("x", 3, 4)}, build: func(g G, v []V) V { return g.ReduceMax(v[0], []int64{1}, false) }},
		{name: "ReduceMax/all", vars: []gvar{p("x", 3, 4)}, build: func(g G, v []V) V { return g.ReduceMax(v[0], nil, true) }},
		{name: "Reshape", vars: []gvar{p("x", 2, 3, 2)}, build: func(g G, v []V) V { return g.Reshape(v[0], []int64{0, -1}) }},
		{name: "ReshapeTo", vars: []gvar{p("x", 2, 6), p("y", 3, 4)}, build: func(g G, v []V) V { return g.Add(g.ReshapeTo(v[0], g.Shape(v[1])), v[1]) }},
		{name: "Transpose", vars: []gvar{p("x", 2, 3, 4)}, build: func(g G, v []V) V { return g.Transpose(v[0], 2, 0, 1) }},
		{name: "Concat", vars: []gvar{p("a", 2, 1), p("b", 2, 3), p("c", 2, 2)}, build: func(g G, v []V) V { return g.Concat(1, v[0], v[1], v[2]) }},
		{name: "Split", vars: []gvar{p("x", 5, 2)}, build: func(g G, v []V) V {
			s := g.Split(v[0], 0, []int64{1, 2, 2})
			return g.Concat(0, s[2], s[0]) // s[1] unused: zero gradient
		}},
		{name: "Slice", vars: []gvar{p("x", 4, 5)}, build: func(g G, v []V) V { return g.Slice(v[0], []int64{1, -4}, []int64{3, -1}, nil, nil) }},
		{name: "Slice/steps", vars: []gvar{p("x", 5, 6)}, build: func(g G, v []V) V {
			return g.Slice(v[0], []int64{-1, 1}, []int64{-100, 100}, []int64{0, 1}, []int64{-2, 2})
		}},
		{name: "Squeeze", vars: []gvar{p("x", 2, 1, 3)}, build: func(g G, v []V) V { return g.Squeeze(v[0], 1) }},
		{name: "Unsqueeze", vars: []gvar{p("x", 2, 3)}, build: func(g G, v []V) V { return g.Unsqueeze(v[0], 0, 2) }},
		{name: "Expand", vars: []gvar{p("x", 3, 1)}, build: func(g G, v []V) V { return g.Expand(v[0], g.ConstI64([]int64{2, 3, 4}, []int64{3})) }},
		{name: "Gather/repeated", vars: []gvar{p("emb", 5, 3)}, build: func(g G, v []V) V {
			return g.Gather(v[0], g.ConstI64([]int64{1, 4, 1, -1, 0, 1}, []int64{2, 3}), 0)
		}},
		{name: "Gather/axis1", vars: []gvar{p("x", 2, 4, 3)}, build: func(g G, v []V) V {
			return g.Gather(v[0], g.ConstI64([]int64{3, 0, 3}, []int64{3}), 1)
		}},
		{name: "Gather/scalar", vars: []gvar{p("x", 2, 4)}, build: func(g G, v []V) V { return g.Gather(v[0], g.ScalarI64(-1), 1) }},
		{name: "GatherElements", vars: []gvar{p("x", 3, 4)}, build: func(g G, v []V) V {
			return g.GatherElements(v[0], g.ConstI64([]int64{0, 0, 3, 2, 2, 2}, []int64{3, 2}), 1)
		}},
		{name: "Trilu", vars: []gvar{p("x", 2, 3, 3)}, build: func(g G, v []V) V { return g.Trilu(v[0], false, 0) }},
		{name: "Cast", f32: true, vars: []gvar{p("x", 2, 3)}, build: func(g G, v []V) V {
			return g.Cast(g.Exp(g.Cast(v[0], onnx.Float64)), onnx.Float32)
		}},
		// Dynamic-shape graph inputs.
		{name: "dyn/Add-MatMul", vars: []gvar{in("x", dyn(2), 2, 3), p("w", 3, 2), p("b", 2)}, build: func(g G, v []V) V {
			return g.Add(g.MatMul(v[0], v[1]), v[2])
		}},
		{name: "dyn/bcast-runtime-1", vars: []gvar{in("x", []int64{-1, 3}, 1, 3), p("w", 4, 3)}, build: func(g G, v []V) V { return g.Mul(v[0], v[1]) }},
		{name: "dyn/bcast-runtime-4", vars: []gvar{in("x", []int64{-1, 3}, 4, 3), p("w", 4, 3)}, build: func(g G, v []V) V { return g.Mul(v[0], v[1]) }},
		{name: "dyn/ReduceMean", vars: []gvar{in("x", dyn(3), 2, 3, 2)}, build: func(g G, v []V) V { return g.ReduceMean(v[0], []int64{0, 1}, false) }},
		{name: "dyn/Concat", vars: []gvar{in("a", []int64{2, -1}, 2, 2), in("b", []int64{2, -1}, 2, 3)}, build: func(g G, v []V) V { return g.Concat(1, v[0], v[1]) }},
		{name: "dyn/Slice", vars: []gvar{in("x", dyn(2), 4, 5)}, build: func(g G, v []V) V {
			return g.Slice(v[0], []int64{1, -1}, []int64{-1, 0}, nil, []int64{1, -2})
		}},
		{name: "dyn/SliceV", vars: []gvar{in("x", dyn(2), 4, 5), ii("s", []int64{2}, []int64{1, -3}, 2), ii("e", []int64{2}, []int64{3, 100}, 2)}, build: func(g G, v []V) V {
			return g.SliceV(v[0], v[1], v[2], g.ConstI64([]int64{0, 1}, []int64{2}))
		}},
		{name: "dyn/Gather", vars: []gvar{in("emb", []int64{-1, 3}, 4, 3), ii("ids", dyn(1), []int64{2, 2, 0, 3, 2}, 5)}, build: func(g G, v []V) V {
			return g.Gather(v[0], v[1], 0)
		}},
		{name: "dyn/Gather-axis1", vars: []gvar{in("x", dyn(3), 2, 4, 3), ii("ids", dyn(2), []int64{3, -4, 3, 1}, 2, 2)}, build: func(g G, v []V) V {
			return g.Gather(v[0], v[1], 1)
		}},
		{name: "dyn/Reshape-Softmax", vars: []gvar{in("x", dyn(2), 2, 6)}, build: func(g G, v []V) V {
			return g.Softmax(g.Reshape(v[0], []int64{0, -1, 2}), 1)
		}},
		{name: "dyn/Expand-ReduceMax", vars: []gvar{in("x", []int64{-1, 1}, 3, 1), in("y", dyn(2), 3, 4)}, build: func(g G, v []V) V {
			return g.Mul(g.ReduceMax(g.Expand(v[0], g.Shape(v[1])), []int64{0}, true), v[1])
		}},
	}
	return cs
}

func TestGradientChecks(t *testing.T) {
	eng := newEngine(t)
	cases := append(opCases(), compositeCases()...)
	results := map[string]gcResult{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.check(t, eng)
			results[c.name] = r
		})
	}
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		tag := "f64"
		for _, c := range cases {
			if c.name == n && c.f32 {
				tag = "f32"
			}
		}
		t.Logf("%-24s %s rel err %.2e over %d elements", n, tag, results[n].relErr, results[n].n)
	}
}

func compositeCases() []gc {
	const eps = 1e-6
	return []gc{
		{name: "RMSNorm", vars: []gvar{p("x", 2, 3, 4), p("w", 4)}, build: func(g G, v []V) V {
			x := v[0]
			ms := g.ReduceMean(g.Mul(x, x), []int64{-1}, true)
			return g.Mul(g.Mul(x, g.Reciprocal(g.Sqrt(g.Add(ms, g.Scalar(eps))))), v[1])
		}},
		{name: "SwiGLU", vars: []gvar{p("x", 2, 3), p("wg", 3, 4), p("wu", 3, 4), p("wd", 4, 3)}, build: func(g G, v []V) V {
			a := g.MatMul(v[0], v[1])
			silu := g.Mul(a, g.Sigmoid(a))
			return g.MatMul(g.Mul(silu, g.MatMul(v[0], v[2])), v[3])
		}},
		{name: "CausalAttention", vars: []gvar{p("q", 1, 2, 3, 4), p("k", 1, 2, 3, 4), p("v", 1, 2, 3, 4)}, build: func(g G, v []V) V {
			// additive causal mask [1,1,T,T]: 0 on/below the diagonal, -1e9 above
			mask := g.Mul(g.Trilu(g.ConstantOfShape(g.ConstI64([]int64{1, 1, 3, 3}, []int64{4}), 1), true, 1), g.Scalar(-1e9))
			s := g.Mul(g.MatMul(v[0], g.Transpose(v[1], 0, 1, 3, 2)), g.Scalar(1/math.Sqrt(4)))
			return g.MatMul(g.Softmax(g.Add(s, mask), -1), v[2])
		}},
		{name: "RoPE", vars: []gvar{p("x", 1, 2, 3, 4), in("cos", []int64{-1, 4}, 3, 4), in("sin", []int64{-1, 4}, 3, 4)}, build: func(g G, v []V) V {
			x := v[0]
			h := g.Split(x, -1, []int64{2, 2})
			rot := g.Concat(-1, g.Neg(h[1]), h[0])
			return g.Add(g.Mul(x, v[1]), g.Mul(rot, v[2]))
		}},
		{name: "RoPE/slice-dyn", vars: []gvar{in("x", []int64{1, 2, -1, 4}, 1, 2, 3, 4), in("cos", []int64{-1, 4}, 3, 4), in("sin", []int64{-1, 4}, 3, 4)}, build: func(g G, v []V) V {
			x := v[0]
			x1 := g.Slice(x, []int64{0}, []int64{2}, []int64{-1}, nil)
			x2 := g.Slice(x, []int64{2}, []int64{math.MaxInt64}, []int64{-1}, nil)
			rot := g.Concat(-1, g.Neg(x2), x1)
			return g.Add(g.Mul(x, v[1]), g.Mul(rot, v[2]))
		}},
		{name: "MLP-CrossEntropy", vars: []gvar{p("x", 3, 4), p("w1", 4, 5), p("b1", 5), p("w2", 5, 6), p("b2", 6)}, build: func(g G, v []V) V {
			h := g.Tanh(g.Add(g.MatMul(v[0], v[1]), v[2]))
			logits := g.Add(g.MatMul(h, v[3]), v[4])
			lp := g.LogSoftmax(logits, -1)
			tgt := g.ConstI64([]int64{2, 5, 0}, []int64{3, 1})
			return g.Neg(g.ReduceMean(g.GatherElements(lp, tgt, 1), nil, false))
		}},
	}
}
