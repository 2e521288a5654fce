package onnx_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
)

// dropoutGraph: loss = sum(Dropout(x) * w); outputs y, the mask implied by
// y and dx (with or without recomputation through a checkpoint).
func dropoutGraph(t *testing.T, recompute bool, ratio float64) *onnx.Graph {
	t.Helper()
	g := onnx.NewGraph("dropout", onnx.Float32)
	x := g.Input("x", onnx.Float32, []int64{4, 2500})
	w := g.Input("w", onnx.Float32, []int64{4, 2500})
	h := g.Checkpoint(g.Tanh(x))
	y := g.Dropout(h, ratio, 7)
	z := g.Checkpoint(g.Mul(y, w))
	loss := g.ReduceSum(z, nil, false)
	gs, err := g.GradientsWith(loss, []*onnx.Value{x}, onnx.GradOptions{Recompute: recompute})
	if err != nil {
		t.Fatal(err)
	}
	g.Output("y", y)
	g.Output("h", h)
	g.Output("dx", gs[0])
	return g
}

// TestDropoutTrainingAndGradient: about ratio of the elements are zeroed,
// the rest scaled by 1/(1-ratio), the gradient flows through exactly the
// kept ones (also with recomputation, which must reuse the forward mask),
// and a new session with the same seed draws the same masks.
func TestDropoutTrainingAndGradient(t *testing.T) {
	eng := newEngine(t)
	r := rand.New(rand.NewPCG(1, 2))
	n := 4 * 2500
	x, w := randF32(r, n), randF32(r, n)
	feeds := map[string]tensor{"x": {shape: []int64{4, 2500}, data: x}, "w": {shape: []int64{4, 2500}, data: w}}
	const p = 0.3
	var masks [][]bool
	for _, recompute := range []bool{false, true} {
		out := runGraph(t, eng, dropoutGraph(t, recompute, p), onnx.ExportOptions{}, feeds)
		y, h, dx := out["y"].data.([]float32), out["h"].data.([]float32), out["dx"].data.([]float32)
		kept := make([]bool, n)
		zeros := 0
		for i := range y {
			dtanh := 1 - float64(h[i])*float64(h[i])
			if y[i] == 0 {
				zeros++
				if dx[i] != 0 {
					t.Fatalf("recompute=%v: dropped element %d has gradient %g", recompute, i, dx[i])
				}
				continue
			}
			kept[i] = true
			if math.Abs(float64(y[i])-float64(h[i])/(1-p)) > 1e-5 {
				t.Fatalf("recompute=%v: kept element %d is %g, want %g", recompute, i, y[i], float64(h[i])/(1-p))
			}
			if want := float64(w[i]) / (1 - p) * dtanh; math.Abs(float64(dx[i])-want) > 1e-4*(1+math.Abs(want)) {
				t.Fatalf("recompute=%v: gradient %d is %g, want %g", recompute, i, dx[i], want)
			}
		}
		if f := float64(zeros) / float64(n); math.Abs(f-p) > 0.03 {
			t.Fatalf("recompute=%v: dropped fraction %.3f, want %.2f", recompute, f, p)
		}
		masks = append(masks, kept)
	}
	// The seed attribute makes a new session draw the same masks: runs are
	// reproducible.
	for i := range masks[0] {
		if masks[0][i] != masks[1][i] {
			t.Fatalf("two sessions with seed 7 drew different masks (element %d)", i)
		}
	}
}

func TestDropoutZeroRatioIsIdentity(t *testing.T) {
	g := onnx.NewGraph("d0", onnx.Float32)
	x := g.Input("x", onnx.Float32, []int64{3})
	if y := g.Dropout(x, 0, 1); y != x {
		t.Fatal("Dropout with ratio 0 added a node")
	}
	g.Dropout(x, 1, 1)
	if _, err := g.Build(onnx.ExportOptions{}); err == nil {
		t.Fatal("ratio 1 accepted")
	}
}
