package model

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
)

// optimTestConfig trains hard enough for 20 steps to move every weight,
// with warmup, a cosine schedule, clipping and decay exemptions.
func optimTestConfig() optim.Config {
	return optim.Config{LR: 2e-2, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.05, MaxGradNorm: 0.5,
		Schedule: optim.ScheduleCosine, WarmupSteps: 3, TotalSteps: 20, MinLRRatio: 0.1, NoDecay: []string{"*norm*", "*.bias"}}
}

// microBatches are two GRPO micro-batches of the tiny model.
func microBatches(t testing.TB, c Config) [2]struct {
	sb *SeqBatch
	vb *VisionBatch
	in StepInputs
} {
	var out [2]struct {
		sb *SeqBatch
		vb *VisionBatch
		in StepInputs
	}
	grid := Grid{GT: 1, GH: 4, GW: 4}
	for k := range out {
		vb := randomVision(t, c, 2, grid, uint64(10+k))
		rows := []Row{
			{Prompt: videoPrompt(c, []int{9, 10 + k}, []int{11}, grid), Response: []int{20 + k, 21, 22}, Videos: []int{0}},
			{Prompt: videoPrompt(c, []int{12}, []int{13, 14}, grid), Response: []int{25, 26 + k}, Videos: []int{1}},
		}
		sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
		if err != nil {
			t.Fatal(err)
		}
		in := StepInputs{Advantages: []float64{1.1 - float64(k), -0.6 + float64(k)}, OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
		for i := range in.OldLogProb {
			in.OldLogProb[i] = -3.5 + 0.1*float64(i%5)
			in.RefLogProb[i] = -3.4 + 0.05*float64(i%3)
		}
		out[k].sb, out[k].vb, out[k].in = sb, vb, in
	}
	return out
}

// relDiff is max |a-b| / max |a| over one tensor.
func relDiff(a, b []float32) float64 {
	return maxAbsDiff32(a, b) / math.Max(maxAbs32(a), 1e-30)
}

// TestDeviceAdamWMatchesHost: 20 GRPO steps of two micro-batches each,
// with gradients accumulated and AdamW applied on the device, leave every
// weight within 1e-6 (relative) of the host path (host gradients, host
// accumulation, optim.AdamW); a step whose gradients are not finite is
// skipped by both; the saved moments agree; and no weight or gradient byte
// crosses between load and checkpoint.
func TestDeviceAdamWMatchesHost(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	host := newPolicy(t, rt, c, 3, 1, GraphGRPO)
	dev := newResident(t, rt, c, 3, 1, GraphGRPO)
	cfg := optimTestConfig()
	hopt, err := optim.New(cfg, host.Store)
	if err != nil {
		t.Fatal(err)
	}
	dopt, err := NewDeviceAdamW(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dopt.Close()
	mbs := microBatches(t, c)
	ctx := context.Background()
	led := dev.Ledger()
	start := led.Snapshot()
	const steps = 20
	skipped := 0
	for step := 0; step < steps; step++ {
		grads := map[string][]float32{}
		for k, mb := range mbs {
			w := 0.5
			if step == 7 && k == 1 {
				w = math.NaN() // poisons the sum: both skip the update
			}
			hr, err := host.TrainStep(ctx, GraphGRPO, mb.sb, mb.vb, mb.in)
			if err != nil {
				t.Fatal(err)
			}
			for name, g := range hr.Grads {
				a, ok := grads[name]
				if !ok {
					a = make([]float32, len(g))
					grads[name] = a
				}
				for i, x := range g {
					a[i] += float32(w) * x
				}
			}
			dr, err := dopt.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, w)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(hr.Loss - dr.Loss); d > 1e-6*(1+math.Abs(hr.Loss)) || dr.Grads != nil {
				t.Fatalf("step %d micro %d: loss %g (host) vs %g (device), device grads %v", step, k, hr.Loss, dr.Loss, dr.Grads != nil)
			}
		}
		hs, herr := hopt.Step(grads)
		ds, derr := dopt.Step(ctx)
		if errors.Is(herr, optim.ErrNonFinite) != errors.Is(derr, optim.ErrNonFinite) || (herr != nil && !errors.Is(herr, optim.ErrNonFinite)) || (derr != nil && !errors.Is(derr, optim.ErrNonFinite)) {
			t.Fatalf("step %d: host %v, device %v", step, herr, derr)
		}
		if herr != nil {
			skipped++
			continue
		}
		if math.Abs(hs.GradNorm-ds.GradNorm) > 1e-9*hs.GradNorm || hs.Clipped != ds.Clipped || hs.LR != ds.LR || hs.Step != ds.Step {
			t.Fatalf("step %d: host %+v, device %+v", step, hs, ds)
		}
	}
	if skipped != 1 || hopt.StepCount() != dopt.StepCount() || hopt.ScheduleStep() != dopt.ScheduleStep() {
		t.Fatalf("skipped %d; steps host %d/%d device %d/%d", skipped, hopt.StepCount(), hopt.ScheduleStep(), dopt.StepCount(), dopt.ScheduleStep())
	}
	moved := led.Snapshot().Sub(start)
	if moved.Bytes(ort.KindWeights) != 0 || moved.Bytes(ort.KindGradients) != 0 || moved.D2H[ort.KindOptimizer] != 0 {
		t.Fatalf("training moved %v", moved)
	}
	t.Logf("20 steps moved %v", moved)

	if err := dev.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if w := led.Snapshot().Sub(start).D2H[ort.KindWeights]; w != trainableBytes(t, dev) {
		t.Errorf("checkpoint sync read %d weight bytes, the trainable parameters hold %d", w, trainableBytes(t, dev))
	}
	worst, moved2 := 0.0, 0
	for _, hp := range host.Store.Params() {
		dp, _ := dev.Store.Get(hp.Name)
		r := relDiff(hp.Data, dp.Data)
		worst = math.Max(worst, r)
		if r > 1e-6 {
			t.Errorf("%s: device weights differ from the host's by %.3g relative", hp.Name, r)
		}
		ref, _ := sharpParams(t, c, 3, 1).Get(hp.Name)
		if relDiff(ref.Data, hp.Data) > 1e-4 {
			moved2++
		}
	}
	if moved2 < host.Store.Len()*3/4 {
		t.Fatalf("only %d of %d parameters moved: the check is too weak", moved2, host.Store.Len())
	}
	t.Logf("worst relative weight difference after %d steps: %.3g", steps, worst)

	dir := t.TempDir()
	if err := dopt.Save(filepath.Join(dir, "opt.safetensors")); err != nil {
		t.Fatal(err)
	}
	for _, name := range hopt.Trainable() {
		hm, hv, _ := hopt.Moments(name)
		dm, dv, _ := dopt.mirror.Moments(name)
		if relDiff(hm, dm) > 1e-6 || relDiff(hv, dv) > 1e-6 {
			t.Errorf("%s: moments differ (%.3g, %.3g)", name, relDiff(hm, dm), relDiff(hv, dv))
		}
	}
	// A restored optimizer continues where this one is.
	again, err := NewDeviceAdamW(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if err := again.Load(filepath.Join(dir, "opt.safetensors")); err != nil {
		t.Fatal(err)
	}
	if again.StepCount() != dopt.StepCount() || again.ScheduleStep() != dopt.ScheduleStep() {
		t.Fatalf("restored counters %d/%d, want %d/%d", again.StepCount(), again.ScheduleStep(), dopt.StepCount(), dopt.ScheduleStep())
	}
	if _, err := again.Step(ctx); err == nil {
		t.Fatal("a step without accumulated gradients was accepted")
	}
}

func trainableBytes(t testing.TB, p *Policy) int64 {
	tr, err := p.Config.TrainableStore(p.Store)
	if err != nil {
		t.Fatal(err)
	}
	return 4 * tr.NumParams()
}

// trainStepBytes makes a resident policy of c and its device optimizer and
// returns what one optimizer step over two micro-batches moved.
func trainStepBytes(t *testing.T, rt *ort.Runtime, c Config) ort.Transfers {
	t.Helper()
	p := newResident(t, rt, c, 3, 1, GraphGRPO)
	o, err := NewDeviceAdamW(p, optimTestConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ctx := context.Background()
	mbs := microBatches(t, c)
	before := p.Ledger().Snapshot()
	for _, mb := range mbs {
		if _, err := o.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, 0.5); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Step(ctx); err != nil {
		t.Fatal(err)
	}
	return p.Ledger().Snapshot().Sub(before)
}

// TestDeviceTrainStepBytes: a training step (two micro-batches and the
// update) moves the batch in and the losses, log-probs and gradient norm
// out, and nothing that grows with the model: two models whose parameters
// differ 4x move the same bytes, none of them weights or gradients.
func TestDeviceTrainStepBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("two models' training steps")
	}
	rt := openRuntime(t)
	small := tinyTest()
	big := tinyTest()
	big.NumHiddenLayers *= 4
	if r := float64(big.NumParams()) / float64(small.NumParams()); r < 3 {
		t.Fatalf("the big model has only %.2fx the parameters", r)
	}
	s1, s2 := trainStepBytes(t, rt, small), trainStepBytes(t, rt, big)
	if s1 != s2 {
		t.Errorf("a training step moved %v on the small model and %v on the 4x one", s1, s2)
	}
	if s1.Bytes(ort.KindWeights) != 0 || s1.Bytes(ort.KindGradients) != 0 {
		t.Errorf("a training step moved %v", s1)
	}
	// The batch: two micro-batches of 2 rows; every input is per token,
	// per vision patch or per row.
	var tokens int64
	for _, mb := range microBatches(t, small) {
		tokens += int64(mb.sb.B*mb.sb.L) + int64(len(mb.vb.Patches))
	}
	if in := s1.H2DBytes(); in > 64*tokens {
		t.Errorf("a training step moved %d bytes in for %d tokens and patch values", in, tokens)
	}
	t.Logf("training step: %v", s1)
}

// TestDeviceAdamWExactResume: a resident run checkpointed after two steps
// (SyncHost, the store and the optimizer state saved) and restored into
// another policy (LoadInto, UploadWeights, Load) continues bit for bit like
// the run that went on.
func TestDeviceAdamWExactResume(t *testing.T) {
	if testing.Short() {
		t.Skip("two resident training runs")
	}
	rt := openRuntime(t)
	c := tinyTest()
	cfg := optimTestConfig()
	mbs := microBatches(t, c)
	ctx := context.Background()
	steps := func(o *DeviceAdamW, n int) {
		for range n {
			for _, mb := range mbs {
				if _, err := o.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, 0.5); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := o.Step(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := newResident(t, rt, c, 3, 1, GraphGRPO)
	o, err := NewDeviceAdamW(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	steps(o, 2)
	dir := t.TempDir()
	if err := p.SyncHost(); err != nil {
		t.Fatal(err)
	}
	if err := p.Store.Save(filepath.Join(dir, "model.safetensors"), nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Save(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		t.Fatal(err)
	}
	steps(o, 2)
	if err := p.SyncHost(); err != nil {
		t.Fatal(err)
	}

	// A policy made over other weights, restored in place: the store
	// loads the checkpoint and UploadWeights copies it to the device.
	q := residentOver(t, rt, c, sharpParams(t, c, 99, 1), GraphGRPO)
	if err := q.Store.LoadInto(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	if err := q.UploadWeights(); err != nil {
		t.Fatal(err)
	}
	o2, err := NewDeviceAdamW(q, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	if err := o2.Load(filepath.Join(dir, "optimizer.safetensors")); err != nil {
		t.Fatal(err)
	}
	steps(o2, 2)
	if err := q.SyncHost(); err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Store.Params() {
		b, _ := q.Store.Get(a.Name)
		if d := maxAbsDiff32(a.Data, b.Data); d != 0 {
			t.Fatalf("%s: resumed run differs by %g", a.Name, d)
		}
	}
}

// TestDeviceAdamWAfterPolicyClose: closing the policy before its device
// optimizer (whose bindings hold the policy's device buffers) is safe, and
// the optimizer then fails cleanly.
func TestDeviceAdamWAfterPolicyClose(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	p := newResident(t, rt, c, 3, 1, GraphGRPO)
	o, err := NewDeviceAdamW(p, optimTestConfig())
	if err != nil {
		t.Fatal(err)
	}
	mb := microBatches(t, c)[0]
	ctx := context.Background()
	if _, err := o.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, 1); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Step(ctx); err == nil {
		t.Fatal("a step after the policy closed succeeded")
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDeviceAdamWSetGradients: gradients read back (Gradients), changed on
// the host (as an all-reduce of several devices would) and set again
// (SetGradients) drive the device step exactly as the host optimizer with
// the same gradients.
func TestDeviceAdamWSetGradients(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	dev := newResident(t, rt, c, 3, 1, GraphGRPO)
	host := sharpParams(t, c, 3, 1)
	cfg := optimTestConfig()
	o, err := NewDeviceAdamW(dev, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	hopt, err := optim.New(cfg, host)
	if err != nil {
		t.Fatal(err)
	}
	mb := microBatches(t, c)[0]
	ctx := context.Background()
	if _, err := o.Micro(ctx, GraphGRPO, mb.sb, mb.vb, mb.in, 1); err != nil {
		t.Fatal(err)
	}
	g, err := o.Gradients()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range g {
		for i := range v {
			v[i] *= 3 // the sum over three identical devices
		}
	}
	if err := o.SetGradients(g); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := hopt.Step(g); err != nil {
		t.Fatal(err)
	}
	if err := dev.SyncHost(); err != nil {
		t.Fatal(err)
	}
	for _, hp := range host.Params() {
		dp, _ := dev.Store.Get(hp.Name)
		if d := maxAbsDiff32(hp.Data, dp.Data); d != 0 {
			t.Fatalf("%s differs by %g", hp.Name, d)
		}
	}
	delete(g, o.Trainable()[0])
	if err := o.SetGradients(g); err == nil {
		t.Fatal("gradients missing a parameter accepted")
	}
}
