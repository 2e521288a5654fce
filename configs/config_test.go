package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadDefault(t *testing.T) {
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.Preset != "tiny" || c.GRPO.GroupSize != 8 || c.GRPO.KLType != "k3" || c.Data.Sampling.Frames != 16 {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestEveryEmbeddedConfigLoads(t *testing.T) {
	for _, name := range EmbeddedNames() {
		if name == "default.yaml" {
			continue
		}
		sets := []string(nil)
		if name == "videossr-qwen3vl8b.yaml" {
			sets = []string{"model.path=/models/qwen3-vl-8b"}
		}
		if _, err := Load([]string{name}, sets); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestPaperConfig(t *testing.T) {
	c, err := Load([]string{"videossr-qwen3vl8b.yaml"}, []string{"model.path=/m"})
	if err != nil {
		t.Fatal(err)
	}
	g := c.GRPO
	if g.Optim.LR != 1e-6 || g.BatchPrompts != 64 || g.GroupSize != 8 || g.KLCoef != 1e-3 || g.KLType != "k3" ||
		g.LossAgg != "token-mean" || g.PPOEpochs != 1 || g.MiniBatches != 1 || g.Optim.WeightDecay != 0.01 ||
		g.Optim.GradClip != 1 || g.Optim.Schedule != "constant" || !g.NormAdvByStd || g.AdvEps != 1e-6 ||
		g.EntropyCoef != 0 || c.Rollout.Temperature != 1 || c.Data.Sampling.Frames != 48 {
		t.Errorf("paper hyper-parameters not reproduced: %+v", g)
	}
}

func TestOverridesAndErrors(t *testing.T) {
	c, err := Load(nil, []string{"grpo.group_size=4", "data.reward=strict", "rollout.stop=[\"\\n\"]"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPO.GroupSize != 4 || c.Data.Reward != "strict" || len(c.Rollout.Stop) != 1 {
		t.Errorf("overrides not applied: %+v %+v", c.GRPO, c.Rollout)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		files []string
		sets  []string
		want  string
	}{
		{sets: []string{"grpo.groupsize=4"}, want: "grpo.groupsize"},
		{files: []string{write("unknown.yaml", "grpo:\n  learning_rate: 1\n")}, want: "grpo.learning_rate"},
		{sets: []string{"grpo.kl_type=k9"}, want: "grpo.kl_type"},
		{sets: []string{"grpo.group_size=abc"}, want: "group_size"},
		{sets: []string{"data.mix.video_qa=1"}, want: "data.mix.video_qa"},
		{sets: []string{"data.jigsaw.clips=12"}, want: "jigsaw.clips"},
		{sets: []string{"device.provider=tpu"}, want: "device.provider"},
		{files: []string{write("bad.yaml", "grpo: [1, 2\n")}, want: "bad.yaml"},
		{files: []string{filepath.Join(dir, "missing.yaml")}, want: "missing.yaml"},
		{sets: []string{"noequals"}, want: "key=value"},
		{sets: []string{"model.lora.base_dtype=fp8"}, want: "model.lora.base_dtype"},
		{sets: []string{"model.lora.base_dtype=bfloat16"}, want: "needs model.lora.rank > 0"},
	}
	for _, c := range cases {
		_, err := Load(c.files, c.sets)
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%v, %v) = %v, want an error naming %q", c.files, c.sets, err, c.want)
		}
	}
}

func TestYAMLRoundTrip(t *testing.T) {
	c, err := Load(nil, []string{"grpo.steps=7"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "resolved.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c2, err := Load([]string{p}, nil)
	if err != nil {
		t.Fatalf("resolved config does not load back: %v", err)
	}
	if c2.GRPO.Steps != 7 {
		t.Errorf("steps %d", c2.GRPO.Steps)
	}
}
