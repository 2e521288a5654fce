package model

import (
	"context"
	"fmt"
	"github.com/videossr/videossr-go/model/onnx"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

// memMeasureEnv holds the spec of a TestMemMeasureChild run:
// comma-separated key=value pairs. graph is train_grpo (default),
// train_sft, logprob, prefill, vision or sessions; the shape keys are L,
// H, I, heads, kv (KV heads), V, vdim and vdepth (vision width and
// blocks), rows, prompts (videos of 8 slices x 16 patches), prompt and
// resp (tokens), lora (rank, on every projection), bf16=1 (the LoRA base
// in BF16), rc=1 (recomputation) and runs (runs of the same shape).
const memMeasureEnv = "VIDEOSSR_MEMMEASURE"

// TestMemMeasureChild measures, in a process of its own, what one graph
// of a Policy adds to the resident set: the session, then the peak rise
// of each of a few runs over one batch shape (clear_refs resets VmHWM
// before each) and the resident size after it. It prints mem-result
// lines, in MiB; the memory plan's coefficients were fitted to them
// (model.PlanMemory). For example
//
//	VIDEOSSR_MEMMEASURE=graph=train_grpo,rows=16,L=6,runs=2 go test ./model -run '^TestMemMeasureChild$' -v
func TestMemMeasureChild(t *testing.T) {
	spec := os.Getenv(memMeasureEnv)
	if spec == "" {
		t.Skip("run with " + memMeasureEnv)
	}
	kv := map[string]string{}
	for _, f := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	num := func(k string, def int) int {
		if s, ok := kv[k]; ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		return def
	}
	c := Tiny(num("V", 1024), testTokens())
	c.NumHiddenLayers = num("L", 3)
	c.HiddenSize = num("H", 128)
	c.IntermediateSize = num("I", 384)
	c.NumAttentionHeads = num("heads", 4)
	c.NumKeyValueHeads = num("kv", 2)
	c.VisionConfig.HiddenSize = c.HiddenSize
	c.VisionConfig.EmbedDim = num("vdim", 64)
	c.VisionConfig.Depth = num("vdepth", 2)
	if hd := c.HiddenSize / c.NumAttentionHeads; hd != 32 {
		c.RopeScaling.MropeSection = []int{hd / 2 / 4, hd / 2 * 3 / 8, hd/2 - hd/2/4 - hd/2*3/8}
	}
	graph := kv["graph"]
	if graph == "" {
		graph = GraphGRPO
	}
	if graph == "sessions" {
		measureSessions(t, c)
		return
	}
	rows, nPrompts, prompt, resp, runs := num("rows", 64), num("prompts", 8), num("prompt", 160), num("resp", 12), num("runs", 3)

	rss := func() float64 { return procStatus(t, "VmRSS") / 1024 }
	hwm := func() float64 { return procStatus(t, "VmHWM") / 1024 }
	rt := openRuntime(t)
	base := resetPeakRSS(t) / 1024
	printMem("base", base)
	graphs := []string{graph}
	if graph == GraphLogProb || graph == GraphPrefill {
		graphs = append(graphs, GraphVision)
	}
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	if r := num("lora", 0); r > 0 {
		c.LoRA = &LoRAConfig{Rank: r, Alpha: 16, TargetModules: []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, BaseDType: "F32"}
		if num("bf16", 0) == 1 {
			c.LoRA.BaseDType = "BF16"
		}
		if err := c.HoldBase(store); err != nil {
			t.Fatal(err)
		}
		if err := c.AddLoRA(store, 1); err != nil {
			t.Fatal(err)
		}
	}
	loss := DefaultGRPOLoss()
	loss.Recompute = num("rc", 0) == 1
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: graphs, Loss: loss})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	printMem("session", rss()-base)

	grid := Grid{GT: 8, GH: 4, GW: 4}
	grids := make([]Grid, nPrompts)
	for i := range grids {
		grids[i] = grid
	}
	vs := c.NewVideos(grids)
	rng := rand.New(rand.NewPCG(1, 2))
	toks := func(n int) []int {
		s := make([]int, max(n, 0))
		for i := range s {
			s[i] = 9 + rng.IntN(c.VocabSize-9)
		}
		return s
	}
	vt := grid.Tokens(c.VisionConfig.SpatialMergeSize)
	var vin []VisionInput
	for range nPrompts {
		pd := make([]float32, grid.GT*grid.PatchesPerSlice()*c.PatchDim())
		for i := range pd {
			pd[i] = float32(rng.NormFloat64())
		}
		vin = append(vin, VisionInput{Grid: grid, Patches: pd})
	}
	vb, err := c.NewVisionBatch(vin)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run := func() {
		switch graph {
		case GraphGRPO, GraphSFT:
			rs := make([]Row, rows)
			for i := range rs {
				rs[i] = Row{Prompt: videoPrompt(c, toks(10), toks(prompt-vt-12), grid), Response: toks(resp), Videos: []int{i % nPrompts}}
			}
			sb, err := c.NewSeqBatch(rs, vs, c.BosTokenID)
			if err != nil {
				t.Fatal(err)
			}
			in := StepInputs{Advantages: make([]float64, sb.B), OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
			if _, err := p.TrainStep(ctx, graph, sb, vb, in); err != nil {
				t.Fatal(err)
			}
		case GraphLogProb:
			rs := make([]Row, rows)
			for i := range rs {
				rs[i] = Row{Prompt: videoPrompt(c, toks(10), toks(prompt-vt-12), grid), Response: toks(resp), Videos: []int{i % nPrompts}}
			}
			sb, err := c.NewSeqBatch(rs, vs, c.BosTokenID)
			if err != nil {
				t.Fatal(err)
			}
			emb, err := p.Encode(ctx, vb)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := p.LogProbs(ctx, sb, emb); err != nil {
				t.Fatal(err)
			}
		case GraphPrefill:
			ps := make([][]int, nPrompts)
			vids := make([][]int, nPrompts)
			for i := range ps {
				ps[i] = videoPrompt(c, toks(10), toks(prompt-vt-12), grid)
				vids[i] = []int{i}
			}
			pb, err := c.NewPromptBatch(ps, vids, vs, c.BosTokenID)
			if err != nil {
				t.Fatal(err)
			}
			emb, err := p.Encode(ctx, vb)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := p.Prefill(ctx, pb, emb); err != nil {
				t.Fatal(err)
			}
		case GraphVision:
			if _, err := p.Encode(ctx, vb); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("graph %s not measured", graph)
		}
	}
	for i := range runs {
		before := resetPeakRSS(t) / 1024
		run()
		printMem(fmt.Sprintf("run%d_peak", i), hwm()-before)
		printMem(fmt.Sprintf("run%d_after", i), rss()-base)
	}
	printMem("hwm", hwm())
}

// measureSessions prints the resident size each session of a policy adds
// (garbage collected and returned to the OS before each reading).
func measureSessions(t *testing.T, c Config) {
	rt := openRuntime(t)
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	base := resetPeakRSS(t) / 1024
	printMem("base_with_store", base)
	var ps []*Policy
	defer func() {
		for _, p := range ps {
			p.Close()
		}
	}()
	for _, g := range AllGraphs() {
		before := resetPeakRSS(t) / 1024
		p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: []string{g}})
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		b, err := BuildGraph(c, g, onnx.Float32, DefaultGRPOLoss())
		if err != nil {
			t.Fatal(err)
		}
		printMem(g+"_nodes", float64(b.Graph.NumNodes()))
		printMem(g, resetPeakRSS(t)/1024-before)
	}
	printMem("all", resetPeakRSS(t)/1024-base)
}
