package onnx

import (
	"slices"
	"strings"
	"testing"
)

func TestShapeInference(t *testing.T) {
	g := NewGraph("shapes", Float32)
	x := g.Input("x", Float32, []int64{-1, 4, 8}, "batch", "", "")
	w := g.Param("w", []int64{8, 16})
	b := g.Param("b", []int64{16})
	ids := g.Input("ids", Int64, []int64{-1, -1})
	emb := g.Param("emb", []int64{100, 8})
	cases := []struct {
		name string
		v    *Value
		want []int64
	}{
		{"matmul", g.MatMul(x, w), []int64{-1, 4, 16}},
		{"matmul+bias", g.Add(g.MatMul(x, w), b), []int64{-1, 4, 16}},
		{"matmul vec", g.MatMul(g.Param("v", []int64{8}), w), []int64{16}},
		{"matmul batch bcast", g.MatMul(g.Input("p", Float32, []int64{2, 1, 3, 5}), g.Input("q", Float32, []int64{7, 5, 6})), []int64{2, 7, 3, 6}},
		{"bcast dyn", g.Add(x, g.Input("y", Float32, []int64{3, 1, 1, 8})), []int64{3, -1, 4, 8}},
		{"reshape 0 -1", g.Reshape(x, []int64{0, -1}), []int64{-1, 32}},
		{"reshape static", g.Reshape(w, []int64{4, -1}), []int64{4, 32}},
		{"reshapeTo shape", g.ReshapeTo(w, g.Concat(0, g.ShapeDims(b, 0, 1), g.ConstI64([]int64{-1}, []int64{1}))), []int64{16, 8}},
		{"transpose", g.Transpose(x, 0, 2, 1), []int64{-1, 8, 4}},
		{"transpose rev", g.Transpose(w), []int64{16, 8}},
		{"concat", g.Concat(-1, x, x), []int64{-1, 4, 16}},
		{"concat dyn", g.Concat(0, x, x), []int64{-1, 4, 8}},
		{"slice", g.Slice(x, []int64{1}, []int64{-1}, []int64{2}, nil), []int64{-1, 4, 6}},
		{"slice step", g.Slice(w, []int64{-1}, []int64{-100}, []int64{0}, []int64{-3}), []int64{3, 16}},
		{"slice big end", g.Slice(w, []int64{2}, []int64{1 << 40}, []int64{1}, []int64{2}), []int64{8, 7}},
		{"squeeze", g.Squeeze(g.Reshape(w, []int64{1, 8, 1, 16}), 0, 2), []int64{8, 16}},
		{"unsqueeze", g.Unsqueeze(w, 0, -1), []int64{1, 8, 16, 1}},
		{"gather emb", g.Gather(emb, ids, 0), []int64{-1, -1, 8}},
		{"gather axis1", g.Gather(emb, g.ScalarI64(3), 1), []int64{100}},
		{"gatherElements", g.GatherElements(w, g.ConstI64(make([]int64, 16), []int64{8, 2}), 1), []int64{8, 2}},
		{"reduce keep", g.ReduceSum(x, []int64{-1}, true), []int64{-1, 4, 1}},
		{"reduce all", g.ReduceMean(x, nil, false), []int64{}},
		{"reduce max", g.ReduceMax(x, []int64{0, 1}, false), []int64{8}},
		{"expand", g.Expand(b, g.ConstI64([]int64{3, 1, 16}, []int64{3})), []int64{3, 1, 16}},
		{"expand shape", g.Expand(g.Param("one", []int64{1, 8}), g.Shape(x)), []int64{-1, 4, 8}},
		{"shape", g.Shape(x), []int64{3}},
		{"shapeDims", g.ShapeDims(x, 1, -1), []int64{1}},
		{"constOfShape", g.ConstantOfShape(g.Shape(x), 1), []int64{-1, 4, 8}},
		{"range", g.Range(g.ScalarI64(0), g.ScalarI64(10), g.ScalarI64(3)), []int64{4}},
		{"gemm", g.Gemm(w, g.Param("w2", []int64{5, 16}), g.Param("c", []int64{5}), false, true, 1, 1), []int64{8, 5}},
		{"where", g.Where(g.Less(x, g.Scalar(0)), x, g.Scalar(1)), []int64{-1, 4, 8}},
		{"softmax", g.Softmax(x, -1), []int64{-1, 4, 8}},
		{"split", g.Split(w, 1, []int64{4, 12})[1], []int64{8, 12}},
		{"trilu", g.Trilu(w, true, 0), []int64{8, 16}},
	}
	if err := g.Err(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if !slices.Equal(c.v.Shape, c.want) {
			t.Errorf("%s: shape %v, want %v", c.name, c.v.Shape, c.want)
		}
	}
	// Known-value propagation through shape arithmetic.
	k := g.Mul(g.Gather(g.Shape(w), g.ScalarI64(0), 0), g.ScalarI64(2))
	if !slices.Equal(k.known, []int64{16}) {
		t.Errorf("known shape arithmetic: %v", k.known)
	}
	names := map[string]bool{}
	for _, n := range g.nodes {
		if names[n.name] {
			t.Errorf("duplicate node name %s", n.name)
		}
		names[n.name] = true
		for _, o := range n.outputs {
			if names[o.Name] {
				t.Errorf("duplicate value name %s", o.Name)
			}
			names[o.Name] = true
		}
	}
}

func TestShapeErrors(t *testing.T) {
	cases := []struct {
		name string
		f    func(g *Graph)
		want []string
	}{
		{"add", func(g *Graph) { g.Add(g.Param("a", []int64{2, 3}), g.Param("b", []int64{4})) }, []string{"Add", "[2 3]", "[4]", "shape_test.go:"}},
		{"matmul", func(g *Graph) { g.MatMul(g.Param("a", []int64{2, 3}), g.Param("b", []int64{4, 5})) }, []string{"MatMul", "inner dims", "[2 3]"}},
		{"dtype", func(g *Graph) { g.Add(g.Param("a", []int64{2}), g.ConstI64([]int64{1, 2}, []int64{2})) }, []string{"dtype mismatch"}},
		{"reshape", func(g *Graph) { g.Reshape(g.Param("a", []int64{2, 3}), []int64{4, -1}) }, []string{"Reshape", "cannot reshape"}},
		{"axis", func(g *Graph) { g.Softmax(g.Param("a", []int64{2, 3}), 2) }, []string{"Softmax", "axis 2 out of range"}},
		{"concat", func(g *Graph) { g.Concat(0, g.Param("a", []int64{2, 3}), g.Param("b", []int64{2, 4})) }, []string{"Concat", "dim 1"}},
		{"split", func(g *Graph) { g.Split(g.Param("a", []int64{2, 3}), 1, []int64{1, 1}) }, []string{"Split", "sum to 2"}},
		{"squeeze", func(g *Graph) { g.Squeeze(g.Param("a", []int64{2, 3}), 0) }, []string{"Squeeze", "not 1"}},
		{"dup", func(g *Graph) { g.Param("a", []int64{2}); g.Input("a", Float32, []int64{2}) }, []string{"already used"}},
		{"nil", func(g *Graph) { g.Exp(nil) }, []string{"Exp", "nil"}},
		{"expand", func(g *Graph) { g.Expand(g.Param("a", []int64{3}), g.ConstI64([]int64{2, 4}, []int64{2})) }, []string{"Expand", "cannot expand"}},
	}
	for _, c := range cases {
		g := NewGraph("e", Float32)
		c.f(g)
		// Later ops are no-ops that return poisoned values.
		p := g.Exp(g.Param("later", []int64{1}))
		err := g.Err()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
		if p.kind != kindPoison {
			t.Errorf("%s: op after failure not poisoned", c.name)
		}
		if _, berr := g.Build(ExportOptions{ParamsAsInputs: true}); berr == nil {
			t.Errorf("%s: Build succeeded on a failed graph", c.name)
		}
	}
}

func TestSliceRange(t *testing.T) {
	ref := func(dim, start, end, step int64) []int64 {
		// Direct simulation of numpy-like slicing as specified by ONNX.
		var out []int64
		s, e := start, end
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		if step > 0 {
			s, e = min(max(s, 0), dim), min(max(e, 0), dim)
			for i := s; i < e; i += step {
				out = append(out, i)
			}
		} else {
			s, e = min(max(s, 0), dim-1), min(max(e, -1), dim-1)
			for i := s; i > e; i += step {
				out = append(out, i)
			}
		}
		return out
	}
	for dim := int64(1); dim < 7; dim++ {
		for start := -9; start < 9; start++ {
			for end := -9; end < 9; end++ {
				for _, step := range []int64{-3, -2, -1, 1, 2, 3} {
					want := ref(dim, int64(start), int64(end), step)
					first, n := sliceRange(dim, int64(start), int64(end), step)
					if n != int64(len(want)) || (n > 0 && first != want[0]) {
						t.Fatalf("dim %d [%d:%d:%d]: got first %d n %d, want %v", dim, start, end, step, first, n, want)
					}
				}
			}
		}
	}
}
