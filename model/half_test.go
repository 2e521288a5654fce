package model

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// halfBaseFixture returns a LoRA model with random adapters, the same model
// holding its base weights in dtype, and a float32 store whose base
// weights carry exactly the rounded values of the half store.
func halfBaseFixture(t *testing.T, dtype string) (c, hc Config, rounded, half *params.Store) {
	t.Helper()
	base := tinyTest()
	c = withLoRA(base, "q_proj", "v_proj", "down_proj", "qkv", "lm_head")
	store := sharpParams(t, base, 3, 5)
	if err := c.AddLoRA(store, 1); err != nil {
		t.Fatal(err)
	}
	randomizeAdapters(t, c, store, 2, 0.1)
	hc = c
	l := *c.LoRA
	l.BaseDType = dtype
	hc.LoRA = &l
	half = store.Clone()
	if err := hc.HoldBase(half); err != nil {
		t.Fatal(err)
	}
	rounded = half.Clone()
	if err := rounded.Convert(safetensors.F32, func(string) bool { return true }); err != nil {
		t.Fatal(err)
	}
	return c, hc, rounded, half
}

// TestHalfBaseMatchesRoundedFloat32: a LoRA model whose frozen base is held
// in BF16 or F16 computes what the float32 model computes with the base
// rounded to that type — through initializers (prefill), KV-cache decoding,
// and the policy's fed inputs (GRPO loss, log-probs and adapter
// gradients) — while its store takes about half the memory.
func TestHalfBaseMatchesRoundedFloat32(t *testing.T) {
	rt := openRuntime(t)
	for _, dtype := range []string{safetensors.BF16, safetensors.F16} {
		t.Run(dtype, func(t *testing.T) {
			c, hc, rounded, half := halfBaseFixture(t, dtype)
			if err := hc.CheckStore(half); err != nil {
				t.Fatal(err)
			}
			for _, p := range half.Params() {
				if p.IsHalf() == IsLoRAParam(p.Name) {
					t.Fatalf("%s held as %s", p.Name, p.StorageDType())
				}
			}
			if r := float64(half.Bytes()) / float64(rounded.Bytes()); r > 0.55 {
				t.Fatalf("half store takes %.2f of the float32 one", r)
			}
			want, got := prefillLogits(t, rt, c, rounded), prefillLogits(t, rt, hc, half)
			if d, spread := maxAbsDiff(want, got); d > 1e-5*math.Max(1, spread) || spread < 0.1 {
				t.Fatalf("prefill logits differ by %g (spread %g)", d, spread)
			}
			checkKVParity(t, rt, hc, half, []Grid{{GT: 2, GH: 4, GW: 4}, {GT: 1, GH: 4, GW: 4}}, 3)

			run := func(c Config, store *params.Store) *StepResult {
				p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: []string{GraphGRPO}, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				sb, vb := grpoFixture(t, c)
				in := StepInputs{Advantages: []float64{1}, OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
				for i := range in.OldLogProb {
					in.OldLogProb[i], in.RefLogProb[i] = -3, -3.5
				}
				res, err := p.TrainStep(context.Background(), GraphGRPO, sb, vb, in)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			a, b := run(c, rounded), run(hc, half)
			if d := math.Abs(a.Loss - b.Loss); d > 1e-5*math.Max(1, math.Abs(a.Loss)) {
				t.Fatalf("loss %g vs %g", a.Loss, b.Loss)
			}
			if d, _ := maxAbsDiff(a.LogProbs, b.LogProbs); d > 1e-5 {
				t.Fatalf("log-probs differ by %g", d)
			}
			if len(b.Grads) != len(hc.TrainableSpecs()) {
				t.Fatalf("%d gradients, want one per adapter (%d)", len(b.Grads), len(hc.TrainableSpecs()))
			}
			for name, ga := range a.Grads {
				gb, ok := b.Grads[name]
				if !ok {
					t.Fatalf("no gradient for %s", name)
				}
				d, spread := maxAbsDiff(f64(ga), f64(gb))
				if d > 1e-5*math.Max(1e-3, spread) {
					t.Fatalf("gradient of %s differs by %g (spread %g)", name, d, spread)
				}
			}
		})
	}
}

func f64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// TestHalfBaseErrors: a store whose dtypes do not match the config, a bad
// base dtype and an optimizer over half weights are clear errors.
func TestHalfBaseErrors(t *testing.T) {
	rt := openRuntime(t)
	c, hc, rounded, half := halfBaseFixture(t, safetensors.BF16)
	_, err := NewPolicy(rt, hc, rounded, PolicyOptions{Graphs: []string{GraphLogProb}})
	if err == nil || !strings.Contains(err.Error(), "held as F32") {
		t.Fatalf("float32 store under a BF16 config: %v", err)
	}
	if _, err = NewPolicy(rt, c, half, PolicyOptions{Graphs: []string{GraphLogProb}}); err == nil || !strings.Contains(err.Error(), "held as BF16") {
		t.Fatalf("BF16 store under a float32 config: %v", err)
	}
	bad := hc
	l := *hc.LoRA
	l.BaseDType = "F8_E4M3"
	bad.LoRA = &l
	if err := bad.Validate(); !errors.Is(err, ErrBadLoRA) || !strings.Contains(err.Error(), "F8_E4M3") {
		t.Fatalf("bad base dtype: %v", err)
	}
	if _, err := optim.New(optim.Config{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, half); err == nil || !strings.Contains(err.Error(), "BF16") {
		t.Fatalf("optimizer over half weights: %v", err)
	}
	tr, err := hc.TrainableStore(half)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := optim.New(optim.Config{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, tr); err != nil {
		t.Fatalf("optimizer over the adapters: %v", err)
	}
}

// TestMergeHalfBase: merging adapters into a BF16 base gives the float32
// merge of the rounded base, rounded back to BF16; unadapted weights keep
// their bits (shared, not copied).
func TestMergeHalfBase(t *testing.T) {
	c, hc, rounded, half := halfBaseFixture(t, safetensors.BF16)
	mc, want, err := MergeLoRA(c, rounded)
	if err != nil {
		t.Fatal(err)
	}
	hmc, got, err := MergeLoRA(hc, half)
	if err != nil {
		t.Fatal(err)
	}
	if hmc.LoRA != nil || mc.TieWordEmbeddings != hmc.TieWordEmbeddings {
		t.Fatalf("merged config %+v", hmc.LoRA)
	}
	adapted := 0
	for _, w := range want.Params() {
		g, ok := got.Get(w.Name)
		if !ok || !g.IsHalf() {
			t.Fatalf("%s missing or not BF16 in the merged half store", w.Name)
		}
		bits, _ := safetensors.Float32ToHalf(safetensors.BF16, w.Data)
		if !slices.Equal(bits, g.Half) {
			t.Fatalf("%s: merged BF16 bits differ from the rounded float32 merge", w.Name)
		}
		if src, ok := half.Get(w.Name); ok && &src.Half[0] == &g.Half[0] {
			continue
		}
		adapted++
	}
	if adapted == 0 || adapted == want.Len() {
		t.Fatalf("%d of %d merged weights are new", adapted, want.Len())
	}
}
