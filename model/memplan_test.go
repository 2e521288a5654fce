package model

import (
	"errors"
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

func TestPlanMemory(t *testing.T) {
	c := microConfig()
	// Hand-computed with H=8, I=16, L=2, heads=2, kv=1x4, V=32, P=2164.
	// Per-layer activation values a = 7*8 + 4*4 + 4*16 + 2*2*T.
	tests := []struct {
		name                               string
		in                                 PlanInput
		weights, kv, act, grad, opt, total int64
		largest                            string
	}{
		{
			name: "full bf16, micro-batch 2",
			in:   PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, WeightBytes: 2, Trainable: 2164},
			// kv 6*8*2*2*4*2; a=168, per token 3*168+16=520: 2*8*520*2 + logits 2*3*32*2*4.
			weights: 4328, kv: 1536, act: 16640 + 1536, grad: 8656, opt: 17312,
			total: 4328 + 8656 + 17312 + 18176, largest: "activations",
		},
		{
			name: "full bf16, recompute",
			in:   PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, WeightBytes: 2, Trainable: 2164, Recompute: true},
			// per token 2*8 + 2*168 + 16 = 368: 2*8*368*2 + 1536.
			weights: 4328, kv: 1536, act: 11776 + 1536, grad: 8656, opt: 17312,
			total: 4328 + 8656 + 17312 + 13312, largest: "optimizer",
		},
		{
			name: "f32 adapters with reference copy, whole batch",
			in:   PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, Trainable: 100, Recompute: true, Reference: true},
			// WeightBytes 0 = 4; micro-batch 0 = 6 rows: 6*8*368*4 + 6*3*32*8.
			weights: 2 * 2164 * 4, kv: 3072, act: 70656 + 4608, grad: 400, opt: 800,
			total: 17312 + 400 + 800 + 75264, largest: "activations",
		},
		{
			name: "f32 adapters on a bf16 base",
			in:   PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, FrozenWeightBytes: 2, Trainable: 100, Recompute: true},
			// 100 trainable x 4 + 2064 frozen x 2.
			weights: 400 + 4128, kv: 3072, act: 70656 + 4608, grad: 400, opt: 800,
			total: 4528 + 400 + 800 + 75264, largest: "activations",
		},
		{
			name: "rolled out 2 prompts at a time",
			in:   PlanInput{Batch: 64, Group: 8, ChunkPrompts: 2, PromptLen: 5, ResponseLen: 3, MicroBatch: 1, WeightBytes: 2},
			// kv 16*8*2*2*4*2; act 1*8*520*2 + 1*3*32*8.
			weights: 4328, kv: 4096, act: 8320 + 768, grad: 0, opt: 0,
			total: 4328 + 9088, largest: "activations",
		},
		{
			name: "long rollout, kv cache dominates",
			in:   PlanInput{Batch: 64, Group: 8, PromptLen: 5, ResponseLen: 3, MicroBatch: 1, WeightBytes: 2},
			// kv 512*8*2*2*4*2; act 1*8*520*2 + 1*3*32*8.
			weights: 4328, kv: 131072, act: 8320 + 768, grad: 0, opt: 0,
			total: 4328 + 131072, largest: "kv cache",
		},
		{
			name:    "micro-batch larger than the batch is clamped",
			in:      PlanInput{Batch: 1, Group: 1, PromptLen: 5, ResponseLen: 3, MicroBatch: 99, WeightBytes: 2},
			weights: 4328, kv: 256, act: 8320 + 768, total: 4328 + 9088, largest: "activations",
		},
		{
			name:    "negative sizes count as zero",
			in:      PlanInput{Batch: -1, Group: 3, PromptLen: -5, ResponseLen: 3, WeightBytes: 4, Trainable: -7},
			weights: 8656, total: 8656, largest: "weights",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := PlanMemory(c, tc.in)
			got := []int64{m.Weights, m.KVCache, m.Activations, m.Gradients, m.Optimizer, m.Total}
			want := []int64{tc.weights, tc.kv, tc.act, tc.grad, tc.opt, tc.total}
			names := []string{"weights", "kv", "activations", "gradients", "optimizer", "total"}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s = %d, want %d", names[i], got[i], want[i])
				}
			}
			if name, _ := m.Largest(); name != tc.largest {
				t.Errorf("Largest = %s, want %s", name, tc.largest)
			}
			if len(m.Lines) != 6 || !strings.HasPrefix(m.Lines[5], "total") || !strings.Contains(m.Lines[5], FormatBytes(m.Total)) {
				t.Errorf("lines = %q", m.Lines)
			}
			if err := m.Check(m.Total); err != nil {
				t.Errorf("Check(total) = %v", err)
			}
			err := m.Check(m.Total - 1)
			if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "largest item is the "+tc.largest) {
				t.Errorf("Check(total-1) = %v, want ErrOutOfMemory naming %s", err, tc.largest)
			}
		})
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
		if m.Optimizer != 8*store.NumParams() || m.Gradients != 4*store.NumParams() {
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
	if !strings.Contains(m.Lines[0], "frozen x 2 B") {
		t.Fatalf("weights line %q", m.Lines[0])
	}
}

func TestCheckMessage(t *testing.T) {
	m := PlanMemory(microConfig(), PlanInput{Batch: 2, Group: 3, PromptLen: 5, ResponseLen: 3, MicroBatch: 2, WeightBytes: 2, Trainable: 2164})
	err := m.Check(0)
	for _, want := range []string{"needs 47.34 KiB", "0 B is available", "grpo.micro_batch_rows"} {
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
