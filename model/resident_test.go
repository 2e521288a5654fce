package model

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/optim"
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

// hostSlots copies a host cache [B,kvh,L,hd] (rows picked by rows) into
// zeroed buffers of C slots: what the rollout engine's host path does.
func hostSlots(c KVCache, rows []int, C int) KVCache {
	grow := func(t ort.Tensor) ort.Tensor {
		d := t.Data.([]float32)
		H, L, D := int(t.Shape[1]), int(t.Shape[2]), int(t.Shape[3])
		out := make([]float32, len(rows)*H*C*D)
		for j, r := range rows {
			for h := range H {
				copy(out[((j*H+h)*C)*D:], d[((r*H+h)*L)*D:((r*H+h)*L+L)*D])
			}
		}
		return ort.Tensor{Shape: []int64{int64(len(rows)), int64(H), int64(C), int64(D)}, DType: ort.Float32, Data: out}
	}
	out := KVCache{}
	for i := range c.Keys {
		out.Keys = append(out.Keys, grow(c.Keys[i]))
		out.Values = append(out.Values, grow(c.Values[i]))
	}
	return out
}

// writeHostSlot stores new keys/values [B,kvh,1,hd] at slot of buffers.
func writeHostSlot(buf, fresh KVCache, slot int) {
	put := func(dst, src ort.Tensor) {
		d, s := dst.Data.([]float32), src.Data.([]float32)
		rows, C, D := int(dst.Shape[0]*dst.Shape[1]), int(dst.Shape[2]), int(dst.Shape[3])
		for r := range rows {
			copy(d[(r*C+slot)*D:(r*C+slot+1)*D], s[r*D:(r+1)*D])
		}
	}
	for i := range buf.Keys {
		put(buf.Keys[i], fresh.Keys[i])
		put(buf.Values[i], fresh.Values[i])
	}
}

// TestResidentDecodeMatchesHost: decoding over a cache that stays on the
// device gives the host static-cache path's logits step by step (rows
// repeated from their prompt, then some dropped), and a step moves only
// the tokens, positions and slot in and the logits out. Without ONNX
// Runtime's graph optimizations the logits are bit for bit the host's;
// with them, the two graphs get different fusions and agree to a few ulp.
func TestResidentDecodeMatchesHost(t *testing.T) {
	for _, exact := range []bool{false, true} {
		name := map[bool]string{false: "optimized", true: "unoptimized"}[exact]
		t.Run(name, func(t *testing.T) { residentDecodeMatchesHost(t, exact) })
	}
}

func residentDecodeMatchesHost(t *testing.T, exact bool) {
	rt := openRuntime(t)
	c := tinyTest()
	graphs := []string{GraphPrefill, GraphDecodeStatic}
	so := ort.Options{IntraOpThreads: 2, InterOpThreads: 1, DisableOptimizations: exact}
	host, err := NewPolicy(rt, c, sharpParams(t, c, 5, 3), PolicyOptions{Graphs: graphs, Session: so})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	cpu := ort.CPUDevice()
	dev, err := NewPolicy(rt, c, sharpParams(t, c, 5, 3), PolicyOptions{Graphs: graphs, Session: so, Device: &cpu})
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	tol := func(x []float32) float64 {
		if exact {
			return 0
		}
		return 1e-6 * (1 + maxAbs32(x))
	}
	ctx := context.Background()
	pb, err := c.NewPromptBatch([][]int{{9, 10, 11}, {12, 13}}, [][]int{nil, nil}, c.NewVideos(nil), c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	zero := Float32Tensor(onnx.Float32, []int64{1, int64(c.HiddenSize)}, make([]float32, c.HiddenSize))
	hl, hc, err := host.Prefill(ctx, pb, zero)
	if err != nil {
		t.Fatal(err)
	}
	dl, pf, err := dev.PrefillResident(ctx, pb, zero)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff32(hl, dl); d > tol(hl) {
		t.Fatalf("prefill logits differ by %g", d)
	}
	rows := []int{0, 0, 1, 1, 0}
	const maxNew = 4
	L := pb.L
	C := L + maxNew
	dec, err := pf.Decoder(ctx, rows, maxNew)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pf.Close()
	buf := hostSlots(hc, rows, C)
	valid := make([][]bool, len(rows))
	pos := make([]int64, len(rows))
	for j, r := range rows {
		valid[j] = append([]bool(nil), pb.Valid[r]...)
		pos[j] = pb.Next[r]
	}
	led := dev.Ledger()
	for step := 0; step < maxNew; step++ {
		if step == 2 { // rows 1 and 3 finished
			keep := []int{0, 2, 4}
			if err := dec.Keep(ctx, keep); err != nil {
				t.Fatal(err)
			}
			var hb KVCache
			for i := range buf.Keys {
				hb.Keys = append(hb.Keys, pickRows(buf.Keys[i], keep))
				hb.Values = append(hb.Values, pickRows(buf.Values[i], keep))
			}
			buf = hb
			valid = [][]bool{valid[0], valid[2], valid[4]}
			pos = []int64{pos[0], pos[2], pos[4]}
		}
		B := len(pos)
		tokens := make([]int64, B)
		vs := make([][]bool, B)
		for j := range tokens {
			tokens[j] = int64(14 + step + j)
			v := make([]bool, C+1)
			copy(v, valid[j])
			v[C] = true
			vs[j] = v
		}
		hs, fresh, err := host.DecodeStatic(ctx, tokens, pos, vs, buf)
		if err != nil {
			t.Fatal(err)
		}
		before := led.Snapshot()
		ds, err := dec.Step(ctx, tokens, pos)
		if err != nil {
			t.Fatal(err)
		}
		moved := led.Snapshot().Sub(before)
		t.Logf("step %d: max |logit| %.3g, max diff %.3g", step, maxAbs32(hs), maxAbsDiff32(hs, ds))
		if d := maxAbsDiff32(hs, ds); d > tol(hs) {
			t.Fatalf("step %d: logits differ by %g", step, d)
		}
		if want := int64(8*B + 8*B + 8); moved.H2DBytes() != want {
			t.Errorf("step %d: %d bytes in (%v), want %d", step, moved.H2DBytes(), moved, want)
		}
		if want := int64(4 * B * c.VocabSize); moved.D2HBytes() != want || moved.D2H[ort.KindLogits] != want {
			t.Errorf("step %d: %d bytes out (%v), want %d logits", step, moved.D2HBytes(), moved, want)
		}
		writeHostSlot(buf, fresh, L+step)
		for j := range valid {
			valid[j] = append(valid[j], true)
			pos[j]++
		}
	}
	if _, err := dec.Step(ctx, make([]int64, 3), make([]int64, 3)); err == nil {
		t.Error("a step past the last cache slot was accepted")
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := dec.Step(ctx, make([]int64, 3), make([]int64, 3)); err == nil {
		t.Error("a step after the policy closed was accepted")
	}
	if err := dec.Keep(ctx, []int{0}); err == nil {
		t.Error("Keep after the policy closed was accepted")
	}
}

func pickRows(t ort.Tensor, rows []int) ort.Tensor {
	d := t.Data.([]float32)
	stride := len(d) / int(t.Shape[0])
	out := make([]float32, 0, len(rows)*stride)
	for _, r := range rows {
		out = append(out, d[r*stride:(r+1)*stride]...)
	}
	shape := append([]int64{int64(len(rows))}, t.Shape[1:]...)
	return ort.Tensor{Shape: shape, DType: t.DType, Data: out}
}

// decodeStepBytes runs a resident rollout's prefill and one decode step of
// B rows and returns the bytes the step moved and the bytes the load
// uploaded.
func decodeStepBytes(t *testing.T, rt *ort.Runtime, c Config, B int) (step ort.Transfers, load int64) {
	t.Helper()
	p := newResident(t, rt, c, 2, 1, GraphPrefill)
	ctx := context.Background()
	load = p.Ledger().Snapshot().H2D[ort.KindWeights]
	pb, err := c.NewPromptBatch([][]int{{9, 10, 11}}, [][]int{nil}, c.NewVideos(nil), c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	_, pf, err := p.PrefillResident(ctx, pb, Float32Tensor(onnx.Float32, []int64{1, int64(c.HiddenSize)}, make([]float32, c.HiddenSize)))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	dec, err := pf.Decoder(ctx, make([]int, B), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	before := p.Ledger().Snapshot()
	tokens, pos := make([]int64, B), make([]int64, B)
	for j := range tokens {
		tokens[j], pos[j] = int64(12+j), pb.Next[0]
	}
	if _, err := dec.Step(ctx, tokens, pos); err != nil {
		t.Fatal(err)
	}
	return p.Ledger().Snapshot().Sub(before), load
}

// TestResidentDecodeStepBytes: after the load, a decode step moves
// 8B (tokens) + 8B (positions) + 8 (slot) bytes in and 4BV (logits) out,
// whatever the model size: two models whose parameters differ 4x move the
// same bytes per step. Feeding the weights (or the cache) from the host
// again would break both counts.
func TestResidentDecodeStepBytes(t *testing.T) {
	rt := openRuntime(t)
	small := tinyTest()
	big := tinyTest()
	big.NumHiddenLayers *= 4
	const B = 6
	s1, load1 := decodeStepBytes(t, rt, small, B)
	s2, load2 := decodeStepBytes(t, rt, big, B)
	if r := float64(load2) / float64(load1); r < 3 {
		t.Fatalf("the big model's parameters are only %.2fx the small one's", r)
	}
	want := ort.Transfers{Copies: 4}
	want.H2D[ort.KindActivations] = 16 * B
	want.H2D[ort.KindCache] = 8
	want.D2H[ort.KindLogits] = 4 * B * int64(small.VocabSize)
	for i, got := range []ort.Transfers{s1, s2} {
		if got != want {
			t.Errorf("model %d: a decode step moved %v (%d copies), want %v (%d copies)", i, got, got.Copies, want, want.Copies)
		}
	}
}

// TestResidentLoRAHalfBase: with LoRA on a BF16 base, the resident policy
// holds the base in its 16 bits on the device (the upload is the store's
// size, half of float32), gives the host path's prefill logits, and its
// device optimizer trains the float32 adapters only, as the host one does.
func TestResidentLoRAHalfBase(t *testing.T) {
	rt := openRuntime(t)
	c := withLoRA(tinyTest(), "q_proj", "v_proj")
	c.LoRA.BaseDType = "BF16"
	mk := func() *params.Store {
		s := sharpParams(t, c, 4, 2)
		if err := c.HoldBase(s); err != nil {
			t.Fatal(err)
		}
		randomizeAdapters(t, c, s, 5, 0.05)
		return s
	}
	graphs := []string{GraphPrefill, GraphGRPO}
	host, err := NewPolicy(rt, c, mk(), PolicyOptions{Graphs: graphs, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	dev := residentOver(t, rt, c, mk(), graphs...)
	if got, want := dev.Ledger().Snapshot().H2D[ort.KindWeights], dev.Store.Bytes(); got != want {
		t.Fatalf("uploaded %d weight bytes for a store of %d", got, want)
	}
	ctx := context.Background()
	pb, err := c.NewPromptBatch([][]int{{9, 10, 11}}, [][]int{nil}, c.NewVideos(nil), c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	zero := Float32Tensor(onnx.Float32, []int64{1, int64(c.HiddenSize)}, make([]float32, c.HiddenSize))
	hl, _, err := host.Prefill(ctx, pb, zero)
	if err != nil {
		t.Fatal(err)
	}
	dl, pf, err := dev.PrefillResident(ctx, pb, zero)
	if err != nil {
		t.Fatal(err)
	}
	pf.Close()
	if d := maxAbsDiff32(hl, dl); d > 1e-6*(1+maxAbs32(hl)) {
		t.Fatalf("prefill logits differ by %g", d)
	}
	cfg := optimTestConfig()
	tr, _ := c.TrainableStore(host.Store)
	hopt, err := optim.New(cfg, tr)
	if err != nil {
		t.Fatal(err)
	}
	dopt, err := NewDeviceAdamW(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dopt.Close()
	mb := microBatches(t, c)[0]
	for range 3 {
		hr, err := host.TrainStep(ctx, GraphGRPO, mb.sb, mb.vb, mb.in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hopt.Step(hr.Grads); err != nil {
			t.Fatal(err)
		}
		if _, err := dopt.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := dopt.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := dev.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if got, want := len(dopt.Trainable()), len(c.TrainableSpecs()); got != want {
		t.Fatalf("device optimizer trains %d parameters, want the %d adapters", got, want)
	}
	for _, hp := range host.Store.Params() {
		dp, _ := dev.Store.Get(hp.Name)
		if hp.IsHalf() {
			if !slices.Equal(hp.Half, dp.Half) {
				t.Fatalf("frozen %s changed", hp.Name)
			}
			continue
		}
		if r := relDiff(hp.Data, dp.Data); r > 1e-6 {
			t.Errorf("%s differs by %.3g relative", hp.Name, r)
		}
	}
}

// TestResidentReferenceSharesBase: the KL reference of a LoRA run is a
// store whose frozen base shares the policy's host storage
// (params.Store.AddShared) and whose adapters are copies. UploadNew on a
// view over it uploads the adapters only, the base is read from the
// policy's device values, the reference's log-probs are those of a
// host-fed policy over the same store, and an update of the policy leaves
// the reference's device weights as they were.
func TestResidentReferenceSharesBase(t *testing.T) {
	rt := openRuntime(t)
	c := withLoRA(tinyTest(), "q_proj", "v_proj")
	c.LoRA.BaseDType = "BF16"
	store := sharpParams(t, c, 4, 2)
	if err := c.HoldBase(store); err != nil {
		t.Fatal(err)
	}
	randomizeAdapters(t, c, store, 5, 0.05)
	graphs := []string{GraphVision, GraphLogProb, GraphGRPO}
	p := residentOver(t, rt, c, store, graphs...)
	ref := params.New()
	var adapterBytes int64
	for _, prm := range store.Params() {
		var err error
		if IsLoRAParam(prm.Name) {
			_, err = ref.Add(prm.Name, prm.Shape, slices.Clone(prm.Data))
			adapterBytes += int64(4 * len(prm.Data))
		} else {
			_, err = ref.AddShared(prm)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	led := p.Ledger()
	before := led.Snapshot()
	rp := p.WithStore(ref)
	if err := rp.UploadNew(); err != nil {
		t.Fatal(err)
	}
	up := led.Snapshot().Sub(before)
	if got := up.H2D[ort.KindWeights]; got != adapterBytes {
		t.Fatalf("the reference uploaded %d weight bytes, want its %d adapter bytes only (the base is the policy's)", got, adapterBytes)
	}
	ctx := context.Background()
	mb := microBatches(t, c)[0]
	refLP := func() []float64 {
		emb, err := rp.Encode(ctx, mb.vb)
		if err != nil {
			t.Fatal(err)
		}
		lp, _, err := rp.LogProbs(ctx, mb.sb, emb)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	loaded := led.Snapshot()
	got := refLP()
	if w := led.Snapshot().Sub(loaded).Bytes(ort.KindWeights); w != 0 {
		t.Fatalf("a reference pass after UploadNew moved %d weight bytes", w)
	}
	host, err := NewPolicy(rt, c, ref, PolicyOptions{Graphs: graphs, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	emb, err := host.Encode(ctx, mb.vb)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := host.LogProbs(ctx, mb.sb, emb)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff64(want, got); d > 1e-6 {
		t.Fatalf("reference log-probs differ from the host path's by %g", d)
	}
	opt, err := NewDeviceAdamW(p, optimTestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Close()
	if _, err := opt.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := opt.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff64(got, refLP()); d != 0 {
		t.Fatalf("a policy update moved the reference's log-probs by %g", d)
	}
}

// TestResidentUploadThroughSharedView: UploadWeights on a view over a
// store of params.Store.AddShared views of the policy's parameters (the
// trainable part of a LoRA store, as a resumed run loads it) copies the
// host values into the policy's own device buffers, which the policy's
// graphs then read.
func TestResidentUploadThroughSharedView(t *testing.T) {
	rt := openRuntime(t)
	c := withLoRA(tinyTest(), "q_proj", "v_proj")
	store := sharpParams(t, c, 4, 2)
	randomizeAdapters(t, c, store, 5, 0.05)
	p := residentOver(t, rt, c, store, GraphVision, GraphLogProb)
	trainable, err := c.TrainableStore(store)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mb := microBatches(t, c)[0]
	logProbs := func(p *Policy) []float64 {
		emb, err := p.Encode(ctx, mb.vb)
		if err != nil {
			t.Fatal(err)
		}
		lp, _, err := p.LogProbs(ctx, mb.sb, emb)
		if err != nil {
			t.Fatal(err)
		}
		return lp
	}
	before := logProbs(p)
	randomizeAdapters(t, c, store, 6, 0.05) // the host values change (a checkpoint loaded)
	led := p.Ledger()
	at := led.Snapshot()
	if err := p.WithStore(trainable).UploadWeights(); err != nil {
		t.Fatal(err)
	}
	if got, want := led.Snapshot().Sub(at).H2D[ort.KindWeights], 4*trainable.NumParams(); got != want {
		t.Fatalf("uploaded %d weight bytes, want the %d of the trainable view", got, want)
	}
	host, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: []string{GraphVision, GraphLogProb}, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	want, got := logProbs(host), logProbs(p)
	if d := maxAbsDiff64(want, got); d > 1e-6 || maxAbsDiff64(before, got) == 0 {
		t.Fatalf("after the upload the resident log-probs differ from the host's by %g (and from before by %g)", d, maxAbsDiff64(before, got))
	}
}
