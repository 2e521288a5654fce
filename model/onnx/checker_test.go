package onnx_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/onnx/onnxcheck"
	"github.com/videossr/videossr-go/model/onnx/pb"
)

// onnxChecker is the reference ONNX checker (onnxcheck) with test helpers.
type onnxChecker struct{ onnxcheck.Checker }

// findChecker returns the checker, or skips the test.
func findChecker(t *testing.T) onnxChecker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := onnxcheck.Find(ctx)
	if err != nil {
		t.Skip(err)
	}
	return onnxChecker{c}
}

// opset is the newest opset both the builder and the checker know.
func (c onnxChecker) opset(t *testing.T) int {
	t.Helper()
	op := min(c.MaxOpset, onnx.DefaultOpset)
	if op < onnx.MinOpset {
		t.Skipf("onnx %s knows opsets up to %d; the builder emits %d..%d", c.Version, c.MaxOpset, onnx.MinOpset, onnx.DefaultOpset)
	}
	if op < onnx.DefaultOpset {
		t.Logf("onnx %s knows opsets up to %d: checking the opset-%d form", c.Version, c.MaxOpset, op)
	}
	return op
}

// check runs the checker on every file and returns the message per
// failing path.
func (c onnxChecker) check(t *testing.T, paths []string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bad, err := c.Check(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// gcModel builds the graph of a gradient-check case with a float loss and
// the gradient of every differentiated variable.
func gcModel(c gc, opset int) (*pb.ModelProto, error) {
	dt := onnx.Float64
	if c.f32 {
		dt = onnx.Float32
	}
	g := onnx.NewGraph("check_"+strings.NewReplacer("/", "_", "-", "_").Replace(c.name), dt)
	vals, wrt := c.declare(g)
	y := c.build(g, vals)
	g.Output("probe_out", y)
	if y.DType.IsFloat() && len(wrt) > 0 {
		loss := g.ReduceSum(g.Mul(y, y), nil, true)
		g.Output("probe_loss", loss)
		grads, err := g.Gradients(loss, wrt)
		if err != nil {
			return nil, err
		}
		for i, gr := range grads {
			g.Output("probe_grad_"+wrt[i].Name, gr)
		}
	}
	return g.Build(onnx.ExportOptions{ParamsAsInputs: true, Opset: opset})
}

// TestONNXCheckerBuilderGraphs writes the graph of every gradient check
// (forward and gradients) and the transformer stack (training form with
// parameters as inputs; inference form with external-data initializers) and
// runs the ONNX checker with full_check on each.
func TestONNXCheckerBuilderGraphs(t *testing.T) {
	chk := findChecker(t)
	opset := chk.opset(t)
	dir := t.TempDir()
	var paths []string
	save := func(name string, m *pb.ModelProto, threshold int) {
		t.Helper()
		p := filepath.Join(dir, name+".onnx")
		if err := onnx.SaveModel(p, m, threshold); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for i, c := range append(opCases(), compositeCases()...) {
		m, err := gcModel(c, opset)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		save(fmt.Sprintf("case%03d", i), m, -1)
	}
	g := transformerTrainStack(t, 2, 16, 2, 11)
	m, err := g.Build(onnx.ExportOptions{ParamsAsInputs: true, Opset: opset})
	if err != nil {
		t.Fatal(err)
	}
	save("stack_train", m, -1)
	r := rand.New(rand.NewPCG(1, 2))
	m, err = g.Build(onnx.ExportOptions{Opset: opset, ParamData: func(name string) ([]float32, error) {
		for _, p := range g.Params() {
			if p.Name == name {
				n := 1
				for _, d := range p.Shape {
					n *= int(d)
				}
				return randF32(r, n), nil
			}
		}
		return nil, fmt.Errorf("no param %s", name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	save("stack_weights", m, 256)
	if _, err := os.Stat(filepath.Join(dir, "stack_weights.onnx.data")); err != nil {
		t.Fatalf("no external data written: %v", err)
	}
	bad := chk.check(t, paths)
	for p, msg := range bad {
		t.Errorf("%s: %s", filepath.Base(p), msg)
	}
	t.Logf("onnx %s checker (full_check, opset %d): %d of %d builder graphs pass", chk.Version, opset, len(paths)-len(bad), len(paths))
}

// TestONNXCheckerRejectsBrokenModel makes sure the harness reports checker
// failures: a node that reads an undefined tensor must fail.
func TestONNXCheckerRejectsBrokenModel(t *testing.T) {
	chk := findChecker(t)
	opset := chk.opset(t)
	g := onnx.NewGraph("broken", onnx.Float32)
	x := g.Input("x", onnx.Float32, []int64{2, 3})
	g.Output("y", g.Exp(x))
	m, err := g.Build(onnx.ExportOptions{Opset: opset})
	if err != nil {
		t.Fatal(err)
	}
	m.Graph.Node[0].Input[0] = "no_such_tensor"
	p := filepath.Join(t.TempDir(), "broken.onnx")
	if err := onnx.SaveModel(p, m, -1); err != nil {
		t.Fatal(err)
	}
	if bad := chk.check(t, []string{p}); bad[p] == "" {
		t.Fatal("the checker accepted a node reading an undefined tensor")
	}
}

// TestOpset17Form checks the opset-17 rewrite of the reductions and that it
// computes what the opset-18 model computes, in ONNX Runtime.
func TestOpset17Form(t *testing.T) {
	g := onnx.NewGraph("reduce17", onnx.Float32)
	x := g.Input("x", onnx.Float32, []int64{2, 3, 4})
	s := g.Input("s", onnx.Float32, []int64{})
	g.Output("mean", g.ReduceMean(x, []int64{-1}, true))
	g.Output("max", g.ReduceMax(x, []int64{0, 2}, false))
	g.Output("sum", g.ReduceSum(x, []int64{1}, false))
	g.Output("noop", g.Reshape(g.ReduceMean(s, nil, false), []int64{1}))
	m, err := g.Build(onnx.ExportOptions{Opset: 17})
	if err != nil {
		t.Fatal(err)
	}
	if v := m.GetOpsetImport()[0].GetVersion(); v != 17 {
		t.Fatalf("opset %d", v)
	}
	ops := map[string]*pb.NodeProto{}
	for _, n := range m.GetGraph().GetNode() {
		ops[n.GetOpType()] = n
	}
	for _, op := range []string{"ReduceMean", "ReduceMax"} {
		n := ops[op]
		if n == nil || len(n.GetInput()) != 1 {
			t.Fatalf("%s: want one input in opset 17, got %v", op, n)
		}
		var axes []int64
		for _, a := range n.GetAttribute() {
			if a.GetName() == "axes" {
				axes = a.GetInts()
			}
			if a.GetName() == "noop_with_empty_axes" {
				t.Errorf("%s keeps the opset-18 attribute noop_with_empty_axes", op)
			}
		}
		if len(axes) == 0 {
			t.Errorf("%s has no axes attribute", op)
		}
	}
	if n := ops["ReduceSum"]; n == nil || len(n.GetInput()) != 2 {
		t.Errorf("ReduceSum keeps axes as an input since opset 13: %v", n)
	}
	if ops["Identity"] == nil {
		t.Error("a reduction over no axes with noop_with_empty_axes must become Identity")
	}
	for _, op := range []int{16, 19} {
		if _, err := g.Build(onnx.ExportOptions{Opset: op}); err == nil {
			t.Errorf("opset %d accepted", op)
		}
	}

	rt := openRuntime(t)
	r := rand.New(rand.NewPCG(3, 4))
	feeds := map[string]tensor{"x": {[]int64{2, 3, 4}, randF32(r, 24)}, "s": {[]int64{}, []float32{2.5}}}
	m18, err := g.Build(onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, want := runModel(t, rt, m, feeds), runModel(t, rt, m18, feeds)
	for name, w := range want {
		a, b := got[name].data.([]float32), w.data.([]float32)
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d values", name, len(a), len(b))
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6 {
				t.Fatalf("%s[%d]: opset 17 %v, opset 18 %v", name, i, a[i], b[i])
			}
		}
	}
	if v := got["noop"].data.([]float32)[0]; v != 2.5 {
		t.Errorf("noop reduction gave %v, want 2.5", v)
	}
}
