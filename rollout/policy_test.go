package rollout

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
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

// tinyPolicy is the tiny architecture with random weights scaled up so its
// distributions are far from uniform.
func tinyPolicy(t testing.TB, rt *ort.Runtime, temperature float64, graphs ...string) *model.Policy {
	t.Helper()
	return tinyPolicyOn(t, rt, temperature, nil, graphs...)
}

// tinyPolicyOn is tinyPolicy, device-resident on dev when it is not nil.
func tinyPolicyOn(t testing.TB, rt *ort.Runtime, temperature float64, dev *ort.Device, graphs ...string) *model.Policy {
	t.Helper()
	c := model.Tiny(48, testTokens())
	s, err := c.InitParams(5)
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range c.ParamSpecs() {
		if spec.Init != model.InitNormal {
			continue
		}
		p, _ := s.Get(spec.Name)
		for i := range p.Data {
			p.Data[i] *= 4
		}
	}
	loss := model.DefaultGRPOLoss()
	loss.Temperature = temperature
	p, err := model.NewPolicy(rt, c, s, model.PolicyOptions{Graphs: graphs, Loss: loss, Device: dev, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func randomVideo(c model.Config, g model.Grid, seed uint64) model.VisionInput {
	rng := rand.New(rand.NewPCG(seed, 11))
	d := make([]float32, g.GT*g.PatchesPerSlice()*c.PatchDim())
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	return model.VisionInput{Grid: g, Patches: d}
}

func videoIDs(c model.Config, pre []int, g model.Grid, post []int) []int {
	ids := append([]int(nil), pre...)
	ids = append(ids, c.VisionStartTokenID)
	for range g.Tokens(c.VisionConfig.SpatialMergeSize) {
		ids = append(ids, c.VideoTokenID)
	}
	ids = append(ids, c.VisionEndTokenID)
	return append(ids, post...)
}

// testPrompts are three prompts of different lengths and frame sizes (two
// share a grid, one has two clips, one has no video).
func testPrompts(c model.Config) []Prompt {
	g1 := model.Grid{GT: 2, GH: 4, GW: 4}
	g2 := model.Grid{GT: 1, GH: 2, GW: 4}
	two := videoIDs(c, []int{20}, g2, nil)
	two = append(two, videoIDs(c, []int{21}, g2, []int{22, 23})...)
	return []Prompt{
		{IDs: videoIDs(c, []int{9, 10, 11, 12}, g1, []int{13, 14}), Videos: []model.VisionInput{randomVideo(c, g1, 1)}},
		{IDs: two, Videos: []model.VisionInput{randomVideo(c, g2, 2), randomVideo(c, g2, 3)}},
		{IDs: []int{15, 16, 17}},
	}
}

// TestGreedyKVMatchesRecompute: greedy generation through the KV cache is
// token-identical to greedy generation by a full forward pass per token,
// for a padded batch of prompts of different lengths.
func TestGreedyKVMatchesRecompute(t *testing.T) {
	for _, dec := range []string{model.GraphDecode, model.GraphDecodeStatic} {
		t.Run(dec, func(t *testing.T) { greedyParity(t, dec) })
	}
}

func greedyParity(t *testing.T, decodeGraph string) {
	rt := openRuntime(t)
	p := tinyPolicy(t, rt, 1, model.GraphVision, model.GraphPrefill, decodeGraph)
	c := p.Config
	ctx := context.Background()
	prompts := testPrompts(c)
	const maxNew = 8
	e := NewEngine(p, c, nil, c.BosTokenID)
	out, _, err := e.Generate(ctx, prompts, 2, Sampling{Temperature: 0, TopP: 1, MaxNewTokens: maxNew}, 1)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[int]bool{}
	for i, pr := range prompts {
		// Full recompute: prefill prompt + generated-so-far, argmax.
		var seq []int
		for len(seq) < maxNew {
			full := append(append([]int(nil), pr.IDs...), seq...)
			var st Stats
			pre, err := NewEngine(p, c, nil, c.BosTokenID).prefill(ctx, []Prompt{{IDs: full, Videos: pr.Videos}}, &st)
			if err != nil {
				t.Fatal(err)
			}
			logits := pre.logits
			best := 0
			for j, v := range logits {
				if v > logits[best] {
					best = j
				}
			}
			seq = append(seq, best)
			distinct[best] = true
			if best == c.EosTokenID {
				break
			}
		}
		for r := 0; r < 2; r++ {
			got := out[i*2+r].Tokens
			if len(got) != len(seq) {
				t.Fatalf("prompt %d row %d: KV %v, recompute %v", i, r, got, seq)
			}
			for k := range got {
				if got[k] != seq[k] {
					t.Fatalf("prompt %d row %d: KV %v, recompute %v", i, r, got, seq)
				}
			}
		}
	}
	if len(distinct) < 3 {
		t.Fatalf("generation too degenerate for a meaningful check: %v", distinct)
	}
}

// TestSampledLogProbsMatchGraph: the log-probs the engine returns for the
// tokens it sampled equal those the log-prob graph computes for the same
// sequences, and prefill runs once per prompt batch whatever G is.
func TestSampledLogProbsMatchGraph(t *testing.T) {
	for _, dec := range []string{model.GraphDecode, model.GraphDecodeStatic} {
		t.Run(dec, func(t *testing.T) { logProbParity(t, dec) })
	}
}

func logProbParity(t *testing.T, decodeGraph string) {
	rt := openRuntime(t)
	const T = 0.8
	p := tinyPolicy(t, rt, T, model.GraphVision, model.GraphPrefill, decodeGraph, model.GraphLogProb)
	c := p.Config
	ctx := context.Background()
	prompts := testPrompts(c)
	const G = 4
	e := NewEngine(p, c, nil, c.BosTokenID)
	out, st, err := e.Generate(ctx, prompts, G, Sampling{Temperature: T, TopP: 1, MaxNewTokens: 6}, 42)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Runs(model.GraphPrefill); got != 1 || st.PrefillRows != len(prompts) {
		t.Fatalf("prefill ran %d times over %d rows for %d prompts x G=%d", got, st.PrefillRows, len(prompts), G)
	}
	if got := p.Runs(model.GraphVision); got != 2 {
		t.Fatalf("vision ran %d times, want once per prompt with video (2)", got)
	}
	// Score the sampled sequences with the log-prob graph.
	var grids []model.Grid
	var vids []model.VisionInput
	videoIdx := make([][]int, len(prompts))
	for i, pr := range prompts {
		for _, v := range pr.Videos {
			videoIdx[i] = append(videoIdx[i], len(grids))
			grids = append(grids, v.Grid)
			vids = append(vids, v)
		}
	}
	// One vision run per frame size, as the engine does.
	embA, err := p.Encode(ctx, mustVB(t, c, vids[:1]))
	if err != nil {
		t.Fatal(err)
	}
	embB, err := p.Encode(ctx, mustVB(t, c, vids[1:]))
	if err != nil {
		t.Fatal(err)
	}
	emb, err := concatRows(embA, embB)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]model.Row, len(out))
	for r, s := range out {
		rows[r] = model.Row{Prompt: prompts[s.Prompt].IDs, Response: s.Tokens, Videos: videoIdx[s.Prompt]}
	}
	sb, err := c.NewSeqBatch(rows, c.NewVideos(grids), c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	lp, _, err := p.LogProbs(ctx, sb, emb)
	if err != nil {
		t.Fatal(err)
	}
	worst, n := 0.0, 0
	for r, s := range out {
		for k, v := range s.LogProbs {
			worst = math.Max(worst, math.Abs(v-lp[r*sb.R+k]))
			n++
		}
	}
	if worst >= 1e-4 {
		t.Fatalf("sampling log-probs differ from the log-prob graph by %g", worst)
	}
	t.Logf("%d tokens, max |diff| %.2g", n, worst)
}

func mustVB(t testing.TB, c model.Config, v []model.VisionInput) *model.VisionBatch {
	t.Helper()
	vb, err := c.NewVisionBatch(v)
	if err != nil {
		t.Fatal(err)
	}
	return vb
}

// TestGenerateChunks: rolling the prompts out in chunks draws the same
// samples as one batch (each row keeps its random stream and its prompt
// index), with one prefill per chunk and the statistics summed.
func TestGenerateChunks(t *testing.T) {
	rt := openRuntime(t)
	p := tinyPolicy(t, rt, 1, model.GraphVision, model.GraphPrefill, model.GraphDecodeStatic)
	c := p.Config
	ctx := context.Background()
	prompts := testPrompts(c)
	const G = 3
	s := Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 5}
	e := NewEngine(p, c, nil, c.BosTokenID)
	want, wst, err := e.Generate(ctx, prompts, G, s, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 2} {
		before := p.Runs(model.GraphPrefill)
		got, st, err := e.GenerateChunks(ctx, prompts, G, s, 7, chunk)
		if err != nil {
			t.Fatal(err)
		}
		if runs, chunks := p.Runs(model.GraphPrefill)-before, (len(prompts)+chunk-1)/chunk; runs != chunks || st.PrefillRows != len(prompts) || st.Rows != wst.Rows || st.Prompts != len(prompts) {
			t.Fatalf("chunk %d: %d prefills (want %d), stats %+v", chunk, runs, chunks, st)
		}
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %d samples, want %d", chunk, len(got), len(want))
		}
		for i := range want {
			a, b := want[i], got[i]
			if a.Prompt != b.Prompt || a.Row != b.Row || !slices.Equal(a.Tokens, b.Tokens) {
				t.Fatalf("chunk %d, sample %d: prompt %d row %d tokens %v, want prompt %d row %d tokens %v", chunk, i, b.Prompt, b.Row, b.Tokens, a.Prompt, a.Row, a.Tokens)
			}
			for k := range a.LogProbs {
				if d := math.Abs(a.LogProbs[k] - b.LogProbs[k]); d > 1e-4 {
					t.Fatalf("chunk %d, sample %d: log-prob %d differs by %g", chunk, i, k, d)
				}
			}
		}
	}
}
