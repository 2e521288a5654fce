package onnx_test

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
)

// runGraph builds g (ParamsAsInputs unless data is given) and runs it once.
func runGraph(t *testing.T, eng engine, g *onnx.Graph, opt onnx.ExportOptions, feeds map[string]tensor) map[string]tensor {
	t.Helper()
	m, err := g.Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := onnx.MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, o := range g.Outputs() {
		outs = append(outs, o.Name)
	}
	s, err := eng(b, nil, outs)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer s.close()
	res, err := s.run(feeds)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func randF32(r *rand.Rand, n int) []float32 {
	o := make([]float32, n)
	for i := range o {
		o[i] = float32(r.NormFloat64())
	}
	return o
}

func closeTo(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

// TestForwardValues runs small graphs in ONNX Runtime and compares with
// values computed in Go.
func TestForwardValues(t *testing.T) {
	eng := newEngine(t)
	r := rand.New(rand.NewPCG(1, 2))
	x := randF32(r, 2*3) // [2 3]
	w := randF32(r, 3*4) // [3 4]
	b := randF32(r, 4)
	emb := randF32(r, 5*3)

	g := onnx.NewGraph("fwd", onnx.Float32)
	xv := g.Input("x", onnx.Float32, []int64{-1, 3}, "batch", "")
	wv, bv, ev := g.Param("w", []int64{3, 4}), g.Param("b", []int64{4}), g.Param("emb", []int64{5, 3})
	logits := g.Add(g.MatMul(xv, wv), bv)
	g.Output("softmax", g.Softmax(logits, -1))
	g.Output("rowmax", g.ReduceMax(logits, []int64{1}, false))
	g.Output("colmean", g.ReduceMean(logits, []int64{0}, true))
	g.Output("gather", g.Gather(ev, g.ConstI64([]int64{4, 0, 4}, []int64{3}), 0))
	g.Output("slice", g.Slice(logits, []int64{-1}, []int64{-5}, []int64{1}, []int64{-2}))
	g.Output("transpose", g.Transpose(logits))
	g.Output("where", g.Where(g.Less(logits, g.Scalar(0)), g.Scalar(0), logits))
	parts := g.Split(logits, 1, []int64{1, 3})
	g.Output("concat", g.Concat(1, parts[1], parts[0]))
	g.Output("clip", g.Clip(logits, -0.5, 0.5))
	g.Output("tri", g.Trilu(g.ConstantOfShape(g.ConstI64([]int64{3, 3}, []int64{2}), 1), false, -1))
	g.Output("range", g.Cast(g.Range(g.ScalarI64(2), g.ScalarI64(9), g.ScalarI64(3)), onnx.Float32))
	g.Output("reshape", g.Reshape(logits, []int64{-1}))
	g.Output("pow", g.Pow(g.Abs(logits), g.Scalar(1.5)))
	params := map[string][]float32{"w": w, "b": b, "emb": emb}
	res := runGraph(t, eng, g, onnx.ExportOptions{ParamData: func(n string) ([]float32, error) { return params[n], nil }},
		map[string]tensor{"x": {[]int64{2, 3}, x}})

	// Go reference.
	lg := make([]float64, 8)
	for i := range 2 {
		for j := range 4 {
			s := float64(b[j])
			for k := range 3 {
				s += float64(x[i*3+k]) * float64(w[k*4+j])
			}
			lg[i*4+j] = s
		}
	}
	var sm, rowmax, colmean, slice, tr, where, concat, clip, pow []float64
	for i := range 2 {
		mx, z := math.Inf(-1), 0.0
		for j := range 4 {
			mx = max(mx, lg[i*4+j])
		}
		for j := range 4 {
			z += math.Exp(lg[i*4+j] - mx)
		}
		for j := range 4 {
			sm = append(sm, math.Exp(lg[i*4+j]-mx)/z)
		}
		rowmax = append(rowmax, mx)
		slice = append(slice, lg[i*4+3], lg[i*4+1])
		concat = append(concat, lg[i*4+1], lg[i*4+2], lg[i*4+3], lg[i*4])
	}
	for j := range 4 {
		colmean = append(colmean, (lg[j]+lg[4+j])/2)
		tr = append(tr, lg[j], lg[4+j])
	}
	for _, v := range lg {
		where = append(where, max(v, 0))
		clip = append(clip, min(max(v, -0.5), 0.5))
		pow = append(pow, math.Pow(math.Abs(v), 1.5))
	}
	var gather []float64
	for _, ix := range []int{4, 0, 4} {
		for k := range 3 {
			gather = append(gather, float64(emb[ix*3+k]))
		}
	}
	want := map[string][]float64{
		"softmax": sm, "rowmax": rowmax, "colmean": colmean, "gather": gather, "slice": slice,
		"transpose": tr, "where": where, "concat": concat, "clip": clip, "reshape": lg, "pow": pow,
		"tri":   {0, 0, 0, 1, 0, 0, 1, 1, 0},
		"range": {2, 5, 8},
	}
	shapes := map[string][]int64{"softmax": {2, 4}, "rowmax": {2}, "colmean": {1, 4}, "gather": {3, 3}, "slice": {2, 2},
		"transpose": {4, 2}, "concat": {2, 4}, "tri": {3, 3}, "range": {3}, "reshape": {8}}
	for name, wv := range want {
		got := res[name]
		closeTo(t, name, got.data.([]float32), wv, 1e-5)
		if s, ok := shapes[name]; ok && !slices.Equal(got.shape, s) {
			t.Errorf("%s: shape %v, want %v", name, got.shape, s)
		}
	}
}

func TestBuildModelProto(t *testing.T) {
	g := onnx.NewGraph("proto", onnx.Float32)
	x := g.Input("x", onnx.Float32, []int64{-1, 4}, "batch", "")
	w := g.Param("w", []int64{4, 4})
	g.Param("unused", []int64{2})
	y := g.ReduceMean(g.MatMul(x, w), []int64{1}, false)
	g.Exp(x) // dead node: pruned
	g.Output("y", y)
	m, err := g.Build(onnx.ExportOptions{ParamsAsInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.GetIrVersion() != 8 || m.GetOpsetImport()[0].GetVersion() != 18 || m.GetOpsetImport()[0].GetDomain() != "" {
		t.Errorf("ir %d opset %v", m.GetIrVersion(), m.GetOpsetImport())
	}
	gp := m.GetGraph()
	var ins []string
	for _, in := range gp.GetInput() {
		ins = append(ins, in.GetName())
	}
	if !slices.Equal(ins, []string{"x", "w", "unused"}) {
		t.Errorf("inputs %v", ins)
	}
	if d := gp.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()[0].GetDimParam(); d != "batch" {
		t.Errorf("dim_param %q", d)
	}
	var ops []string
	for _, n := range gp.GetNode() {
		ops = append(ops, n.GetOpType())
	}
	if slices.Contains(ops, "Exp") || !slices.Contains(ops, "ReduceMean") {
		t.Errorf("nodes %v", ops)
	}
	for _, n := range gp.GetNode() {
		if n.GetOpType() == "ReduceMean" && len(n.GetInput()) != 2 {
			t.Errorf("ReduceMean axes must be an input in opset 18: %v", n.GetInput())
		}
	}
	if _, err := g.Build(onnx.ExportOptions{}); err == nil || !strings.Contains(err.Error(), `param "w" needs data`) {
		t.Errorf("missing param data: %v", err)
	}
	if _, err := g.Build(onnx.ExportOptions{ParamsAsInputs: true, Opset: 13}); err == nil {
		t.Errorf("opset 13 accepted")
	}
}

// TestExternalData saves a model whose weights go to an external file and
// loads it in ONNX Runtime from the path.
func TestExternalData(t *testing.T) {
	eng := newEngine(t)
	rt := openRuntime(t)
	r := rand.New(rand.NewPCG(3, 4))
	w1, w2 := randF32(r, 64*64), randF32(r, 64)
	g := onnx.NewGraph("ext", onnx.Float32)
	x := g.Input("x", onnx.Float32, []int64{1, 64})
	y := g.Add(g.MatMul(x, g.Param("w1", []int64{64, 64})), g.Param("w2", []int64{64}))
	g.Output("y", y)
	data := map[string][]float32{"w1": w1, "w2": w2}
	m, err := g.Build(onnx.ExportOptions{ParamData: func(n string) ([]float32, error) { return data[n], nil }, ExternalDataThreshold: 1024})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	if err := onnx.SaveModel(path, m, 0); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path + ".data")
	if err != nil {
		t.Fatalf("external data file: %v", err)
	}
	if st.Size() < 64*64*4 {
		t.Errorf("data file has %d bytes", st.Size())
	}
	if ms, _ := os.Stat(path); ms.Size() > 8192 {
		t.Errorf("model file has %d bytes: weights not external", ms.Size())
	}
	if len(m.GetGraph().GetInitializer()[0].GetRawData()) == 0 {
		t.Errorf("SaveModel modified the in-memory model")
	}
	xs := randF32(r, 64)
	feeds := map[string]tensor{"x": {[]int64{1, 64}, xs}}
	want := runGraph(t, eng, g, onnx.ExportOptions{ParamData: func(n string) ([]float32, error) { return data[n], nil }}, feeds)["y"]
	got := runFile(t, rt, path, feeds)["y"]
	if !slices.Equal(got.data.([]float32), want.data.([]float32)) {
		t.Errorf("external-data model output differs")
	}
}

func TestGradientSemantics(t *testing.T) {
	eng := newEngine(t)
	g := onnx.NewGraph("sem", onnx.Float64)
	x := g.Param("x", []int64{3})
	unused := g.Param("unused", []int64{2, 2})
	ints := g.Param("viaint", []int64{3})
	// x * StopGradient(x): gradient is StopGradient(x) = x, not 2x.
	y := g.Mul(x, g.StopGradient(x))
	// An integer path contributes nothing.
	y = g.Add(y, g.Cast(g.Cast(ints, onnx.Int64), onnx.Float64))
	// A comparison path contributes nothing.
	y = g.Add(y, g.Where(g.Greater(ints, g.Scalar(0)), g.Scalar(1), g.Scalar(2)))
	loss := g.ReduceSum(y, nil, true)
	gr, err := g.Gradients(loss, []*onnx.Value{x, unused, ints})
	if err != nil {
		t.Fatal(err)
	}
	g.Output("gx", gr[0])
	g.Output("gu", gr[1])
	g.Output("gi", gr[2])
	xs := []float64{1, -2, 3}
	res := runGraph(t, eng, g, onnx.ExportOptions{ParamsAsInputs: true}, map[string]tensor{
		"x": {[]int64{3}, xs}, "unused": {[]int64{2, 2}, []float64{1, 2, 3, 4}}, "viaint": {[]int64{3}, []float64{1.5, -2, 0.5}},
	})
	if got := res["gx"].data.([]float64); !slices.Equal(got, xs) {
		t.Errorf("StopGradient: grad %v, want %v", got, xs)
	}
	if got := res["gu"]; !slices.Equal(got.shape, []int64{2, 2}) || !slices.Equal(got.data.([]float64), []float64{0, 0, 0, 0}) {
		t.Errorf("unused param grad %v", got)
	}
	if got := res["gi"].data.([]float64); !slices.Equal(got, []float64{0, 0, 0}) {
		t.Errorf("int path grad %v", got)
	}
}

func TestGradientErrors(t *testing.T) {
	g := onnx.NewGraph("gerr", onnx.Float32)
	x := g.Param("x", []int64{2, 3})
	if _, err := g.Gradients(g.Exp(x), []*onnx.Value{x}); err == nil || !strings.Contains(err.Error(), "one element") {
		t.Errorf("non-scalar loss: %v", err)
	}
	g = onnx.NewGraph("gerr2", onnx.Float32)
	ids := g.Input("ids", onnx.Int64, []int64{3})
	if _, err := g.Gradients(g.ReduceSum(g.Cast(ids, onnx.Float32), nil, false), []*onnx.Value{ids}); err == nil {
		t.Errorf("gradient wrt int64 accepted")
	}
	// Second order through a scatter has no rule: a clear error.
	g = onnx.NewGraph("gerr3", onnx.Float32)
	e := g.Param("emb", []int64{4, 2})
	l := g.ReduceSum(g.Mul(g.Gather(e, g.ConstI64([]int64{1, 1}, []int64{2}), 0), g.Gather(e, g.ConstI64([]int64{0, 2}, []int64{2}), 0)), nil, false)
	gr, err := g.Gradients(l, []*onnx.Value{e})
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.Gradients(g.ReduceSum(g.Mul(gr[0], gr[0]), nil, false), []*onnx.Value{e})
	if err == nil || !strings.Contains(err.Error(), "no gradient rule") {
		t.Errorf("second-order error: %v", err)
	}
}

// transformerTrainStack is transformerStack with the loss and the gradient
// of every parameter (grad.<name>) as outputs.
func transformerTrainStack(tb testing.TB, layers int, hidden, heads, vocab int64) *onnx.Graph {
	tb.Helper()
	g, loss := transformerStack(layers, hidden, heads, vocab)
	grads, err := g.Gradients(loss, g.Params())
	if err != nil {
		tb.Fatal(err)
	}
	g.Output("loss", loss)
	for i, p := range g.Params() {
		g.Output("grad."+p.Name, grads[i])
	}
	return g
}

// transformerStack builds a small pre-norm decoder (RMSNorm, attention with
// rotate-half RoPE and a causal mask, SwiGLU MLP) with a cross-entropy loss
// and returns the graph, loss and params.
func transformerStack(layers int, hidden, heads, vocab int64) (*onnx.Graph, *onnx.Value) {
	g := onnx.NewGraph("stack", onnx.Float32)
	hd := hidden / heads
	ids := g.Input("ids", onnx.Int64, []int64{1, -1}, "", "seq")
	tgt := g.Input("targets", onnx.Int64, []int64{1, -1, 1}, "", "seq", "")
	cos := g.Input("cos", onnx.Float32, []int64{-1, hd}, "seq", "")
	sin := g.Input("sin", onnx.Float32, []int64{-1, hd}, "seq", "")
	mask := g.Input("mask", onnx.Float32, []int64{1, 1, -1, -1}, "", "", "seq", "seq")
	rms := func(x, w *onnx.Value) *onnx.Value {
		ms := g.ReduceMean(g.Mul(x, x), []int64{-1}, true)
		return g.Mul(g.Div(x, g.Sqrt(g.Add(ms, g.Scalar(1e-6)))), w)
	}
	rope := func(x *onnx.Value) *onnx.Value {
		h := g.Split(x, -1, []int64{hd / 2, hd / 2})
		return g.Add(g.Mul(x, cos), g.Mul(g.Concat(-1, g.Neg(h[1]), h[0]), sin))
	}
	heads4 := func(x *onnx.Value) *onnx.Value {
		return g.Transpose(g.Reshape(x, []int64{0, 0, heads, hd}), 0, 2, 1, 3)
	}
	h := g.Gather(g.Param("embed", []int64{vocab, hidden}), ids, 0)
	for l := range layers {
		p := func(n string, s ...int64) *onnx.Value { return g.Param("layers."+string(rune('0'+l))+"."+n, s) }
		x := rms(h, p("in_norm", hidden))
		q := rope(heads4(g.Add(g.MatMul(x, p("q", hidden, hidden)), p("qb", hidden))))
		k := rope(heads4(g.MatMul(x, p("k", hidden, hidden))))
		v := heads4(g.MatMul(x, p("v", hidden, hidden)))
		s := g.Add(g.Mul(g.MatMul(q, g.Transpose(k, 0, 1, 3, 2)), g.Scalar(1/math.Sqrt(float64(hd)))), mask)
		a := g.Reshape(g.Transpose(g.MatMul(g.Softmax(s, -1), v), 0, 2, 1, 3), []int64{0, 0, hidden})
		h = g.Add(h, g.MatMul(a, p("o", hidden, hidden)))
		x = rms(h, p("post_norm", hidden))
		gate := g.MatMul(x, p("gate", hidden, 2*hidden))
		up := g.MatMul(x, p("up", hidden, 2*hidden))
		h = g.Add(h, g.MatMul(g.Mul(g.Mul(gate, g.Sigmoid(gate)), up), p("down", 2*hidden, hidden)))
	}
	logits := g.MatMul(rms(h, g.Param("norm", []int64{hidden})), g.Param("lm_head", []int64{hidden, vocab}))
	lp := g.GatherElements(g.LogSoftmax(logits, -1), tgt, 2)
	return g, g.Neg(g.ReduceMean(lp, nil, false))
}

// TestTransformerStackRuns builds the benchmark stack with gradients and runs
// one float32 step in ONNX Runtime (with its default optimizations).
func TestTransformerStackRuns(t *testing.T) {
	rt := openRuntime(t)
	g := transformerTrainStack(t, 2, 16, 2, 11)
	m, err := g.Build(onnx.ExportOptions{ParamsAsInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	const T = 5
	feeds := map[string]tensor{
		"ids":     {[]int64{1, T}, []int64{1, 2, 3, 2, 10}},
		"targets": {[]int64{1, T, 1}, []int64{2, 3, 2, 10, 0}},
		"cos":     {[]int64{T, 8}, randF32(r, T*8)},
		"sin":     {[]int64{T, 8}, randF32(r, T*8)},
	}
	mask := make([]float32, T*T)
	for i := range T {
		for j := i + 1; j < T; j++ {
			mask[i*T+j] = -1e9
		}
	}
	feeds["mask"] = tensor{[]int64{1, 1, T, T}, mask}
	for _, p := range g.Params() {
		n := 1
		for _, d := range p.Shape {
			n *= int(d)
		}
		d := randF32(r, n)
		for i := range d {
			d[i] *= 0.3
		}
		feeds[p.Name] = tensor{p.Shape, d}
	}
	res := runModel(t, rt, m, feeds)
	l := res["loss"].data.([]float32)[0]
	if math.IsNaN(float64(l)) || l <= 0 {
		t.Fatalf("loss %v", l)
	}
	for _, p := range g.Params() {
		gr := res["grad."+p.Name]
		if !slices.Equal(gr.shape, p.Shape) {
			t.Fatalf("grad %s shape %v", p.Name, gr.shape)
		}
		nz := false
		for _, v := range gr.data.([]float32) {
			if math.IsNaN(float64(v)) {
				t.Fatalf("NaN in grad %s", p.Name)
			}
			nz = nz || v != 0
		}
		if !nz {
			t.Errorf("grad %s is all zero", p.Name)
		}
	}
}

// BenchmarkBuildGraph measures building a 4-layer transformer-like stack,
// its gradients and the ONNX model proto (serialized).
func BenchmarkBuildGraph(b *testing.B) {
	for b.Loop() {
		g := transformerTrainStack(b, 4, 64, 4, 256)
		m, err := g.Build(onnx.ExportOptions{ParamsAsInputs: true})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := onnx.MarshalModel(m); err != nil {
			b.Fatal(err)
		}
	}
}
