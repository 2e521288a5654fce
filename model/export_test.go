package model

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// exportTiny exports the test model with every graph to a temporary folder.
func exportTiny(t *testing.T, c Config, store *params.Store, opt ExportOptions) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "export")
	if err := Export(context.Background(), dir, c, store, opt); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExportLayout checks the Hugging Face folder: config.json loads back,
// model.safetensors holds the store bit-exactly under the HF names,
// io.json lists every graph, and the large initializers went to external
// data files when the threshold asks for it.
func TestExportLayout(t *testing.T) {
	c := tinyTest()
	store := sharpParams(t, c, 4, 2)
	dir := exportTiny(t, c, store, ExportOptions{ExternalDataThreshold: 4096, Files: map[string][]byte{"tokenizer.json": []byte("{}\n")}})

	got, err := LoadJSON(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.HiddenSize != c.HiddenSize || got.VocabSize != c.VocabSize || got.VisionConfig.Depth != c.VisionConfig.Depth ||
		!slices.Equal(got.RopeScaling.MropeSection, c.RopeScaling.MropeSection) {
		t.Errorf("config.json round trip: got %+v", got)
	}
	loaded, err := params.Load(filepath.Join(dir, WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Len() != store.Len() {
		t.Fatalf("model.safetensors has %d tensors, store %d", loaded.Len(), store.Len())
	}
	for _, p := range store.Params() {
		q, ok := loaded.Get(p.Name)
		if !ok {
			t.Fatalf("model.safetensors lacks %s", p.Name)
		}
		if !slices.Equal(q.Shape, p.Shape) {
			t.Fatalf("%s: shape %v, want %v", p.Name, q.Shape, p.Shape)
		}
		for i := range p.Data {
			if math.Float32bits(q.Data[i]) != math.Float32bits(p.Data[i]) {
				t.Fatalf("%s[%d]: %v, want %v", p.Name, i, q.Data[i], p.Data[i])
			}
		}
	}
	for _, f := range []string{PreprocessorFile, "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	spec, err := LoadIOSpec(filepath.Join(dir, ONNXDir, IOFile))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Opset != onnx.DefaultOpset || spec.NumParams != c.NumParams() || len(spec.Graphs) != len(AllGraphs()) {
		t.Fatalf("io.json: opset %d, %d params, %d graphs", spec.Opset, spec.NumParams, len(spec.Graphs))
	}
	for _, name := range AllGraphs() {
		g, ok := spec.Graph(name)
		if !ok {
			t.Fatalf("io.json lacks graph %s", name)
		}
		info, err := os.Stat(filepath.Join(dir, ONNXDir, g.File))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o044 == 0 {
			t.Errorf("%s is not readable by others: %v", g.File, info.Mode())
		}
		train := name == GraphGRPO || name == GraphSFT
		nParamIn, nGrad := 0, 0
		for _, in := range g.Inputs {
			if in.Param {
				nParamIn++
			}
		}
		for _, out := range g.Outputs {
			if out.Grad {
				nGrad++
			}
			for _, d := range out.Shape {
				if d == "?" {
					t.Errorf("%s output %s has an unnamed dynamic dim: %v", name, out.Name, out.Shape)
				}
			}
		}
		if train {
			if g.Weights != "inputs" || nParamIn != store.Len() || nGrad != store.Len() || g.Loss == nil || g.ExternalData != "" {
				t.Errorf("%s: weights %q, %d param inputs, %d grads, loss %v, external %q", name, g.Weights, nParamIn, nGrad, g.Loss, g.ExternalData)
			}
		} else {
			if g.Weights != "initializers" || nParamIn != 0 || nGrad != 0 || g.ExternalData == "" {
				t.Errorf("%s: weights %q, %d param inputs, %d grads, external %q", name, g.Weights, nParamIn, nGrad, g.ExternalData)
			}
		}
	}
	pre, _ := spec.Graph(GraphPrefill)
	wantIn := map[string][]any{
		InInputIDs:     {"batch", "seq"},
		InPositionIDs:  {float64(3), "batch", "seq"},
		InVisionEmbeds: {"vision_tokens", float64(c.HiddenSize)},
	}
	for _, in := range pre.Inputs {
		if w, ok := wantIn[in.Name]; ok && !slices.Equal(in.Shape, w) {
			t.Errorf("prefill input %s: shape %v, want %v", in.Name, in.Shape, w)
		}
	}
	for _, out := range pre.Outputs {
		if out.Name == OutLogits && (!slices.Equal(out.Shape, []any{"batch", float64(c.VocabSize)}) || out.DType != "float32") {
			t.Errorf("prefill logits: %s %v", out.DType, out.Shape)
		}
	}
}

// TestExportErrors: a store that does not match the config, and bad extra
// file names, are refused before anything is written.
func TestExportErrors(t *testing.T) {
	c := tinyTest()
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	other := Tiny(64, testTokens())
	wrong, err := other.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		store *params.Store
		opt   ExportOptions
		want  string
	}{
		{"nil store", nil, ExportOptions{}, "no parameter store"},
		{"shape mismatch", wrong, ExportOptions{}, "model.embed_tokens.weight has shape"},
		{"extra file path", store, ExportOptions{Files: map[string][]byte{"../x": nil}}, "plain file name"},
		{"extra file clobbers config", store, ExportOptions{Files: map[string][]byte{ConfigFile: nil}}, "plain file name"},
		{"unknown graph", store, ExportOptions{Graphs: []string{"nope"}}, "unknown graph"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Export(context.Background(), filepath.Join(t.TempDir(), "x"), c, tc.store, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Export(ctx, t.TempDir(), c, store, ExportOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled export: %v", err)
	}
}

// TestExportedGraphsMatchPolicy loads the exported inference graphs from
// disk (weights as initializers, external data next to them) and checks
// that they give the Policy's outputs for the same inputs, and that the
// exported training graph gives the Policy's loss and gradients. It also
// checks io.json against the inputs and outputs ONNX Runtime reads.
func TestExportedGraphsMatchPolicy(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	p := newPolicy(t, rt, c, 6, 3, GraphVision, GraphPrefill, GraphDecode, GraphLogProb, GraphSFT)
	dir := exportTiny(t, c, p.Store, ExportOptions{ExternalDataThreshold: 4096, Graphs: []string{GraphVision, GraphPrefill, GraphDecode, GraphLogProb, GraphSFT}})
	spec, err := LoadIOSpec(filepath.Join(dir, ONNXDir, IOFile))
	if err != nil {
		t.Fatal(err)
	}
	sess := map[string]*ort.Session{}
	for _, g := range spec.Graphs {
		s, err := rt.NewSessionFromFile(filepath.Join(dir, ONNXDir, g.File), ort.Options{IntraOpThreads: 2, InterOpThreads: 1})
		if err != nil {
			t.Fatalf("load exported %s: %v", g.Name, err)
		}
		t.Cleanup(func() { s.Close() })
		sess[g.Name] = s
		checkIOSpec(t, g, s)
	}
	ctx := context.Background()
	grid := Grid{GT: 2, GH: 4, GW: 4}
	vb := randomVision(t, c, 2, grid, 8)

	// Vision.
	emb, err := p.Encode(ctx, vb)
	if err != nil {
		t.Fatal(err)
	}
	vo, err := sess[GraphVision].Run(ctx, vb.Feeds(c, onnx.Float32), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "vision embeds", asFloat64(t, vo[OutVisionEmbed]), asFloat64(t, emb), 1e-5)

	// Prefill: logits and KV cache.
	prompts := [][]int{videoPrompt(c, []int{9, 10, 11}, []int{12}, grid), videoPrompt(c, []int{13}, []int{14, 15}, grid)}
	pb, err := c.NewPromptBatch(prompts, [][]int{{0}, {1}}, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	logits, cache, err := p.Prefill(ctx, pb, emb)
	if err != nil {
		t.Fatal(err)
	}
	pf := pb.Feeds(onnx.Float32)
	pf[InVisionEmbeds] = emb
	po, err := sess[GraphPrefill].Run(ctx, pf, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "prefill logits", asFloat64(t, po[OutLogits]), f32to64(logits), 1e-4)
	assertSpread(t, "prefill logits", f32to64(logits))
	for i := range cache.Keys {
		assertClose(t, PresentKey(i), asFloat64(t, po[PresentKey(i)]), asFloat64(t, cache.Keys[i]), 1e-4)
		assertClose(t, PresentValue(i), asFloat64(t, po[PresentValue(i)]), asFloat64(t, cache.Values[i]), 1e-4)
	}

	// One decode step from the cache.
	valid := make([][]bool, len(pb.Valid))
	for r := range valid {
		valid[r] = append(slices.Clone(pb.Valid[r]), true)
	}
	toks := []int64{20, 21}
	dl, _, err := p.Decode(ctx, toks, pb.Next, valid, cache)
	if err != nil {
		t.Fatal(err)
	}
	df := DecodeFeeds(onnx.Float32, toks, pb.Next, valid)
	for i := range cache.Keys {
		df[PastKey(i)] = cache.Keys[i]
		df[PastValue(i)] = cache.Values[i]
	}
	do, err := sess[GraphDecode].Run(ctx, df, []string{OutLogits})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "decode logits", asFloat64(t, do[OutLogits]), f32to64(dl), 1e-4)

	// Log-probs and the SFT training graph (parameters as inputs).
	rows := []Row{
		{Prompt: prompts[0], Response: []int{20, 21, 22}, Videos: []int{0}},
		{Prompt: prompts[1], Response: []int{23}, Videos: []int{1}},
	}
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	lp, ent, err := p.LogProbs(ctx, sb, emb)
	if err != nil {
		t.Fatal(err)
	}
	lf := sb.Feeds(onnx.Float32)
	lf[InVisionEmbeds] = emb
	delete(lf, InRespMask)
	lo, err := sess[GraphLogProb].Run(ctx, lf, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "log-probs", asFloat64(t, lo[OutLogProbs]), lp, 1e-4)
	assertClose(t, "entropy", asFloat64(t, lo[OutEntropy]), ent, 1e-4)

	res, err := p.TrainStep(ctx, GraphSFT, sb, vb, StepInputs{})
	if err != nil {
		t.Fatal(err)
	}
	tf := sb.Feeds(onnx.Float32)
	for k, v := range vb.Feeds(c, onnx.Float32) {
		tf[k] = v
	}
	AddParamFeeds(tf, p.Store, onnx.Float32)
	to, err := sess[GraphSFT].Run(ctx, tf, nil)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "sft loss", asFloat64(t, to[OutLoss]), []float64{res.Loss}, 1e-5)
	for _, name := range []string{"visual.patch_embed.proj.weight", "model.layers.0.self_attn.q_proj.weight", "model.norm.weight"} {
		assertClose(t, "grad "+name, asFloat64(t, to[GradPrefix+name]), f32to64(res.Grads[name]), 1e-5)
	}
}

// TestExportOpset17 exports at the older opset and checks the prefill graph
// still gives the Policy's logits (the reductions are rewritten).
func TestExportOpset17(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	p := newPolicy(t, rt, c, 2, 3, GraphVision, GraphPrefill)
	dir := exportTiny(t, c, p.Store, ExportOptions{Opset: onnx.MinOpset, Graphs: []string{GraphPrefill}, ExternalDataThreshold: -1})
	if _, err := os.Stat(filepath.Join(dir, ONNXDir, GraphPrefill+".onnx.data")); !os.IsNotExist(err) {
		t.Fatalf("threshold -1 wrote external data: %v", err)
	}
	s, err := rt.NewSessionFromFile(filepath.Join(dir, ONNXDir, GraphPrefill+".onnx"), ort.Options{IntraOpThreads: 2, InterOpThreads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	grid := Grid{GT: 1, GH: 4, GW: 4}
	vb := randomVision(t, c, 1, grid, 3)
	emb, err := p.Encode(ctx, vb)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := c.NewPromptBatch([][]int{videoPrompt(c, []int{9}, []int{10, 11}, grid)}, [][]int{{0}}, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := p.Prefill(ctx, pb, emb)
	if err != nil {
		t.Fatal(err)
	}
	f := pb.Feeds(onnx.Float32)
	f[InVisionEmbeds] = emb
	out, err := s.Run(ctx, f, []string{OutLogits})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "opset-17 prefill logits", asFloat64(t, out[OutLogits]), f32to64(want), 1e-4)
}

// checkIOSpec compares an io.json graph entry with what ONNX Runtime reads
// from the exported file.
func checkIOSpec(t *testing.T, g IOGraph, s *ort.Session) {
	t.Helper()
	cmp := func(kind string, spec []IOTensor, got []ort.TensorInfo) {
		if len(spec) != len(got) {
			t.Errorf("%s: io.json lists %d %s, the model has %d", g.Name, len(spec), kind, len(got))
			return
		}
		for i, ti := range got {
			st := spec[i]
			if st.Name != ti.Name || st.DType != ti.DType.String() || len(st.Shape) != len(ti.Shape) {
				t.Errorf("%s %s %d: io.json %s %s %v, model %v", g.Name, kind, i, st.Name, st.DType, st.Shape, ti)
				continue
			}
			for j, d := range st.Shape {
				n, static := d.(float64)
				if static && int64(n) != ti.Shape[j] || !static && ti.Shape[j] != -1 {
					t.Errorf("%s %s %s: io.json shape %v, model %v", g.Name, kind, st.Name, st.Shape, ti.Shape)
					break
				}
			}
		}
	}
	cmp("inputs", g.Inputs, s.Inputs())
	cmp("outputs", g.Outputs, s.Outputs())
}

func f32to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func assertClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		worst = math.Max(worst, math.Abs(got[i]-want[i]))
	}
	if worst > tol || math.IsNaN(worst) {
		t.Errorf("%s: max abs diff %g > %g", what, worst, tol)
	}
}

func assertSpread(t *testing.T, what string, x []float64) {
	t.Helper()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range x {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi-lo < 0.1 {
		t.Fatalf("%s too flat (%g) for a meaningful comparison", what, hi-lo)
	}
}
