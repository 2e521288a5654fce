package sysinfo

import (
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/tokenizer"
)

func TestPlanInputLoRA(t *testing.T) {
	cfg, err := configs.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := model.Tiny(1024, model.TinyTokens{EndOfText: 1016, ImStart: 1017, ImEnd: 1018, VisionStart: 1019, VisionEnd: 1020, VisionPad: 1021, ImagePad: 1022, VideoPad: 1023})
	full, _ := PlanInput(cfg, c)
	if full.Trainable != int64(c.NumParams()) || !full.Reference || full.WeightBytes != 4 {
		t.Fatalf("full fine-tuning input %+v", full)
	}
	c.LoRA = &model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: []string{"q_proj"}}
	lora, _ := PlanInput(cfg, c)
	// q_proj is 128x128 in each of 3 layers: A [4,128] + B [128,4] per layer.
	if want := int64(3 * (4*128 + 128*4)); lora.Trainable != want || lora.Reference {
		t.Fatalf("LoRA input trainable %d (want %d), reference %v", lora.Trainable, want, lora.Reference)
	}
}

func TestParseMeminfoAndNvidiaSMI(t *testing.T) {
	total, avail, err := ParseMeminfo(strings.NewReader("MemTotal: 1024 kB\nMemFree: 10 kB\nMemAvailable: 512 kB\n"))
	if err != nil || total != 1024<<10 || avail != 512<<10 {
		t.Fatalf("meminfo %d %d %v", total, avail, err)
	}
	g, err := ParseNvidiaSMI("0, NVIDIA H200, 143771, 143185, 570.1\n")
	if err != nil || len(g) != 1 || g[0].FreeMiB != 143185 || g[0].Name != "NVIDIA H200" {
		t.Fatalf("nvidia-smi %+v %v", g, err)
	}
	if _, err := ParseNvidiaSMI("0, x, y\n"); err == nil {
		t.Fatal("bad line accepted")
	}
}

// TestPromptEstimate: the estimate is the longest prompt of the mix, as
// long as the prompts the data engine really makes. The default run's
// 396 generated training prompts measure counting 148, grounding 126-133
// and jigsaw 162 tokens with the tiny tokenizer (rollout.BuildPrompt over
// their frames).
func TestPromptEstimate(t *testing.T) {
	tok, err := tokenizer.Tiny()
	if err != nil {
		t.Fatal(err)
	}
	c := model.Tiny(tok.VocabSize(), model.TinyTokens{EndOfText: 1016, ImStart: 1017, ImEnd: 1018, VisionStart: 1019, VisionEnd: 1020, VisionPad: 1021, ImagePad: 1022, VideoPad: 1023})
	for _, tc := range []struct {
		mix    map[string]float64
		tokens int
		how    string
	}{
		{map[string]float64{"counting": 1}, 148, "32 vision + 116 text, counting"},
		{map[string]float64{"grounding": 1}, 133, "32 vision + 101 text, grounding"},
		{map[string]float64{"jigsaw": 1}, 162, "32 vision + 130 text, jigsaw"},
		{map[string]float64{"counting": 1, "grounding": 1, "jigsaw": 0}, 148, "32 vision + 116 text, counting"},
	} {
		cfg, err := configs.Load(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Data.Mix = tc.mix
		e := PromptEstimate(cfg, c, tok)
		if e.Tokens != tc.tokens || e.How != tc.how || e.Patches != 128 || e.SlicePatches != 16 {
			t.Errorf("mix %v: %+v, want %d tokens (%s), 128 patches of 16 a slice", tc.mix, e, tc.tokens, tc.how)
		}
	}
	// Without a tokenizer the text counts the allowance.
	cfg, _ := configs.Load(nil, nil)
	if e := PromptEstimate(cfg, c, nil); e.Tokens != 32+PromptTextTokens || !strings.Contains(e.How, "allowance") {
		t.Errorf("no tokenizer: %+v", e)
	}
}
