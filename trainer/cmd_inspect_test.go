package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/trainer/metrics"
)

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	// A model folder.
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "model")
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(md, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveJSON(filepath.Join(md, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := store.Save(filepath.Join(md, "model.safetensors"), nil); err != nil {
		t.Fatal(err)
	}
	// As in a LoRA checkpoint: where the frozen base comes from.
	if err := os.WriteFile(filepath.Join(md, "base.json"), []byte(`{"preset":"hf","path":"/models/q","dtype":"BF16","checksum":"0123456789abcdef"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A run directory with a checkpoint and metrics.
	run := filepath.Join(dir, "run")
	ck := filepath.Join(run, "checkpoints", "1-grpo-000002")
	files := map[string]string{
		filepath.Join(run, "config.yaml"):           "seed: 1\n",
		filepath.Join(run, "checkpoints", "latest"): "1-grpo-000002\n",
		filepath.Join(ck, "state.json"):             `{"phase":"grpo","sft_step":5,"grpo_step":2}`,
		filepath.Join(run, "metrics.jsonl"):         `{"step":7,"phase":"grpo","reward/mean":0.25,"zero_var_frac":0.5,"kl":0.01}` + "\n",
		filepath.Join(dir, "rows.jsonl"):            `{"id":"a","data_source":"counting","subtype":"counting","answer":"1,0,2","frames":["f.jpg"],"prompt":[{"role":"user","content":"<video>\nCount."}]}` + "\n",
	}
	for p, s := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := execCmd(t, newInspectCmd(), "", md, run, filepath.Join(dir, "rows.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"model folder, qwen2_vl",
		"963584 parameters in 69 F32 tensors",
		"frozen base (base.json, not in this folder): hf /models/q, held as BF16, checksum 0123456789ab",
		"phase grpo, warm-up step 5, GRPO step 2",
		"last grpo step 7: reward/mean 0.25, zero_var_frac 0.5, kl 0.01",
		"not finished",
		"1 rows",
		`answer "1,0,2"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := execCmd(t, newInspectCmd(), "", dir); err == nil || !strings.Contains(err.Error(), "not a run directory") {
		t.Fatalf("a plain directory: %v", err)
	}
}

func TestInspectRollouts(t *testing.T) {
	run := t.TempDir()
	os.WriteFile(filepath.Join(run, "config.yaml"), []byte("seed: 1\n"), 0o644)
	os.MkdirAll(filepath.Join(run, "checkpoints"), 0o755)
	log := metrics.RolloutLog{RunDir: run, Every: 2}
	p, err := log.Write(4, []metrics.RolloutGroup{{
		SampleID: "s1", DataSource: "jigsaw", Subtype: "jigsaw_6", Prompt: "Clip 1: <video>\nOrder?", Answer: "315264",
		Responses: []metrics.RolloutResponse{
			{Text: "315264", Reward: 1, Advantage: 0.7071, Tokens: 7, Finish: "eos"},
			{Text: "123456\nbecause", Reward: 0.5, Advantage: -0.7071, Tokens: 9, Finish: "length"},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := execCmd(t, newInspectCmd(), "", p, filepath.Join(run, "rollouts"), run)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"rollouts of step 4: 1 prompts, 2 responses, mean reward 0.75",
		`s1 (jigsaw, jigsaw_6): answer "315264"`,
		"prompt: Clip 1: <video> | Order?",
		` 1. reward 1, advantage +0.7071, 7 tokens, eos: "315264"`,
		` 2. reward 0.5, advantage -0.7071, 9 tokens, length: "123456 | because"`,
		"1 rollout logs",
		"rollout logs: 1 (steps 4..4)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
