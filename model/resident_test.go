package model

import (
	"context"
	"math"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// newResident opens a device-resident policy (CPU device memory) over a
// store made like newPolicy's.
func newResident(t testing.TB, rt *ort.Runtime, c Config, seed uint64, scale float32, graphs ...string) *Policy {
	t.Helper()
	return residentOver(t, rt, c, sharpParams(t, c, seed, scale), graphs...)
}

func residentOver(t testing.TB, rt *ort.Runtime, c Config, store *params.Store, graphs ...string) *Policy {
	t.Helper()
	dev := ort.CPUDevice()
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: graphs, Device: &dev, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// storeBytes is the size of a store's parameters as the graphs take them.
func storeBytes(s *params.Store, dt onnx.DType) int64 {
	var n int64
	for _, p := range s.Params() {
		t := paramTensor(p, dt)
		k, _ := ort.NumElements(t.Shape)
		et, _ := t.ElemType()
		n += int64(k * et.Size())
	}
	return n
}

func maxAbsDiff32(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	w := 0.0
	for i := range a {
		w = math.Max(w, math.Abs(float64(a[i])-float64(b[i])))
	}
	return w
}

func maxAbsDiff64(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	w := 0.0
	for i := range a {
		w = math.Max(w, math.Abs(a[i]-b[i]))
	}
	return w
}

// TestResidentMatchesHost: the device-resident policy (CPU device memory,
// parameters bound once) gives what the host path gives for every graph,
// and after the load no weight byte crosses.
func TestResidentMatchesHost(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	graphs := []string{GraphVision, GraphPrefill, GraphDecodeStatic, GraphLogProb, GraphGRPO}
	host := newPolicy(t, rt, c, 3, 4, graphs...)
	dev := newResident(t, rt, c, 3, 4, graphs...)
	led := dev.Ledger()
	if got, want := led.Snapshot().H2D[ort.KindWeights], storeBytes(dev.Store, dev.Float()); got != want {
		t.Fatalf("load uploaded %d weight bytes, the store holds %d", got, want)
	}
	afterLoad := led.Snapshot()
	ctx := context.Background()
	sb, vbTrain := grpoFixture(t, c)
	grid := Grid{GT: 1, GH: 4, GW: 4}
	vb := randomVision(t, c, 1, grid, 4)

	he, err := host.Encode(ctx, vb)
	if err != nil {
		t.Fatal(err)
	}
	de, err := dev.Encode(ctx, vb)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff32(he.Data.([]float32), de.Data.([]float32)); d > 1e-6 {
		t.Errorf("vision embeddings differ by %g", d)
	}

	pb, err := c.NewPromptBatch([][]int{videoPrompt(c, []int{9}, []int{10, 11}, grid), {12, 13}}, [][]int{{0}, nil}, c.NewVideos([]Grid{grid}), c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	hl, hc, err := host.Prefill(ctx, pb, he)
	if err != nil {
		t.Fatal(err)
	}
	dl, dc, err := dev.Prefill(ctx, pb, he)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff32(hl, dl); d > 1e-6 {
		t.Errorf("prefill logits differ by %g", d)
	}
	if d := maxAbsDiff32(hc.Keys[1].Data.([]float32), dc.Keys[1].Data.([]float32)); d > 1e-6 {
		t.Errorf("prefill cache differs by %g", d)
	}

	valid := make([][]bool, 2)
	for r := range valid {
		valid[r] = append(append([]bool(nil), pb.Valid[r]...), true)
	}
	hs, _, err := host.DecodeStatic(ctx, []int64{14, 15}, pb.Next, valid, hc)
	if err != nil {
		t.Fatal(err)
	}
	ds, _, err := dev.DecodeStatic(ctx, []int64{14, 15}, pb.Next, valid, hc)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff32(hs, ds); d > 1e-6 {
		t.Errorf("static decode logits differ by %g", d)
	}

	hemb, err := host.Encode(ctx, vbTrain)
	if err != nil {
		t.Fatal(err)
	}
	hlp, hent, err := host.LogProbs(ctx, sb, hemb)
	if err != nil {
		t.Fatal(err)
	}
	dlp, dent, err := dev.LogProbs(ctx, sb, hemb)
	if err != nil {
		t.Fatal(err)
	}
	if d := max(maxAbsDiff64(hlp, dlp), maxAbsDiff64(hent, dent)); d > 1e-6 {
		t.Errorf("log-probs/entropies differ by %g", d)
	}

	in := StepInputs{Advantages: []float64{0.8}, OldLogProb: make([]float64, sb.R), RefLogProb: make([]float64, sb.R)}
	for i := range in.OldLogProb {
		in.OldLogProb[i] = hlp[i] - 0.05*float64(i)
		in.RefLogProb[i] = hlp[i] + 0.1
	}
	hr, err := host.TrainStep(ctx, GraphGRPO, sb, vbTrain, in)
	if err != nil {
		t.Fatal(err)
	}
	dr, err := dev.TrainStep(ctx, GraphGRPO, sb, vbTrain, in)
	if err != nil {
		t.Fatal(err)
	}
	if d := math.Abs(hr.Loss - dr.Loss); d > 1e-6 {
		t.Errorf("loss differs by %g", d)
	}
	for name, g := range hr.Grads {
		if d := maxAbsDiff32(g, dr.Grads[name]); d > 1e-6*(1+maxAbs32(g)) {
			t.Errorf("gradient %s differs by %g", name, d)
		}
	}
	if w := led.Snapshot().Sub(afterLoad).Bytes(ort.KindWeights); w != 0 {
		t.Errorf("%d weight bytes crossed after the load", w)
	}
}

func maxAbs32(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}
