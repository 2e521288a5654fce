package model

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

func withLoRA(c Config, targets ...string) Config {
	c.LoRA = &LoRAConfig{Rank: 4, Alpha: 8, TargetModules: targets}
	return c
}

func TestLoRATargets(t *testing.T) {
	base := tinyTest()
	L := base.NumHiddenLayers
	D := base.VisionConfig.Depth
	cases := []struct {
		name    string
		lora    LoRAConfig
		modules int
		err     string
	}{
		{"attention", LoRAConfig{Rank: 4, Alpha: 8, TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj"}}, 4 * L, ""},
		{"mlp and vision", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"gate_proj", "up_proj", "down_proj", "qkv", "fc1"}}, 3*L + 2*D, ""},
		{"dotted suffix", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"self_attn.q_proj"}}, L, ""},
		{"full path", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"model.layers.1.mlp.up_proj"}}, 1, ""},
		{"all-linear", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{AllLinear}}, 7*L + 4*D + 2, ""},
		{"lm_head", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"lm_head"}}, 1, ""},
		{"proj hits the conv", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"proj"}}, 0, "not a linear layer"},
		{"embedding", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"embed_tokens"}}, 0, "not a linear layer"},
		{"no match", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{"c_attn"}}, 0, "match no linear layer"},
		{"rank", LoRAConfig{Rank: 0, Alpha: 2, TargetModules: []string{"q_proj"}}, 0, "rank"},
		{"alpha", LoRAConfig{Rank: 2, Alpha: 0, TargetModules: []string{"q_proj"}}, 0, "alpha"},
		{"dropout", LoRAConfig{Rank: 2, Alpha: 2, Dropout: 1, TargetModules: []string{"q_proj"}}, 0, "dropout"},
		{"empty", LoRAConfig{Rank: 2, Alpha: 2}, 0, "empty"},
		{"all-linear plus", LoRAConfig{Rank: 2, Alpha: 2, TargetModules: []string{AllLinear, "q_proj"}}, 0, "only target"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			l := tc.lora
			c.LoRA = &l
			mods, err := c.LoRAModules()
			verr := c.Validate()
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrBadLoRA) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one containing %q", err, tc.err)
				}
				if verr == nil {
					t.Fatal("Validate accepted the config")
				}
				return
			}
			if err != nil || verr != nil {
				t.Fatal(err, verr)
			}
			if len(mods) != tc.modules {
				t.Fatalf("%d modules %v, want %d", len(mods), mods, tc.modules)
			}
			if got, want := len(c.TrainableSpecs()), 2*tc.modules; got != want {
				t.Fatalf("%d trainable specs, want %d", got, want)
			}
			if got, want := len(c.ParamSpecs()), len(base.ParamSpecs())+2*tc.modules; got != want {
				t.Fatalf("%d specs, want %d", got, want)
			}
		})
	}
}

// TestLoRAInit: the base weights do not depend on LoRA; A is Kaiming-uniform
// within 1/sqrt(in), B is zero.
func TestLoRAInit(t *testing.T) {
	base := tinyTest()
	c := withLoRA(base, "q_proj", "fc1")
	s, err := c.InitParams(4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := base.InitParams(4)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Params() {
		q, _ := s.Get(p.Name)
		if !slices.Equal(p.Data, q.Data) {
			t.Fatalf("%s differs with LoRA on", p.Name)
		}
	}
	a, _ := s.Get("model.layers.0.self_attn.q_proj.lora_A.weight")
	bound := float32(1 / math.Sqrt(float64(c.HiddenSize)))
	lo, hi := float32(0), float32(0)
	for _, v := range a.Data {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo < -bound || hi > bound || hi-lo < bound {
		t.Fatalf("A spans [%g, %g], want U(-%g, %g)", lo, hi, bound, bound)
	}
	bb, _ := s.Get("visual.blocks.1.mlp.fc1.lora_B.weight")
	if slices.ContainsFunc(bb.Data, func(v float32) bool { return v != 0 }) {
		t.Fatal("B is not zero")
	}
	// AddLoRA on a base store gives the same adapters for the same seed.
	if err := c.AddLoRA(b, 9); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Len(), len(c.ParamSpecs()); got != want {
		t.Fatalf("store has %d tensors, want %d", got, want)
	}
	if err := base.AddLoRA(b, 9); err == nil {
		t.Fatal("AddLoRA without lora settings succeeded")
	}
}

func TestTrainableStoreSharesData(t *testing.T) {
	c := withLoRA(tinyTest(), "v_proj")
	s, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.TrainableStore(s)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Len() != 2*c.NumHiddenLayers {
		t.Fatalf("trainable store has %d tensors", tr.Len())
	}
	p, _ := tr.Get("model.layers.2.self_attn.v_proj.lora_B.weight")
	p.Data[3] = 7
	q, _ := s.Get("model.layers.2.self_attn.v_proj.lora_B.weight")
	if q.Data[3] != 7 {
		t.Fatal("trainable store does not share data with the store")
	}
	bs := base2(t)
	full, err := tinyTest().TrainableStore(bs)
	if err != nil || full != bs {
		t.Fatalf("without LoRA the trainable store is not the store itself (%v)", err)
	}
}

// randomizeAdapters gives every adapter B (and A) random values so the
// adapters change the model.
func randomizeAdapters(t testing.TB, c Config, s *params.Store, seed uint64, std float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	for _, sp := range c.TrainableSpecs() {
		p, ok := s.Get(sp.Name)
		if !ok {
			t.Fatalf("store lacks %s", sp.Name)
		}
		params.FillNormal(p.Data, rng, 0, std)
	}
}

// prefillLogits runs vision + prefill for a fixed two-video prompt batch and
// returns the last-position logits.
func prefillLogits(t testing.TB, rt *ort.Runtime, c Config, store *params.Store) []float64 {
	t.Helper()
	pd := onnx.ExportOptions{ParamData: ParamData(store)}
	vb, err := BuildVision(c, onnx.Float32)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := BuildPrefill(c, onnx.Float32)
	if err != nil {
		t.Fatal(err)
	}
	vis, pre := newSession(t, rt, vb, pd), newSession(t, rt, pb, pd)
	grids := []Grid{{GT: 2, GH: 4, GW: 4}, {GT: 1, GH: 4, GW: 4}}
	patches, cos, sin, T, S := testVideos(c, grids, 1)
	ctx := context.Background()
	feeds := visionFeeds(c, onnx.Float32, patches, cos, sin, T, S)
	for k, v := range c.VisionExtraFeeds(grids[0], onnx.Float32) {
		feeds[k] = v
	}
	vout, err := vis.Run(ctx, feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	vs := c.NewVideos(grids)
	prompts := [][]int{videoPrompt(c, []int{9, 10}, []int{12, 13}, grids[0]), videoPrompt(c, []int{14}, []int{15}, grids[1])}
	batch, err := c.NewPromptBatch(prompts, [][]int{{0}, {1}}, vs, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	f := batch.Feeds(onnx.Float32)
	f[InVisionEmbeds] = vout[OutVisionEmbed]
	out, err := pre.Run(ctx, f, []string{OutLogits})
	if err != nil {
		t.Fatal(err)
	}
	return asFloat64(t, out[OutLogits])
}

func maxAbsDiff(a, b []float64) (diff, spread float64) {
	for i := range a {
		diff = math.Max(diff, math.Abs(a[i]-b[i]))
		spread = math.Max(spread, math.Abs(a[i]))
	}
	return diff, spread
}

// TestLoRAZeroBMatchesBase: fresh adapters (B = 0) leave the logits of the
// base model unchanged; random adapters change them.
func TestLoRAZeroBMatchesBase(t *testing.T) {
	rt := openRuntime(t)
	base := tinyTest()
	c := withLoRA(base, "q_proj", "v_proj", "down_proj", "qkv", "fc2", "lm_head")
	store := sharpParams(t, base, 3, 5)
	want := prefillLogits(t, rt, base, store)
	if err := c.AddLoRA(store, 1); err != nil {
		t.Fatal(err)
	}
	got := prefillLogits(t, rt, c, store)
	if d, spread := maxAbsDiff(want, got); d > 1e-6 || spread < 0.1 {
		t.Fatalf("zero-B LoRA logits differ from the base by %g (spread %g)", d, spread)
	}
	randomizeAdapters(t, c, store, 2, 0.1)
	changed := prefillLogits(t, rt, c, store)
	if d, _ := maxAbsDiff(want, changed); d < 1e-3 {
		t.Fatalf("random adapters change the logits by only %g", d)
	}
}

// TestLoRATrainingGraphGradients: the LoRA training graph outputs gradients
// for the adapters only, and they match central finite differences (float64).
func TestLoRATrainingGraphGradients(t *testing.T) {
	rt := openRuntime(t)
	base := tinyTest()
	c := withLoRA(base, "q_proj", "v_proj", "o_proj", "down_proj", "qkv", "fc1", "merger.mlp.0", "lm_head")
	lc := DefaultGRPOLoss()
	lc.KLCoef = 0.5
	b, err := BuildTrain(c, onnx.Float64, lc)
	if err != nil {
		t.Fatal(err)
	}
	var grads []string
	for _, o := range b.Graph.Outputs() {
		if n, ok := strings.CutPrefix(o.Name, GradPrefix); ok {
			grads = append(grads, n)
		}
	}
	var want []string
	for _, s := range c.TrainableSpecs() {
		want = append(want, s.Name)
	}
	slices.Sort(grads)
	slices.Sort(want)
	if !slices.Equal(grads, want) {
		t.Fatalf("gradient outputs %v, want the adapters %v", grads, want)
	}
	store := sharpParams(t, base, 5, 3)
	if err := c.AddLoRA(store, 6); err != nil {
		t.Fatal(err)
	}
	randomizeAdapters(t, c, store, 7, 0.2)
	fdCheck(t, rt, b, c, store, newTrainFixture(t, c, onnx.Float64, 2).feeds, c.TrainableSpecs(), 2, 1e-5)
}

// fdCoord is one parameter element of a finite-difference check.
type fdCoord struct {
	name  string
	index int
}

// randomCoords picks perSpec random elements of each spec (for the token
// embedding, elements of token 20, which the fixtures' responses use).
func randomCoords(c Config, specs []ParamSpec, perSpec int) []fdCoord {
	rng := rand.New(rand.NewPCG(11, 13))
	var out []fdCoord
	for _, s := range specs {
		for k := 0; k < perSpec; k++ {
			i := rng.IntN(s.Size())
			if s.Name == "model.embed_tokens.weight" {
				i = 20*c.HiddenSize + rng.IntN(c.HiddenSize)
			}
			out = append(out, fdCoord{s.Name, i})
		}
	}
	return out
}

// fdCheck compares the gradient outputs of a float64 training graph with
// central finite differences on perSpec random elements of each spec.
func fdCheck(t *testing.T, rt *ort.Runtime, b *Built, c Config, store *params.Store, fixture map[string]ort.Tensor, specs []ParamSpec, perSpec int, tol float64) {
	t.Helper()
	fdCheckCoords(t, rt, b, store, fixture, randomCoords(c, specs, perSpec), tol)
}

// fdCheckCoords compares the gradient outputs of a float64 training graph
// with central finite differences at the given coordinates.
func fdCheckCoords(t *testing.T, rt *ort.Runtime, b *Built, store *params.Store, fixture map[string]ort.Tensor, coords []fdCoord, tol float64) {
	t.Helper()
	sess := newSession(t, rt, b, onnx.ExportOptions{ParamsAsInputs: true})
	feeds := map[string]ort.Tensor{}
	for k, v := range fixture {
		feeds[k] = v
	}
	p64 := paramFeeds(store, onnx.Float64, feeds)
	ctx := context.Background()
	for name := range feeds {
		if !slices.ContainsFunc(b.Graph.Inputs(), func(v *onnx.Value) bool { return v.Name == name }) &&
			!slices.ContainsFunc(b.Params, func(v *onnx.Value) bool { return v.Name == name }) {
			delete(feeds, name)
		}
	}
	out, err := sess.Run(ctx, feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	lossAt := func() float64 {
		o, err := sess.Run(ctx, feeds, []string{OutLoss})
		if err != nil {
			t.Fatal(err)
		}
		return asFloat64(t, o[OutLoss])[0]
	}
	// h = 1e-5: the float64 loss carries ~1e-12 of rounding noise (long
	// reductions), which h = 1e-6 would amplify to ~1e-6 in the slope.
	const h = 1e-5
	worst, nonzero := 0.0, 0
	for _, co := range coords {
		data := p64[co.name]
		gt, ok := out[GradPrefix+co.name]
		if !ok {
			t.Fatalf("no gradient output for %s", co.name)
		}
		grad := asFloat64(t, gt)
		if len(grad) != len(data) {
			t.Fatalf("%s: gradient has %d elements, parameter %d", co.name, len(grad), len(data))
		}
		i := co.index
		orig := data[i]
		data[i] = orig + h
		lp := lossAt()
		data[i] = orig - h
		lm := lossAt()
		data[i] = orig
		num := (lp - lm) / (2 * h)
		if math.Abs(num) > 1e-7 {
			nonzero++
		}
		rel := math.Abs(num-grad[i]) / math.Max(1e-3, math.Abs(num)+math.Abs(grad[i]))
		worst = math.Max(worst, rel)
		if rel > tol {
			t.Errorf("%s[%d]: analytic %.10g, numeric %.10g (rel %.2g)", co.name, i, grad[i], num, rel)
		}
	}
	if nonzero < len(coords)/2 {
		t.Fatalf("only %d of %d checked coordinates have a nonzero gradient", nonzero, len(coords))
	}
	t.Logf("worst relative error over %d coordinates: %.3g", len(coords), worst)
}

// TestLoRAMerge: after a few SGD steps on the adapters (through
// Policy.TrainStep), the merged weights give the logits of base+adapters,
// and only the adapters moved.
func TestLoRAMerge(t *testing.T) {
	rt := openRuntime(t)
	base := tinyTest()
	c := withLoRA(base, "q_proj", "v_proj", "gate_proj", "qkv", "fc2", "lm_head")
	store := sharpParams(t, base, 8, 3)
	before := store.Clone()
	if err := c.AddLoRA(store, 2); err != nil {
		t.Fatal(err)
	}
	trainSteps(t, rt, c, store, Grid{GT: 1, GH: 4, GW: 4}, 0.05, 4)
	for _, prm := range before.Params() {
		q, _ := store.Get(prm.Name)
		if !slices.Equal(prm.Data, q.Data) {
			t.Fatalf("base weight %s moved", prm.Name)
		}
	}
	want := prefillLogits(t, rt, c, store)
	mc, ms, err := MergeLoRA(c, store)
	if err != nil {
		t.Fatal(err)
	}
	if mc.LoRA != nil || mc.TieWordEmbeddings {
		t.Fatalf("merged config keeps lora %v / ties an adapted head %v", mc.LoRA, mc.TieWordEmbeddings)
	}
	if ms.Len() != len(mc.ParamSpecs()) {
		t.Fatalf("merged store has %d tensors, config %d", ms.Len(), len(mc.ParamSpecs()))
	}
	got := prefillLogits(t, rt, mc, ms)
	d, spread := maxAbsDiff(want, got)
	if d > 1e-4*math.Max(1, spread) {
		t.Fatalf("merged logits differ from base+adapters by %g (spread %g)", d, spread)
	}
	if bd, _ := maxAbsDiff(want, prefillLogits(t, rt, base, before)); bd < 1e-3 {
		t.Fatalf("trained adapters changed the logits by only %g", bd)
	}
	t.Logf("merged vs adapter logits max diff %.3g (spread %.3g)", d, spread)
}

func TestPEFTRoundTrip(t *testing.T) {
	base := tinyTest()
	c := withLoRA(base, "q_proj", "v_proj", "qkv", "lm_head")
	c.LoRA.Dropout = 0.05
	store, err := c.InitParams(3)
	if err != nil {
		t.Fatal(err)
	}
	randomizeAdapters(t, c, store, 4, 0.3)
	dir := t.TempDir()
	if err := SaveAdapters(dir, c, store, "Qwen/Qwen2-VL-2B-Instruct"); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	raw, err := os.ReadFile(filepath.Join(dir, AdapterConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 4.0, "lora_alpha": 8.0, "lora_dropout": 0.05,
		"base_model_name_or_path": "Qwen/Qwen2-VL-2B-Instruct", "bias": "none", "use_rslora": false} {
		if cfg[k] != v {
			t.Errorf("adapter_config.json %s = %v, want %v", k, cfg[k], v)
		}
	}
	if tm, _ := json.Marshal(cfg["target_modules"]); string(tm) != `["lm_head","q_proj","qkv","v_proj"]` {
		t.Errorf("target_modules %s", tm)
	}
	f, err := safetensors.Read(filepath.Join(dir, AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	names := f.Names()
	for _, want := range []string{
		"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.2.self_attn.v_proj.lora_B.weight",
		"base_model.model.visual.blocks.1.attn.qkv.lora_A.weight",
		"base_model.model.lm_head.lora_B.weight",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("%s lacks %s (has %v)", AdapterWeightsFile, want, names)
		}
	}
	if len(names) != len(c.TrainableSpecs()) {
		t.Errorf("%d tensors saved, want %d", len(names), len(c.TrainableSpecs()))
	}
	// Load into a fresh base store.
	fresh, err := base.InitParams(3)
	if err != nil {
		t.Fatal(err)
	}
	lc, err := LoadAdapters(dir, base, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if lc.LoRA == nil || lc.LoRA.Rank != 4 || lc.LoRA.Alpha != 8 || lc.LoRA.Dropout != 0.05 {
		t.Fatalf("loaded lora config %+v", lc.LoRA)
	}
	if fresh.Checksum() != store.Checksum() {
		t.Fatal("store after LoadAdapters differs from the saved one")
	}
	// Loading again overwrites in place.
	p, _ := fresh.Get("visual.blocks.0.attn.qkv.lora_B.weight")
	p.Data[0] = 42
	if _, err := LoadAdapters(dir, base, fresh); err != nil {
		t.Fatal(err)
	}
	if fresh.Checksum() != store.Checksum() {
		t.Fatal("reloading did not overwrite the adapters")
	}
	// A file with a foreign or missing key is refused.
	tensors := map[string]safetensors.Float32Tensor{"base_model.model.model.layers.0.mlp.up_proj.lora_A.weight": {Shape: []int64{4, 128}, Data: make([]float32, 512)}}
	if err := safetensors.WriteFloat32Map(filepath.Join(dir, AdapterWeightsFile), safetensors.F32, tensors, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAdapters(dir, base, base2(t)); err == nil || !strings.Contains(err.Error(), "no adapter of the configured target") {
		t.Fatalf("foreign adapter key: err %v", err)
	}
}

func base2(t testing.TB) *params.Store {
	s, err := tinyTest().InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseAdapterConfig(t *testing.T) {
	cases := []struct {
		name, json string
		err        string
		targets    []string
	}{
		{"minimal", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["v_proj","q_proj"]}`, "", []string{"q_proj", "v_proj"}},
		{"all-linear string", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":"all-linear"}`, "", []string{AllLinear}},
		{"regex", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":".*q_proj"}`, "regular expressions", nil},
		{"dora", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"use_dora":true}`, "use_dora", nil},
		{"ia3", `{"peft_type":"IA3","target_modules":["q_proj"]}`, "peft_type", nil},
		{"bias", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"bias":"all"}`, "bias", nil},
		{"modules_to_save", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"modules_to_save":["lm_head"]}`, "modules_to_save", nil},
		{"layers", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"layers_to_transform":[0]}`, "layers_to_transform", nil},
		{"rank pattern", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"rank_pattern":{"q_proj":4}}`, "rank_pattern", nil},
		{"pissa init", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"init_lora_weights":"pissa"}`, "init_lora_weights", nil},
		{"gaussian init", `{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj"],"init_lora_weights":"gaussian"}`, "", []string{"q_proj"}},
		{"bad json", `{"peft_type":`, "parse", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, _, err := ParseAdapterConfig([]byte(tc.json))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(l.TargetModules, tc.targets) || l.Rank != 8 || l.Alpha != 16 {
				t.Fatalf("parsed %+v", l)
			}
		})
	}
}

func FuzzParseAdapterConfig(f *testing.F) {
	b, _ := MarshalAdapterConfig(LoRAConfig{Rank: 8, Alpha: 16, Dropout: 0.05, TargetModules: []string{"q_proj", "v_proj"}}, "base")
	f.Add(b)
	f.Add([]byte(`{"peft_type":"LORA","target_modules":"all-linear"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, base, err := ParseAdapterConfig(data)
		if err != nil {
			return
		}
		// A parsed config survives a write and re-read unchanged.
		out, err := MarshalAdapterConfig(l, base)
		if err != nil {
			t.Fatal(err)
		}
		l2, base2, err := ParseAdapterConfig(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if base2 != base || l2.Rank != l.Rank || !slices.Equal(l2.TargetModules, l.TargetModules) || l2.RSLoRA != l.RSLoRA {
			t.Fatalf("round trip %+v -> %+v", l, l2)
		}
	})
}
