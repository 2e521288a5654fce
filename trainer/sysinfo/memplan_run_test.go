package sysinfo_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/grpo"
	"github.com/videossr/videossr-go/trainer/sysinfo"
)

// Environment of the memory-plan children: the case to run and the
// folders it uses.
const (
	planCaseEnv = "VIDEOSSR_MEMPLAN_CASE"
	planDirEnv  = "VIDEOSSR_MEMPLAN_DIR"
	// planLargeEnv=1 adds the larger cases (the whole default run and the
	// wider Qwen2.5-VL / Qwen3-VL folders: minutes, several GiB).
	planLargeEnv = "VIDEOSSR_MEMPLAN_LARGE"
	// planSetEnv adds settings to every case (key=value, separated by
	// semicolons), to measure variants by hand.
	planSetEnv = "VIDEOSSR_MEMPLAN_SET"
	// planOnlyEnv=1 logs the cases' plans without running them.
	planOnlyEnv = "VIDEOSSR_MEMPLAN_PLAN_ONLY"
)

// planCase is one run whose peak resident set is compared with its plan.
type planCase struct {
	name string
	// hf writes a Hugging Face folder into a directory (nil: the tiny
	// preset).
	hf    func(t testing.TB, dir string)
	sets  []string
	large bool
}

// shortRun keeps the default run's model and batch shapes (8 prompts x
// G=8 in one 64-row micro-batch, 16-row warm-up micro-batches, 12
// response tokens) with fewer samples and steps, no evaluation and no
// checkpoints. The plan is the peak of a long run, where every graph has
// met its largest shape twice (the arenas' steady state, see
// model.PlanMemory): two PPO epochs repeat each GRPO step's shape, and
// five warm-up steps repeat the warm-up's (the
// longest prompt, a jigsaw one, is in nearly every batch).
var shortRun = []string{
	"data.synthetic_videos=5", "data.heldout_videos=0", "data.use_sample_videos=false", "data.train_samples=48",
	"sft.steps=5", "grpo.steps=2", "grpo.dynamic_sampling=false", "grpo.ppo_epochs=2", "checkpoint.every=0", "eval.before=false",
}

func planCases() []planCase {
	small := []string{"grpo.batch_prompts=4", "grpo.group_size=4", "grpo.micro_batch_rows=16", "sft.batch_size=8"}
	return []planCase{
		{name: "default-short", sets: shortRun},
		{name: "qwen2.5-vl-small", hf: qwen25Folder(256, 4, 8192), sets: append(append([]string{}, shortRun...), small...)},
		{name: "qwen3-vl-small-lora-bf16", hf: qwen3Folder(256, 4, 8192, safetensors.BF16),
			sets: append(append([]string{}, shortRun...), append(small, "model.lora.rank=8", "model.recompute=true")...)},
		{name: "default", large: true, sets: []string{"data.use_sample_videos=false"}},
		{name: "qwen2.5-vl-wide", large: true, hf: qwen25Folder(512, 6, 32768),
			sets: append(append([]string{}, shortRun...), "grpo.batch_prompts=4", "grpo.micro_batch_rows=16")},
		{name: "qwen3-vl-wide", large: true, hf: qwen3Folder(512, 6, 16384, safetensors.F32),
			sets: append(append([]string{}, shortRun...), "grpo.batch_prompts=4", "grpo.micro_batch_rows=16", "model.recompute=true")},
	}
}

// TestMemoryPlanMatchesPeakRSS runs GRPO jobs in child processes, reads
// each one's peak resident set (VmHWM) at its end and checks the memory
// plan of its config (model.PlanMemory over sysinfo.PlanInput, what the
// trainer checks before a run and doctor prints) within 25% of it. The
// small cases run in CI (about 10 s each); VIDEOSSR_MEMPLAN_LARGE=1 adds
// the whole default run and two wider models.
func TestMemoryPlanMatchesPeakRSS(t *testing.T) {
	if os.Getenv(planCaseEnv) != "" {
		t.Skip("child process")
	}
	if testing.Short() {
		t.Skip("runs training jobs in child processes; not with -short")
	}
	needNative(t)
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skipf("needs Linux /proc: %v", err)
	}
	large := os.Getenv(planLargeEnv) == "1"
	data := t.TempDir()
	for _, pc := range planCases() {
		if pc.large && !large {
			continue
		}
		t.Run(pc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := caseConfig(t, pc, dir, data)
			plan, in := planOf(t, cfg)
			if os.Getenv(planOnlyEnv) == "1" {
				t.Logf("%s: plan %s; prompt %d, micro-batch %d\n%s", pc.name, model.FormatBytes(plan.Total), in.PromptLen, in.MicroBatch, strings.Join(plan.Lines, "\n"))
				return
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryPlanChild$", "-test.v")
			cmd.Env = append(os.Environ(), planCaseEnv+"="+pc.name, planDirEnv+"="+dir+string(os.PathListSeparator)+data)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("child: %v\n%s", err, out)
			}
			hwm := childHWM(t, string(out))
			ratio := float64(plan.Total) / float64(hwm)
			t.Logf("%s: measured peak RSS %s, plan %s (%.2fx); prompt %d, micro-batch %d\n%s", pc.name, model.FormatBytes(hwm),
				model.FormatBytes(plan.Total), ratio, in.PromptLen, in.MicroBatch, strings.Join(plan.Lines, "\n"))
			if ratio < 0.75 || ratio > 1.25 {
				t.Errorf("%s: plan %s is %.2fx the measured peak %s, want within 25%%", pc.name, model.FormatBytes(plan.Total), ratio, model.FormatBytes(hwm))
			}
		})
	}
}

// TestMemoryPlanChild is the child of TestMemoryPlanMatchesPeakRSS: it
// runs one case's job and prints its peak resident set.
func TestMemoryPlanChild(t *testing.T) {
	name := os.Getenv(planCaseEnv)
	if name == "" {
		t.Skip("run by TestMemoryPlanMatchesPeakRSS")
	}
	dirs := filepath.SplitList(os.Getenv(planDirEnv))
	if len(dirs) != 2 {
		t.Fatalf("%s=%q: want two folders", planDirEnv, os.Getenv(planDirEnv))
	}
	for _, pc := range planCases() {
		if pc.name != name {
			continue
		}
		cfg := caseConfig(t, pc, dirs[0], dirs[1])
		if _, err := grpo.Run(context.Background(), cfg, grpo.Options{}); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("mem-result hwm_kib %d\n", procStatus(t, "VmHWM"))
		return
	}
	t.Fatalf("no case %q", name)
}

// caseConfig is the config of a case, its run and model folders in dir
// and its data in data (shared by the cases).
func caseConfig(t testing.TB, pc planCase, dir, data string) *configs.Config {
	t.Helper()
	sets := []string{"run_dir=" + filepath.Join(dir, "run"), "data.dir=" + data}
	if pc.hf != nil {
		hf := filepath.Join(dir, "hf")
		if _, err := os.Stat(filepath.Join(hf, "config.json")); err != nil {
			if err := os.MkdirAll(hf, 0o755); err != nil {
				t.Fatal(err)
			}
			pc.hf(t, hf)
		}
		sets = append(sets, "model.preset=hf", "model.path="+hf, "model.tokenizer=")
	}
	sets = append(sets, pc.sets...)
	if extra := os.Getenv(planSetEnv); extra != "" {
		sets = append(sets, strings.Split(extra, ";")...)
	}
	cfg, err := configs.Load(nil, sets)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// planOf is the memory plan the trainer makes for cfg.
func planOf(t testing.TB, cfg *configs.Config) (model.MemoryPlan, model.PlanInput) {
	t.Helper()
	var c model.Config
	var err error
	if cfg.Model.Preset == "hf" {
		c, err = model.LoadJSON(filepath.Join(cfg.Model.Path, "config.json"))
	} else {
		tok, terr := model.LoadTokenizer(cfg.Model.TokenizerName())
		if terr != nil {
			t.Fatal(terr)
		}
		c, err = model.TinyFor(tok)
	}
	if err != nil {
		t.Fatal(err)
	}
	c.LoRA = grpo.PlannedLoRA(cfg, c)
	in, _ := sysinfo.PlanInput(cfg, c)
	return model.PlanMemory(c, in), in
}

// tinyTokens are the tiny tokenizer's special tokens, which a synthetic
// folder's config must name.
func tinyTokens(t testing.TB) (model.TinyTokens, []byte) {
	t.Helper()
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	tj, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return model.TinyTokens{EndOfText: c.BosTokenID, ImEnd: c.EosTokenID, VisionStart: c.VisionStartTokenID, VisionEnd: c.VisionEndTokenID,
		VisionPad: c.VisionTokenID, ImagePad: c.ImageTokenID, VideoPad: c.VideoTokenID}, tj
}

// writeFolder writes c with seeded weights in dtype and the tiny
// tokenizer as a Hugging Face folder.
func writeFolder(t testing.TB, dir string, c model.Config, dtype string) {
	t.Helper()
	tt, tj := tinyTokens(t)
	c.BosTokenID, c.EosTokenID, c.VisionStartTokenID, c.VisionEndTokenID = tt.EndOfText, tt.ImEnd, tt.VisionStart, tt.VisionEnd
	c.VisionTokenID, c.ImageTokenID, c.VideoTokenID = tt.VisionPad, tt.ImagePad, tt.VideoPad
	c.TorchDtype = map[string]string{safetensors.BF16: "bfloat16", safetensors.F32: "float32"}[dtype]
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	store, err := c.InitParams(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SaveJSON(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveAs(filepath.Join(dir, "model.safetensors"), dtype, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		t.Fatal(err)
	}
}

// qwen25Folder is Qwen2.5-VL-3B's architecture (GQA 8:2... window and
// full-attention vision blocks, tied embeddings) at hidden size h, layers
// and vocabulary v.
func qwen25Folder(h, layers, v int) func(testing.TB, string) {
	return func(t testing.TB, dir string) {
		c, err := model.ReferenceConfig("qwen2.5-vl-3b")
		if err != nil {
			t.Fatal(err)
		}
		c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.VocabSize = h, 3*h, layers, v
		c.NumAttentionHeads, c.NumKeyValueHeads = h/32, 2
		c.RopeScaling.MropeSection = []int{4, 6, 6} // head_dim 32
		vc := &c.VisionConfig
		vc.Depth, vc.EmbedDim, vc.IntermediateSize, vc.NumHeads, vc.HiddenSize = 4, 128, 256, 4, h
		vc.FullAttBlockIndexes = []int{1, 3}
		writeFolder(t, dir, c, safetensors.F32)
	}
}

// qwen3Folder is Qwen3-VL-8B's architecture (explicit head_dim, untied LM
// head, deepstack vision features, learned vision positions) at hidden
// size h, layers and vocabulary v, weights in dtype.
func qwen3Folder(h, layers, v int, dtype string) func(testing.TB, string) {
	return func(t testing.TB, dir string) {
		c, err := model.ReferenceConfig("qwen3-vl-8b")
		if err != nil {
			t.Fatal(err)
		}
		c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.VocabSize = h, 3*h, layers, v
		c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDimOverride = h/64, 2, 64
		c.RopeScaling.MropeSection = []int{12, 10, 10} // head_dim 64
		vc := &c.VisionConfig
		vc.Depth, vc.EmbedDim, vc.IntermediateSize, vc.NumHeads, vc.HiddenSize = 4, 128, 256, 4, h
		vc.DeepstackVisualIndexes = []int{1, 2}
		vc.NumPositionEmbeddings = 64
		writeFolder(t, dir, c, dtype)
	}
}

// childHWM reads the child's "mem-result hwm_kib N" line, in bytes.
func childHWM(t *testing.T, out string) int64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "mem-result" && f[1] == "hwm_kib" {
			n, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("bad line %q", sc.Text())
			}
			return n << 10
		}
	}
	t.Fatalf("child printed no peak:\n%s", out)
	return 0
}

// procStatus returns a field of /proc/self/status in KiB.
func procStatus(t testing.TB, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// needNative skips without ONNX Runtime or video support.
func needNative(t *testing.T) {
	t.Helper()
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		t.Skipf("ONNX Runtime not installed (run bash scripts/setup.sh): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	if _, err := video.Synthesize(video.DefaultSynthOptions()); err != nil {
		t.Skipf("no video support: %v", err)
	}
}
