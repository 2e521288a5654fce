package model

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

func openRuntime(t testing.TB) *ort.Runtime {
	t.Helper()
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		t.Skipf("ONNX Runtime not installed (run bash scripts/setup.sh): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func newSession(t testing.TB, rt *ort.Runtime, b *Built, opt onnx.ExportOptions) *ort.Session {
	t.Helper()
	m, err := b.Graph.Build(opt)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := onnx.MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	// ONNX Runtime's fusions (e.g. FusedMatMul) have float32 kernels only.
	opts := ort.Options{IntraOpThreads: 1, InterOpThreads: 1, DisableOptimizations: b.Graph.Float() == onnx.Float64}
	s, err := rt.NewSession(raw, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sharpParams initialises the model and scales the random weights up so the
// logits are far from uniform (tests then discriminate real differences).
func sharpParams(t testing.TB, c Config, seed uint64, scale float32) *params.Store {
	t.Helper()
	s, err := c.InitParams(seed)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range c.ParamSpecs() {
		if spec.Init != InitNormal {
			continue
		}
		p, _ := s.Get(spec.Name)
		for i := range p.Data {
			p.Data[i] *= scale
		}
	}
	return s
}

// testVideos returns random patch rows for grids that share one slice size,
// and the vision rotary tables.
func testVideos(c Config, grids []Grid, seed uint64) (patches []float64, cos, sin []float64, T, S int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	S = grids[0].PatchesPerSlice()
	for _, g := range grids {
		T += g.GT
	}
	patches = make([]float64, T*S*c.PatchDim())
	for i := range patches {
		patches[i] = rng.NormFloat64()
	}
	cos, sin = c.VisionRotary(grids[0])
	return
}

func visionFeeds(c Config, dt onnx.DType, patches, cos, sin []float64, T, S int) map[string]ort.Tensor {
	hd := int64(c.VisionHeadDim())
	return map[string]ort.Tensor{
		InPatches:   FloatTensor(dt, []int64{int64(T), int64(S), int64(c.PatchDim())}, patches),
		InVisionCos: FloatTensor(dt, []int64{int64(S), hd}, cos),
		InVisionSin: FloatTensor(dt, []int64{int64(S), hd}, sin),
	}
}

func asFloat64(t testing.TB, x ort.Tensor) []float64 {
	t.Helper()
	switch d := x.Data.(type) {
	case []float64:
		return d
	case []float32:
		out := make([]float64, len(d))
		for i, v := range d {
			out[i] = float64(v)
		}
		return out
	}
	t.Fatalf("tensor data %T is not float", x.Data)
	return nil
}

func videoPrompt(c Config, pre, post []int, g Grid) []int {
	p := append([]int(nil), pre...)
	p = append(p, c.VisionStartTokenID)
	for i := 0; i < g.Tokens(c.VisionConfig.SpatialMergeSize); i++ {
		p = append(p, c.VideoTokenID)
	}
	p = append(p, c.VisionEndTokenID)
	return append(p, post...)
}

// TestKVCacheParity checks that decoding with the KV cache gives the logits
// of a full forward pass at every generated position of a padded batch
// (max abs diff < 1e-4).
func TestKVCacheParity(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	store := sharpParams(t, c, 3, 5)
	if d := checkKVParity(t, rt, c, store, []Grid{{GT: 2, GH: 4, GW: 4}, {GT: 2, GH: 4, GW: 4}}, 6); d >= 1e-4 {
		t.Fatalf("decode logits differ from the full forward by %g", d)
	}
}

// trainFixture is a small GRPO batch for the training-graph tests.
type trainFixture struct {
	c      Config
	feeds  map[string]ort.Tensor
	batch  *SeqBatch
	grids  []Grid
	videos Videos
}

func newTrainFixture(t testing.TB, c Config, dt onnx.DType, seed uint64) *trainFixture {
	return newTrainFixtureOn(t, c, dt, []Grid{{GT: 2, GH: 4, GW: 4}, {GT: 1, GH: 4, GW: 4}}, seed)
}

// newTrainFixtureOn is a GRPO batch of 4 rows over videos of grids (sharing
// one slice size) with random patches, advantages and old/reference
// log-probs.
func newTrainFixtureOn(t testing.TB, c Config, dt onnx.DType, grids []Grid, seed uint64) *trainFixture {
	vs := c.NewVideos(grids)
	rows := []Row{
		{Prompt: videoPrompt(c, []int{9, 10}, []int{11}, grids[0]), Response: []int{20, 21, 22}, Videos: []int{0}},
		{Prompt: videoPrompt(c, []int{9, 10}, []int{11}, grids[0]), Response: []int{23, 24}, Videos: []int{0}},
		{Prompt: videoPrompt(c, []int{12}, []int{13, 14}, grids[1]), Response: []int{25, 26, 27}, Videos: []int{1}},
		{Prompt: videoPrompt(c, []int{12}, []int{13, 14}, grids[1]), Response: []int{28}, Videos: []int{1}},
	}
	b, err := c.NewSeqBatch(rows, vs, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	feeds := b.Feeds(dt)
	patches, cos, sin, T, S := testVideos(c, grids, seed)
	for k, v := range visionFeeds(c, dt, patches, cos, sin, T, S) {
		feeds[k] = v
	}
	for k, v := range c.VisionExtraFeeds(grids[0], dt) {
		feeds[k] = v
	}
	rng := rand.New(rand.NewPCG(seed, 9))
	adv := []float64{1.2, -0.7, 0.4, -1.5}
	old := make([]float64, b.B*b.R)
	ref := make([]float64, b.B*b.R)
	for i := range old {
		old[i] = -3 + rng.Float64()
		ref[i] = -3 + rng.Float64()
	}
	feeds[InAdvantages] = FloatTensor(dt, []int64{int64(b.B)}, adv)
	feeds[InOldLogProbs] = FloatTensor(dt, []int64{int64(b.B), int64(b.R)}, old)
	feeds[InRefLogProbs] = FloatTensor(dt, []int64{int64(b.B), int64(b.R)}, ref)
	return &trainFixture{c: c, feeds: feeds, batch: b, grids: grids, videos: vs}
}

// TestTrainingGraphGradients checks the gradient outputs of the whole GRPO
// training graph (vision tower, decoder, loss) against central finite
// differences on random parameter coordinates, in float64.
func TestTrainingGraphGradients(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	lc := DefaultGRPOLoss()
	lc.KLCoef = 0.5 // make the KL term matter in the check
	lc.EntropyCoef = 0.1
	b, err := BuildTrain(c, onnx.Float64, lc)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{
		"visual.patch_embed.proj.weight", "visual.blocks.0.attn.qkv.weight", "visual.blocks.1.mlp.fc1.bias",
		"visual.blocks.0.norm1.weight", "visual.merger.mlp.0.weight", "visual.merger.ln_q.bias",
		"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.bias", "model.layers.1.self_attn.k_proj.weight",
		"model.layers.2.mlp.down_proj.weight", "model.layers.0.input_layernorm.weight", "model.norm.weight",
	}
	checkTrainGradients(t, rt, c, b, names, 3, 11, 13)
}

// checkTrainGradients compares the gradient outputs of a float64 training
// graph with central finite differences of its loss at perName random
// coordinates of each named parameter (rel error <= 1e-5).
func checkTrainGradients(t *testing.T, rt *ort.Runtime, c Config, b *Built, names []string, perName int, seed1, seed2 uint64) {
	t.Helper()
	sess := newSession(t, rt, b, onnx.ExportOptions{ParamsAsInputs: true})
	store := sharpParams(t, c, 5, 3)
	fx := newTrainFixture(t, c, onnx.Float64, 2)
	feeds := map[string]ort.Tensor{}
	for k, v := range fx.feeds {
		feeds[k] = v
	}
	// Float64 copies of the parameters that the finite differences perturb.
	p64 := paramFeeds(store, onnx.Float64, feeds)
	ctx := context.Background()
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
	rng := rand.New(rand.NewPCG(seed1, seed2))
	const h = 1e-6
	worst := 0.0
	for _, name := range names {
		data := p64[name]
		grad := asFloat64(t, out[GradPrefix+name])
		if len(grad) != len(data) {
			t.Fatalf("%s: gradient has %d elements, parameter %d", name, len(grad), len(data))
		}
		for k := 0; k < perName; k++ {
			i := rng.IntN(len(data))
			if name == "model.embed_tokens.weight" {
				// Pick a token that occurs, so the coordinate matters.
				i = 20*c.HiddenSize + rng.IntN(c.HiddenSize)
			}
			orig := data[i]
			data[i] = orig + h
			lp := lossAt()
			data[i] = orig - h
			lm := lossAt()
			data[i] = orig
			num := (lp - lm) / (2 * h)
			rel := math.Abs(num-grad[i]) / math.Max(1e-3, math.Abs(num)+math.Abs(grad[i]))
			worst = math.Max(worst, rel)
			if rel > 1e-5 {
				t.Errorf("%s[%d]: analytic %.10g, numeric %.10g (rel %.2g)", name, i, grad[i], num, rel)
			}
		}
	}
	t.Logf("worst relative error over %d coordinates: %.3g", perName*len(names), worst)
}
