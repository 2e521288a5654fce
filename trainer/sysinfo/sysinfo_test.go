package sysinfo

import (
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
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
