package model

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// smokeEnv names the execution provider TestDeviceSmoke runs on.
const smokeEnv = "VIDEOSSR_SMOKE_PROVIDER"

// TestDeviceSmoke runs every architecture's scaled-down synthetic Hugging
// Face checkpoint (BF16, sharded), in full and as LoRA on its BF16 base,
// through vision, prefill, greedy KV-cache decoding and a GRPO training step
// on the execution provider $VIDEOSSR_SMOKE_PROVIDER (cpu or cuda; device
// $VIDEOSSR_SMOKE_DEVICE), twice: with parameters fed from the host at
// every run, and device-resident (parameters, KV cache, gradients and AdamW
// on the device, PolicyOptions.Device). It checks the logits, loss and
// gradients of both against the host path on CPU, and prints the timings
// and, for the resident path, the bytes each phase moved. Unset, it is
// skipped: scripts/gpu-smoke.sh runs it on a GPU machine.
func TestDeviceSmoke(t *testing.T) {
	provider := os.Getenv(smokeEnv)
	if provider == "" {
		t.Skip("set " + smokeEnv + "=cuda (or cpu) to run the device smoke test")
	}
	device := 0
	if s := os.Getenv("VIDEOSSR_SMOKE_DEVICE"); s != "" {
		var err error
		if device, err = strconv.Atoi(s); err != nil {
			t.Fatalf("VIDEOSSR_SMOKE_DEVICE=%q: %v", s, err)
		}
	}
	rt := openRuntime(t)
	// CUDA may compute float32 matrix products in TF32: compare loosely.
	tol := 1e-5
	if provider != ort.ProviderCPU {
		tol = 2e-2
	}
	for _, cfg := range []map[string]any{hfConfigQwen2VL(), hfConfigQwen25VL(), hfConfigQwen3VL()} {
		c, store := loadSynthetic(t, cfg, hfCheckpoint{dtype: safetensors.BF16, shards: 2}, 4)
		for _, lora := range []bool{false, true} {
			mc, ms := c, store
			if lora {
				mc = withLoRA(c, "q_proj", "v_proj")
				mc.LoRA.BaseDType = safetensors.BF16
				ms = store.Clone()
				if err := mc.HoldBase(ms); err != nil {
					t.Fatal(err)
				}
				if err := mc.AddLoRA(ms, 1); err != nil {
					t.Fatal(err)
				}
				randomizeAdapters(t, mc, ms, 2, 0.05)
			}
			name := fmt.Sprintf("%s lora=%v", c.ModelType, lora)
			t.Run(name, func(t *testing.T) {
				want := smokeRun(t, rt, mc, ms, ort.Options{IntraOpThreads: 2, InterOpThreads: 1})
				on := ort.Options{Provider: provider, DeviceID: device, IntraOpThreads: 2, InterOpThreads: 1}
				got := smokeRun(t, rt, mc, ms, on)
				res := smokeRunResident(t, rt, mc, ms, on)
				for _, run := range []struct {
					what string
					r    smokeResult
				}{{"host-fed", got}, {"resident", res}} {
					for k, w := range want.values {
						d, spread := maxAbsDiff(w, run.r.values[k])
						if d > tol*math.Max(1, spread) {
							t.Errorf("%s %s: %s differs from CPU by %g (spread %g)", name, run.what, k, d, spread)
						}
					}
					if !slices.Equal(want.tokens, run.r.tokens) {
						t.Logf("%s %s: greedy tokens %v on %s, %v on CPU", name, run.what, run.r.tokens, provider, want.tokens)
					}
				}
				fmt.Printf("smoke %-26s %s: vision %6.1f ms, prefill %6.1f ms, decode %6.2f ms/step, grpo step %7.1f ms (CPU: %.1f / %.1f / %.2f / %.1f)\n",
					name, provider, got.ms[0], got.ms[1], got.ms[2], got.ms[3], want.ms[0], want.ms[1], want.ms[2], want.ms[3])
				fmt.Printf("smoke %-26s %s resident: vision %6.1f ms, prefill %6.1f ms, decode %6.2f ms/step, grpo step %7.1f ms; bytes %s\n",
					name, provider, res.ms[0], res.ms[1], res.ms[2], res.ms[3], res.bytes)
			})
		}
	}
}

// smokeResult is what one provider computed, and how long it took.
type smokeResult struct {
	values map[string][]float64
	tokens []int64
	ms     [4]float64 // vision, prefill, decode per step, GRPO step
	bytes  string     // resident path: what a decode step and a GRPO step moved
}

// smokeRun runs the smoke workload through a Policy with session options
// o twice and returns the second pass (the first warms the sessions up).
func smokeRun(t *testing.T, rt *ort.Runtime, c Config, store *params.Store, o ort.Options) smokeResult {
	t.Helper()
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: []string{GraphVision, GraphPrefill, GraphDecode, GraphGRPO}, Session: o})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	smokePass(t, p)
	return smokePass(t, p)
}

// smokePass is one pass of the smoke workload.
func smokePass(t *testing.T, p *Policy) smokeResult {
	t.Helper()
	c := p.Config
	ctx := context.Background()
	res := smokeResult{values: map[string][]float64{}}
	since := func(t0 time.Time) float64 { return float64(time.Since(t0).Microseconds()) / 1000 }
	grid := Grid{GT: 1, GH: 8, GW: 8}
	vb := randomVision(t, c, 2, grid, 3)
	t0 := time.Now()
	emb, err := p.Encode(ctx, vb)
	if err != nil {
		t.Fatal(err)
	}
	res.ms[0] = since(t0)
	prompts := [][]int{videoPrompt(c, []int{9, 10}, []int{11}, grid), videoPrompt(c, []int{12}, []int{13, 14}, grid)}
	pb, err := c.NewPromptBatch(prompts, [][]int{{0}, {1}}, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	logits, cache, err := p.Prefill(ctx, pb, emb)
	if err != nil {
		t.Fatal(err)
	}
	res.ms[1] = since(t0)
	res.values["prefill logits"] = f64(logits)
	valid := slices.Clone(pb.Valid)
	pos := slices.Clone(pb.Next)
	V := c.VocabSize
	const steps = 4
	t0 = time.Now()
	for step := 0; step < steps; step++ {
		toks := make([]int64, len(prompts))
		for r := range toks {
			row := logits[r*V : (r+1)*V]
			toks[r] = int64(slices.Index(row, slices.Max(row)))
			valid[r] = append(slices.Clone(valid[r]), true)
		}
		res.tokens = append(res.tokens, toks...)
		if logits, cache, err = p.Decode(ctx, toks, pos, valid, cache); err != nil {
			t.Fatal(err)
		}
		for r := range pos {
			pos[r]++
		}
	}
	res.ms[2] = since(t0) / steps
	res.values["decode logits"] = f64(logits)
	sb, svb := grpoFixture(t, c)
	in := StepInputs{Advantages: []float64{1}, OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
	for i := range in.OldLogProb {
		in.OldLogProb[i], in.RefLogProb[i] = -3, -3.5
	}
	t0 = time.Now()
	step, err := p.TrainStep(ctx, GraphGRPO, sb, svb, in)
	if err != nil {
		t.Fatal(err)
	}
	res.ms[3] = since(t0)
	res.values["loss"] = []float64{step.Loss}
	res.values["log-probs"] = step.LogProbs
	for _, s := range c.TrainableSpecs()[:4] {
		res.values["grad "+s.Name] = f64(step.Grads[s.Name])
	}
	return res
}

// smokeRunResident runs the smoke workload on a device-resident policy
// (the provider's device memory) twice and returns the second pass.
func smokeRunResident(t *testing.T, rt *ort.Runtime, c Config, store *params.Store, o ort.Options) smokeResult {
	t.Helper()
	dev := ort.Device{Provider: o.Provider, ID: o.DeviceID}
	if dev.Provider == "" {
		dev.Provider = ort.ProviderCPU
	}
	// The optimizer step changes the weights: each pass starts from store.
	var res smokeResult
	for range 2 {
		p, err := NewPolicy(rt, c, store.Clone(), PolicyOptions{Graphs: []string{GraphVision, GraphPrefill, GraphGRPO}, Session: o, Device: &dev})
		if err != nil {
			t.Fatal(err)
		}
		res = smokePassResident(t, p)
		p.Close()
	}
	return res
}

// smokePassResident is smokePass on a resident policy: the rollout through
// a DeviceDecoder, the training step through DeviceAdamW.
func smokePassResident(t *testing.T, p *Policy) smokeResult {
	t.Helper()
	c := p.Config
	ctx := context.Background()
	led := p.Ledger()
	res := smokeResult{values: map[string][]float64{}}
	since := func(t0 time.Time) float64 { return float64(time.Since(t0).Microseconds()) / 1000 }
	grid := Grid{GT: 1, GH: 8, GW: 8}
	vb := randomVision(t, c, 2, grid, 3)
	t0 := time.Now()
	emb, err := p.Encode(ctx, vb)
	if err != nil {
		t.Fatal(err)
	}
	res.ms[0] = since(t0)
	prompts := [][]int{videoPrompt(c, []int{9, 10}, []int{11}, grid), videoPrompt(c, []int{12}, []int{13, 14}, grid)}
	pb, err := c.NewPromptBatch(prompts, [][]int{{0}, {1}}, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	t0 = time.Now()
	logits, pf, err := p.PrefillResident(ctx, pb, emb)
	if err != nil {
		t.Fatal(err)
	}
	res.ms[1] = since(t0)
	res.values["prefill logits"] = f64(logits)
	const steps = 4
	dec, err := pf.Decoder(ctx, []int{0, 1}, steps)
	pf.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	pos := slices.Clone(pb.Next)
	V := c.VocabSize
	var step0 ort.Transfers
	t0 = time.Now()
	for step := 0; step < steps; step++ {
		toks := make([]int64, len(prompts))
		for r := range toks {
			row := logits[r*V : (r+1)*V]
			toks[r] = int64(slices.Index(row, slices.Max(row)))
		}
		res.tokens = append(res.tokens, toks...)
		before := led.Snapshot()
		if logits, err = dec.Step(ctx, toks, pos); err != nil {
			t.Fatal(err)
		}
		step0 = led.Snapshot().Sub(before)
		for r := range pos {
			pos[r]++
		}
	}
	res.ms[2] = since(t0) / steps
	res.values["decode logits"] = f64(logits)
	sb, svb := grpoFixture(t, c)
	in := StepInputs{Advantages: []float64{1}, OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
	for i := range in.OldLogProb {
		in.OldLogProb[i], in.RefLogProb[i] = -3, -3.5
	}
	o, err := NewDeviceAdamW(p, optim.Config{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, MaxGradNorm: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	before := led.Snapshot()
	t0 = time.Now()
	step, err := o.Micro(ctx, GraphGRPO, sb, svb, in, 1)
	if err == nil {
		_, err = o.Step(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	res.ms[3] = since(t0)
	train := led.Snapshot().Sub(before)
	res.values["loss"] = []float64{step.Loss}
	res.values["log-probs"] = step.LogProbs
	// The gradients the step used (read back for the check only).
	grads, err := o.Gradients()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.TrainableSpecs()[:4] {
		res.values["grad "+s.Name] = f64(grads[s.Name])
	}
	res.bytes = fmt.Sprintf("decode step {%v}, grpo step {%v}", step0, train)
	return res
}
