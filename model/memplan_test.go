package model

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// microConfig is a Qwen2-VL config small enough to count its parameters by
// hand: 2164 in all (see TestPlanMemoryMicroParams).
func microConfig() Config {
	return Config{
		Architectures: []string{"Qwen2VLForConditionalGeneration"}, ModelType: "qwen2_vl",
		VocabSize: 32, HiddenSize: 8, IntermediateSize: 16, NumHiddenLayers: 2,
		NumAttentionHeads: 2, NumKeyValueHeads: 1, HiddenAct: "silu", MaxPositionEmbeddings: 64,
		RMSNormEps: 1e-6, RopeTheta: 1e4, RopeScaling: RopeScaling{Type: "mrope", MropeSection: []int{0, 1, 1}},
		TieWordEmbeddings: true, EosTokenID: 2, VisionStartTokenID: 3, VideoTokenID: 7,
		VisionConfig: VisionConfig{Depth: 1, EmbedDim: 4, HiddenSize: 8, MLPRatio: 2, NumHeads: 1,
			HiddenAct: "quick_gelu", InChans: 3, PatchSize: 2, SpatialMergeSize: 2, TemporalPatchSize: 2},
	}
}

func TestPlanMemoryMicroParams(t *testing.T) {
	c := microConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// By hand: patch embed 4*3*2*2*2 = 96; vision block 8+8+60+20+40+36 = 172;
	// merger 8+272+136 = 416; embed 32*8 = 256; decoder layer
	// 8+72+36+36+64+8+128+128+128 = 608, two of them; final norm 8.
	const want = 96 + 172 + 416 + 256 + 2*608 + 8
	if got := c.NumParams(); got != want {
		t.Fatalf("NumParams = %d, want %d", got, want)
	}
}

// TestPlanMemoryItems checks the byte items of the plan by hand on the
// micro config (H=8, I=16, L=2, heads=2, kv=1x4, V=32, 2164 params, one
// vision block of width 4 with MLP 8).
func TestPlanMemoryItems(t *testing.T) {
	c := microConfig()
	in := PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 3, WeightBytes: 4, Trainable: 2164,
		Reference: true, RefPass: true, SFTRows: 2, VisionPatches: 8, SlicePatches: 4, PromptCache: 1000}
	m := PlanMemory(c, in)
	const seq = 8
	// Full fine-tuning with the reference copy.
	if want := int64(2 * 2164 * 4); m.Weights != want {
		t.Errorf("weights %d, want %d", m.Weights, want)
	}
	if want := int64(2 * 2164 * 4); m.Gradients != want || m.Optimizer != want {
		t.Errorf("gradients %d, optimizer %d, want %d each", m.Gradients, m.Optimizer, want)
	}
	// 6 rows x 8 slots x 2 layers x K,V x 4 x 4 B.
	if want := int64(6 * seq * 2 * 2 * 4 * 4); m.KVCache != want {
		t.Errorf("kv cache %d, want %d", m.KVCache, want)
	}
	// Cache + bias 12 x 3 rows x 8^2 + the patches of the micro-batch's
	// one prompt (3 rows of G=3): 8 patches x 24 values x 4 B.
	if want := int64(1000 + 12*3*seq*seq + 8*24*4); m.Inputs != want {
		t.Errorf("inputs %d, want %d", m.Inputs, want)
	}
	goLive := m.Weights + m.Gradients + m.Optimizer + 2*m.KVCache + m.Inputs
	if m.GCHeadroom != goLive {
		t.Errorf("gc headroom %d, want the live Go data %d", m.GCHeadroom, goLive)
	}
	if want := int64(12<<20 + 5632*(730+720*2+466*1)); m.Sessions != want {
		t.Errorf("sessions %d, want %d", m.Sessions, want)
	}
	if want := int64(64 << 20); m.Runtime != want {
		t.Errorf("runtime %d, want %d", m.Runtime, want)
	}
	sum := m.Runtime + m.Sessions + goLive + m.GCHeadroom + m.TrainArenas + m.RolloutArenas
	if m.Total != sum || m.Host != sum || m.Device != 0 {
		t.Errorf("total %d host %d device %d, want the sum %d on the host", m.Total, m.Host, m.Device, sum)
	}
	if n := len(m.Lines); n != 12 || !strings.HasPrefix(m.Lines[n-1], "total") || !strings.Contains(m.Lines[n-1], FormatBytes(m.Total)) {
		t.Errorf("lines = %q", m.Lines)
	}
	// Rolled out two prompts at a time: the cache shrinks, nothing else
	// that lives in Go memory does.
	in.Batch, in.ChunkPrompts = 8, 2
	if m2 := PlanMemory(c, in); m2.KVCache != 6*seq*2*2*4*4 {
		t.Errorf("chunked kv cache %d", m2.KVCache)
	}
}

// TestPlanMemoryActivations checks one training run's peak on the micro
// config against the formula worked by hand.
func TestPlanMemoryActivations(t *testing.T) {
	c := microConfig()
	in := PlanInput{Batch: 1, Group: 2, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, WeightBytes: 4, Trainable: 2164, VisionPatches: 8, SlicePatches: 4}
	// R=2 rows of T=8 tokens, N=16.
	layer := 2.0*8 + 5.4*4 + 6.5*16 + 2.1*2*8
	text := 16*2*layer + 23.7*16*8 + 3.6*2*3*32
	vision := 8 * (1*(12.6*4+6.5*8+2.1*1*4) + 5.1*4)
	want := int64(math.Ceil((text + vision + 1.2*2164) * 4))
	if m := PlanMemory(c, in); m.Activations != want {
		t.Errorf("activations %d, want %d", m.Activations, want)
	}
	// Recomputation keeps each layer's input and about one layer.
	in.Recompute = true
	text = 16*2*1.1*8 + 1.1*16*layer + 23.7*16*8 + 3.6*2*3*32
	vision = 8 * (1*1.1*4 + 1.1*(12.6*4+6.5*8+2.1*1*4) + 5.1*4)
	want = int64(math.Ceil((text + vision + 1.2*2164) * 4))
	m := PlanMemory(c, in)
	if m.Activations != want {
		t.Errorf("recomputed activations %d, want %d", m.Activations, want)
	}
	// The arenas hold twice each graph's peak less its gradient outputs:
	// here the GRPO step only.
	if want := 2*m.Activations - 2164*4; m.TrainArenas < want-1 || m.TrainArenas > want {
		t.Errorf("train arenas %d, want 2 x %d - %d", m.TrainArenas, m.Activations, 2164*4)
	}
	// A warm-up and a reference pass add their graphs' arenas.
	in.SFTRows, in.RefPass = 2, true
	if m2 := PlanMemory(c, in); m2.TrainArenas <= m.TrainArenas+2*m.Activations/2 {
		t.Errorf("train arenas %d with warm-up and reference pass, %d without", m2.TrainArenas, m.TrainArenas)
	}
}

// TestActivationModelMatchesMeasurements: the fitted model reproduces the
// measured peaks of one training-graph run it was fitted to (and a few
// LoRA and recomputation runs), within 15%. The measurements are the
// resident-set rise of TestMemMeasureChild (rows x prompt tokens + 12
// response tokens, 8 videos of 8 slices x 16 patches; 2-core VM,
// ONNX Runtime 1.24.3, 2026-12-06), in MiB.
func TestActivationModelMatchesMeasurements(t *testing.T) {
	type shape struct{ L, H, I, heads, kv, V, rows, prompts, prompt, resp, vdim, vdepth, lora, bf16 int }
	def := shape{L: 3, H: 128, I: 384, heads: 4, kv: 2, V: 1024, rows: 16, prompts: 8, prompt: 160, resp: 12, vdim: 64, vdepth: 2}
	with := func(f func(*shape)) shape { s := def; f(&s); return s }
	for _, tc := range []struct {
		s         shape
		recompute bool
		mib       float64
	}{
		{def, false, 197.5},
		{with(func(s *shape) { s.prompt = 320 }), false, 443.3},
		{with(func(s *shape) { s.prompt = 90 }), false, 120.6},
		{with(func(s *shape) { s.L = 6 }), false, 346.5},
		{with(func(s *shape) { s.L = 9 }), false, 484.7},
		{with(func(s *shape) { s.I = 1536 }), false, 452.5},
		{with(func(s *shape) { s.H, s.heads = 256, 8 }), false, 308.2},
		{with(func(s *shape) { s.H, s.heads, s.kv = 256, 8, 8 }), false, 328.4},
		{with(func(s *shape) { s.V = 16384 }), false, 252.8},
		{with(func(s *shape) { s.resp = 48 }), false, 248.4},
		{with(func(s *shape) { s.vdim, s.vdepth = 256, 4 }), false, 320.5},
		{with(func(s *shape) { s.prompts = 16 }), false, 214.3},
		{with(func(s *shape) { s.rows, s.prompt = 4, 600 }), false, 283.4},
		{with(func(s *shape) { s.H, s.I, s.heads = 512, 1024, 8 }), false, 542.1},
		{with(func(s *shape) { s.H, s.I, s.heads, s.L, s.rows = 512, 1024, 8, 6, 8 }), false, 518.9},
		{def, true, 112.7},
		{with(func(s *shape) { s.L = 6 }), true, 117.2},
		{with(func(s *shape) { s.prompt = 320 }), true, 231.7},
		{with(func(s *shape) { s.lora = 8 }), false, 165.6},
		{with(func(s *shape) { s.lora, s.bf16 = 8, 1 }), false, 165.4},
		{with(func(s *shape) { s.H, s.I, s.heads, s.lora, s.bf16 = 512, 1024, 8, 8, 1 }), false, 431.5},
		{with(func(s *shape) { s.H, s.I, s.heads, s.lora, s.bf16 = 512, 1024, 8, 8, 1 }), true, 296.2},
		{with(func(s *shape) { s.H, s.I, s.heads, s.lora, s.bf16, s.V = 512, 1024, 8, 8, 1, 16384 }), false, 496.4},
		{with(func(s *shape) { s.H, s.I, s.heads, s.lora, s.bf16, s.L = 512, 1024, 8, 8, 1, 6 }), false, 804.2},
		{with(func(s *shape) { s.H, s.I, s.heads, s.lora, s.bf16, s.L = 512, 1024, 8, 8, 1, 6 }), true, 337.7},
		{with(func(s *shape) {
			s.rows, s.prompts, s.prompt, s.H, s.I, s.heads, s.L, s.V = 32, 4, 210, 512, 1536, 8, 6, 32768
		}), true, 1200.2},
		{with(func(s *shape) {
			s.rows, s.prompts, s.prompt, s.H, s.I, s.heads, s.L, s.V = 8, 4, 210, 512, 1536, 8, 6, 32768
		}), true, 480.8},
		// One short row: the weights dominate (61.8M parameters).
		{with(func(s *shape) {
			s.rows, s.prompts, s.prompt, s.H, s.I, s.heads, s.kv, s.L = 1, 1, 48, 1024, 4096, 16, 4, 4
		}), false, 317.5},
		{with(func(s *shape) {
			s.rows, s.prompts, s.prompt, s.H, s.I, s.heads, s.kv, s.L, s.lora = 1, 1, 48, 1024, 4096, 16, 4, 4, 8
		}), false, 41.0},
		{with(func(s *shape) {
			s.rows, s.prompts, s.prompt, s.H, s.I, s.heads, s.kv, s.L, s.lora, s.bf16 = 1, 1, 48, 1024, 4096, 16, 4, 4, 8, 1
		}), false, 80.0},
	} {
		s := tc.s
		c := Tiny(s.V, TinyTokens{0, 1, 2, 3, 4, 5, 6, 7})
		c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize, c.NumAttentionHeads, c.NumKeyValueHeads = s.L, s.H, s.I, s.heads, s.kv
		c.VisionConfig.HiddenSize, c.VisionConfig.EmbedDim, c.VisionConfig.Depth = s.H, s.vdim, s.vdepth
		trainable := int64(c.NumParams())
		if s.lora > 0 {
			c = withLoRA(c, "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
			c.LoRA.Rank = s.lora
			trainable = 0
			for _, sp := range c.TrainableSpecs() {
				trainable += int64(sp.Size())
			}
		}
		// One micro-batch of all rows over the 8 (or 16) videos.
		in := PlanInput{Batch: 1, Group: s.rows, MicroBatch: s.rows, PromptLen: s.prompt, ResponseLen: s.resp, WeightBytes: 4,
			Trainable: trainable, Recompute: tc.recompute, VisionPatches: s.prompts * 128, SlicePatches: 16}
		if s.bf16 == 1 {
			in.FrozenWeightBytes = 2
		}
		got := float64(PlanMemory(c, in).Activations) / (1 << 20)
		if os.Getenv("VIDEOSSR_MEMPLAN_RATIOS") != "" {
			fmt.Printf("ratio %.3f %+v rc=%v\n", got/tc.mib, s, tc.recompute)
		}
		if r := got / tc.mib; r < 0.85 || r > 1.15 {
			t.Errorf("%+v recompute %v: planned %.1f MiB, measured %.1f MiB (%.2fx)", s, tc.recompute, got, tc.mib, r)
		}
	}
}

// TestPlanMemoryDevices: a CUDA plan compares the device's share (the
// arenas, the fed weights, the context allowance) and keeps the Go memory
// on the host; the resident path moves the weights' copy, the cache, the
// gradients and the moments to the device.
func TestPlanMemoryDevices(t *testing.T) {
	c := microConfig()
	in := PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 3, Trainable: 2164, VisionPatches: 8, SlicePatches: 4}
	cpu := PlanMemory(c, in)
	in.CUDA = true
	cuda := PlanMemory(c, in)
	if cuda.Total != cuda.Device || cuda.Device != 1<<30+cuda.TrainArenas+cuda.RolloutArenas+4*2164*4 {
		t.Errorf("cuda device %d (total %d), want the context, arenas and 4 graphs' fed weights", cuda.Device, cuda.Total)
	}
	if cuda.Host != cpu.Total-cpu.TrainArenas-cpu.RolloutArenas {
		t.Errorf("cuda host %d, want the cpu plan %d less the arenas", cuda.Host, cpu.Total)
	}
	in.Resident = true
	res := PlanMemory(c, in)
	if res.Weights != 2*cpu.Weights {
		t.Errorf("resident weights %d, want host and device copies of %d", res.Weights, cpu.Weights)
	}
	if want := 1<<30 + res.TrainArenas + res.RolloutArenas + cpu.Weights + res.KVCache + res.Gradients + res.Optimizer; res.Device != want {
		t.Errorf("resident device %d, want %d", res.Device, want)
	}
	if res.GCHeadroom >= cpu.GCHeadroom {
		t.Errorf("resident Go heap headroom %d not below the host path's %d", res.GCHeadroom, cpu.GCHeadroom)
	}
	if !strings.Contains(strings.Join(cuda.Lines, "\n"), "not measured") {
		t.Errorf("cuda lines do not say the device model is not measured: %q", cuda.Lines)
	}
}

func TestPlanMemoryTinyWeights(t *testing.T) {
	c := Tiny(1024, TinyTokens{0, 1, 2, 3, 4, 5, 6, 7})
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, wb := range []int{2, 4} {
		m := PlanMemory(c, PlanInput{WeightBytes: wb, Trainable: store.NumParams()})
		if m.Weights != store.NumParams()*int64(wb) {
			t.Errorf("weights %d B at %d B each, want %d params from InitParams", m.Weights, wb, store.NumParams())
		}
		if m.Optimizer != 8*store.NumParams() || m.Gradients != 8*store.NumParams() {
			t.Errorf("optimizer %d / gradients %d for %d params", m.Optimizer, m.Gradients, store.NumParams())
		}
	}
}

// TestPlanMemoryHalfBase: the planned weights of a LoRA model with a BF16
// base are the bytes its store really takes.
func TestPlanMemoryHalfBase(t *testing.T) {
	c := withLoRA(Tiny(1024, TinyTokens{0, 1, 2, 3, 4, 5, 6, 7}), "q_proj", "v_proj")
	c.LoRA.BaseDType = "BF16"
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.HoldBase(store); err != nil {
		t.Fatal(err)
	}
	var trainable int64
	for _, s := range c.TrainableSpecs() {
		trainable += int64(s.Size())
	}
	m := PlanMemory(c, PlanInput{WeightBytes: 4, FrozenWeightBytes: 2, Trainable: trainable})
	if m.Weights != store.Bytes() {
		t.Fatalf("planned weights %d B, the store takes %d B", m.Weights, store.Bytes())
	}
	if !strings.Contains(m.Lines[2], "frozen x 2 B") {
		t.Fatalf("weights line %q", m.Lines[2])
	}
}

func TestCheckMessage(t *testing.T) {
	m := PlanMemory(microConfig(), PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, WeightBytes: 2, Trainable: 2164})
	err := m.Check(0)
	for _, want := range []string{"needs " + FormatBytes(m.Total), "0 B is available", "largest item is the activations", "grpo.micro_batch_rows"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(0) = %v, want it to contain %q", err, want)
		}
	}
	if err := m.Check(-5); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("Check(-5) = %v", err)
	}
	// The advice follows what the run already does.
	for _, tc := range []struct {
		in         PlanInput
		want, lack string
	}{
		{PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, Trainable: 2164}, "turn on activation recomputation", "already on"},
		{PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, Trainable: 2164, Recompute: true}, "already on", "turn on"},
		{PlanInput{Trainable: 10}, "model.lora.base_dtype", "already held"},
		{PlanInput{Trainable: 10, FrozenWeightBytes: 2}, "already held in 16 bits", "model.lora.base_dtype"},
	} {
		err := PlanMemory(microConfig(), tc.in).Check(0)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.lack) {
			t.Errorf("%+v: %v, want %q and not %q", tc.in, err, tc.want, tc.lack)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.00 KiB"}, {1536, "1.50 KiB"},
		{5 << 20, "5.00 MiB"}, {3 << 30, "3.00 GiB"}, {141 << 30, "141.00 GiB"},
		{2 << 40, "2.00 TiB"}, {5000 << 40, "5000.00 TiB"}, {-2048, "-2.00 KiB"},
	} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
