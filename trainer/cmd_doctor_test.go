package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/grpo"
	"github.com/videossr/videossr-go/trainer/sysinfo"
)

// skipWithoutNative skips tests that expect the default config to run:
// without cgo neither ONNX Runtime nor OpenCV is available.
func skipWithoutNative(t *testing.T) {
	t.Helper()
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoCgo) || errors.Is(err, ort.ErrNoLibrary) {
		t.Skipf("doctor would report MISSING: %v", err)
	}
	if err == nil {
		rt.Close()
	}
}

func TestDoctorDefault(t *testing.T) {
	skipWithoutNative(t)
	out, _, err := execCmd(t, newRootCmd(), "", "doctor")
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	want := []string{
		"OK      go            go1.",
		"OK      memory        ",
		"locale        LANG=",
		"OK      onnxruntime   ",
		"OK      provider      cpu: built into ONNX Runtime",
		"provider      cuda",
		"config default (embedded configs/default.yaml)",
		"OK      tokenizer     tiny (vocabulary 1024)",
		"OK      model         tiny qwen2_vl, ",
		"OK      memory plan   8 prompts x G=8, longest prompt ~162 tokens (32 vision + 130 text, jigsaw), response 12, micro-batch 64 rows; peak resident set",
		"runtime ", "sessions ", "weights ", "kv cache ", "activations ", "gradients ", "optimizer ", "gc headroom ", "train arenas ", "rollout arenas ", "total ",
		"fits in",
		"the selected config can run on this machine",
	}
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		want = append(want, "WARN    gpu           no NVIDIA GPU (nvidia-smi not found)")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if strings.Contains(out, "MISSING") {
		t.Errorf("MISSING line for the default config:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" || l == "machine" || strings.HasPrefix(l, "config ") || strings.HasPrefix(l, "the selected") || strings.HasPrefix(l, "        ") {
			continue
		}
		if st, _, _ := strings.Cut(l, " "); st != "OK" && st != "WARN" && st != "MISSING" {
			t.Errorf("line without a status: %q", l)
		}
	}
}

// TestDoctorConfigs checks the exit status and the lines of configs that can
// and cannot run: an HF folder with a bf16 config.json, a missing model
// path, a plan that cannot fit, a file that does not exist.
func TestDoctorConfigs(t *testing.T) {
	skipWithoutNative(t)
	dir := writeDoctorHF(t)
	vids := writeDoctorVideos(t)
	paper := "videossr-qwen3vl8b.yaml" // embedded
	tests := []struct {
		name    string
		args    []string
		fails   bool
		section string // when set, the wanted lines must follow this line
		want    []string
	}{
		{
			name: "hf folder on cpu",
			args: []string{"--config", paper, "--set", "model.path=" + dir, "--set", "model.tokenizer=tiny", "--set", "device.provider=cpu",
				"--set", "grpo.batch_prompts=2", "--set", "grpo.micro_batch_rows=2", "--set", "rollout.max_new_tokens=16", "--set", "data.sampling.frames=4", "--set", "data.jigsaw.clips=2", "--set", "data.grounding.min_len=2", "--set", "data.grounding.max_len=4", "--set", "data.videos=[" + vids + "]"},
			// Paper sampling at 4 frames: 2 x 65536/28^2 = 166 vision tokens;
			// the counting prompt's text is the longest in the folder's
			// tokenizer (the tiny one).
			section: "config " + paper,
			want: []string{"OK      tokenizer     " + dir + " (vocabulary 1024)", "OK      model         qwen2_vl from " + dir, "(bfloat16)",
				"longest prompt ~282 tokens (166 vision + 116 text, counting)", "peak resident set", "can run"},
		},
		{
			name: "hf folder on two cpu devices",
			args: []string{"--config", paper, "--set", "model.path=" + dir, "--set", "model.tokenizer=tiny", "--set", "device.provider=cpu", "--set", "device.devices=[0, 1]",
				"--set", "grpo.batch_prompts=2", "--set", "grpo.micro_batch_rows=2", "--set", "rollout.max_new_tokens=16", "--set", "data.sampling.frames=4", "--set", "data.jigsaw.clips=2", "--set", "data.grounding.min_len=2", "--set", "data.grounding.max_len=4", "--set", "data.videos=[" + vids + "]"},
			section: "config " + paper,
			want: []string{"1 prompts x G=8", "peak resident set of each of 2 devices [0 1] (device.devices)", "2 devices, each holds", "the KV cache of 1 prompts (ceil(batch_prompts / 2))",
				"host all-reduce buffers (2 x the largest trainable parameter in float32)", "can run"},
		},
		{
			name: "hf folder with lora on its bf16 base",
			args: []string{"--config", paper, "--set", "model.path=" + dir, "--set", "device.provider=cpu", "--set", "model.lora.rank=8",
				"--set", "grpo.batch_prompts=2", "--set", "grpo.micro_batch_rows=2", "--set", "rollout.max_new_tokens=16", "--set", "data.sampling.frames=4", "--set", "data.jigsaw.clips=2", "--set", "data.grounding.min_len=2", "--set", "data.grounding.max_len=4", "--set", "data.videos=[" + vids + "]"},
			section: "config " + paper,
			want:    []string{"OK      lora", "frozen base held as BF16", "frozen x 2 B", "can run"},
		},
		{
			name: "paper config with the one-GPU LoRA overlay",
			args: []string{"--config", paper + "+videossr-qwen3vl8b-lora.yaml", "--set", "model.path=" + dir, "--set", "device.provider=cpu",
				"--set", "grpo.batch_prompts=2", "--set", "rollout.max_new_tokens=16", "--set", "data.sampling.frames=4", "--set", "data.jigsaw.clips=2", "--set", "data.grounding.min_len=2", "--set", "data.grounding.max_len=4", "--set", "data.videos=[" + vids + "]"},
			section: "config " + paper + "+videossr-qwen3vl8b-lora.yaml",
			want:    []string{"OK      lora          rank 64 on [all-linear], frozen base held as BF16", "micro-batch 1 rows", "recomputed per layer", "can run"},
		},
		{
			name:  "hf without a path",
			args:  []string{"--config", paper},
			fails: true,
			want:  []string{"MISSING config", "model.path"},
		},
		{
			name:  "plan does not fit",
			args:  []string{"--config", "default.yaml", "--set", "grpo.batch_prompts=100000", "--set", "grpo.group_size=64", "--set", "rollout.max_new_tokens=4096", "--set", "grpo.micro_batch_rows=1"},
			fails: true,
			want:  []string{"MISSING memory", "memory plan does not fit", "largest item is the kv cache", "grpo.batch_prompts"},
		},
		{
			name:  "no such file",
			args:  []string{"--config", filepath.Join(dir, "nope.yaml")},
			fails: true,
			want:  []string{"MISSING config", "nope.yaml"},
		},
		{
			name:  "no such library",
			args:  []string{"--set", "device.library=" + filepath.Join(dir, "libnone.so")},
			fails: true,
			want:  []string{"MISSING onnxruntime", "libnone.so"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := execCmd(t, newRootCmd(), "", append([]string{"doctor"}, tc.args...)...)
			if tc.fails != (err != nil) {
				t.Fatalf("err = %v, want failure %v\n%s", err, tc.fails, out)
			}
			if tc.fails && !errors.Is(err, errCannotRun) {
				t.Errorf("err = %v, want errCannotRun", err)
			}
			if tc.section != "" {
				_, after, ok := strings.Cut(out, tc.section+"\n")
				if !ok {
					t.Fatalf("no section %q:\n%s", tc.section, out)
				}
				out = after
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// writeDoctorHF writes what doctor reads of a Hugging Face folder: the
// tiny model's config.json (torch_dtype bfloat16) and the tiny
// tokenizer.json. Doctor reads no weights.
func writeDoctorHF(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	c.TorchDtype = "bfloat16"
	if err := c.SaveJSON(filepath.Join(dir, "config.json")); err != nil {
		t.Fatal(err)
	}
	// The folder's own tokenizer.json is what a run of it uses.
	tj, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeDoctorVideos writes a folder with one small synthetic video.
func writeDoctorVideos(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	opt := video.SynthOptions{W: 32, H: 32, Frames: 8, FPS: 4, Seed: 1, Objects: 1}
	if err := video.MakeSyntheticVideo(context.Background(), filepath.Join(dir, "v.avi"), opt); err != nil {
		t.Skipf("no video support: %v", err)
	}
	return dir
}

// shippedConfigs lists every config file on disk: the top-level files,
// the one-GPU overlay on the paper config (as the README runs it), and
// each ablation (Load overlays each on the default).
func shippedConfigs(t *testing.T) [][]string {
	t.Helper()
	var out [][]string
	for _, pat := range []string{"../configs/*.yaml", "../configs/ablations/*.yaml"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			out = append(out, []string{f})
		}
	}
	if len(out) < 12 {
		t.Fatalf("only %d config files found", len(out))
	}
	return append(out, []string{"../configs/videossr-qwen3vl8b.yaml", "../configs/videossr-qwen3vl8b-lora.yaml"})
}

// TestEveryShippedConfigPassesDoctor loads every config file, validates
// it and runs doctor's config checks on it with no MISSING line. A config
// that needs model.path gets a synthetic HF folder, a config for cuda runs
// on cpu (CI has no GPU), and one with no video source of its own (the
// paper config: your videos) gets a folder with one video; nothing else is
// changed. The plan is checked against a fixed 128 GiB, so the test does
// not depend on the RAM of the machine it runs on. Without data.videos the
// paper config is reported as unable to run, naming the key.
func TestEveryShippedConfigPassesDoctor(t *testing.T) {
	skipWithoutNative(t)
	hf := writeDoctorHF(t)
	vids := writeDoctorVideos(t)
	var out bytes.Buffer
	d := &doctor{w: &out, runtimes: map[string]ortReport{}}
	if wd, err := os.Getwd(); err == nil {
		d.root = ort.ModuleRoot(wd)
	}
	d.machine(context.Background())
	// 128 GiB: the paper config at its batch (64 prompts of ~2,140 tokens
	// prefilled at once, materialised attention) plans ~71 GiB on CPU even
	// with the small stand-in model.
	d.memAvail = 128 << 30
	for _, paths := range shippedConfigs(t) {
		name := strings.Join(paths, "+")
		sets := []string{"device.provider=cpu"}
		raw, err := configs.Load(paths, append(sets, "model.path="+hf))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if raw.Model.Preset == "hf" {
			sets = append(sets, "model.path="+hf)
		}
		if raw.Data.SyntheticVideos == 0 && !raw.Data.UseSampleVideos && len(raw.Data.Videos) == 0 {
			// Doctor reports the missing videos and names the key.
			cfg, err := configs.Load(paths, sets)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out.Reset()
			d.missing = 0
			d.config(cfg)
			if d.missing == 0 || !strings.Contains(out.String(), "MISSING videos        no training videos") || !strings.Contains(out.String(), "--set data.videos=") {
				t.Errorf("%s without videos: doctor did not report it:\n%s", name, out.String())
			}
			sets = append(sets, "data.videos=["+vids+"]")
		}
		cfg, err := configs.Load(paths, sets)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		out.Reset()
		d.missing = 0
		d.config(cfg)
		if d.missing > 0 {
			t.Errorf("%s (--set %v): %d MISSING lines:\n%s", name, sets, d.missing, out.String())
		}
		if !strings.Contains(out.String(), "OK      memory        the plan's") {
			t.Errorf("%s: no memory plan checked:\n%s", name, out.String())
		}
	}
}

// TestDoctorDataSettings: data settings that cannot work are MISSING
// lines naming the key; a run without held-out videos is a warning.
func TestDoctorDataSettings(t *testing.T) {
	skipWithoutNative(t)
	empty := t.TempDir()
	tests := []struct {
		sets []string
		want string
	}{
		{[]string{"data.videos=[" + empty + "]"}, "MISSING videos        data.videos: " + empty + " holds no video files"},
		{[]string{"data.videos=[" + filepath.Join(empty, "nope.mp4") + "]"}, "MISSING videos        data.videos: stat "},
		{[]string{"data.synthetic_videos=0", "data.heldout_videos=0", "data.use_sample_videos=false"}, "MISSING videos        no training videos"},
		{[]string{"data.heldout_videos=0"}, "WARN    heldout       data.heldout_videos is 0: no held-out VIUBench, the VIUBench evaluations (eval.before, eval.every and after GRPO) are skipped"},
		{[]string{"data.synthetic_videos=2"}, "MISSING config        config: data.heldout_videos: 4 held-out videos need data.synthetic_videos >= 5 (it is 2)"},
		{nil, "OK      heldout       VIUBench from 4 held-out synthetic videos"},
	}
	for _, tc := range tests {
		args := []string{"doctor"}
		for _, s := range tc.sets {
			args = append(args, "--set", s)
		}
		out, _, _ := execCmd(t, newRootCmd(), "", args...)
		if !strings.Contains(out, tc.want) {
			t.Errorf("doctor --set %v: output lacks %q:\n%s", tc.sets, tc.want, out)
		}
	}
}

func TestPlanInputDefault(t *testing.T) {
	cfg, err := configs.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	c, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	in, how := sysinfo.PlanInput(cfg, c)
	// 16 frames / 2 x 3136 / 28^2 = 32 vision tokens (4 x 4 patches a
	// slice); the jigsaw prompt's 130 other tokens make the longest
	// prompt, 162 tokens, as the default run's generated prompts measure.
	// The prompt cache holds the 768 GRPO prompts, the 384 warm-up
	// samples and 360 VIUBench
	// questions: 8 B a token + 128 patches x 1176 values x 4 B each. The
	// default policy is device-resident (device.resident).
	want := model.PlanInput{Batch: 8, Group: 8, PromptLen: 162, ResponseLen: 12, MicroBatch: 64, WeightBytes: 4,
		FrozenWeightBytes: 4, Trainable: int64(c.NumParams()), Reference: true, RefPass: true, SFTRows: 16, EvalPrompts: 16,
		VisionPatches: 128, SlicePatches: 16, PromptCache: (768 + 384 + 360) * (8*162 + 4*128*1176), Resident: true}
	if in != want || how != "32 vision + 130 text, jigsaw" {
		t.Errorf("planInput = %+v (%s), want %+v", in, how, want)
	}
	// LoRA on a BF16 base: adapters trainable, 2-byte frozen weights, no
	// reference copy.
	lc := c
	cfg.Model.LoRA = configs.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: []string{"q_proj"}, BaseDType: "bfloat16"}
	if lc.LoRA = grpo.PlannedLoRA(cfg, c); lc.LoRA == nil || lc.LoRA.BaseDType != "BF16" {
		t.Fatalf("planned lora %+v", lc.LoRA)
	}
	if in, _ := sysinfo.PlanInput(cfg, lc); in.FrozenWeightBytes != 2 || in.Reference || in.Trainable >= int64(c.NumParams())/10 {
		t.Errorf("lora plan input %+v", in)
	}
	cfg.Model.LoRA.BaseDType = "stored" // the tiny preset's base is float32
	if l := grpo.PlannedLoRA(cfg, c); l.BaseDType != "F32" {
		t.Errorf("stored base of the tiny preset planned as %s", l.BaseDType)
	}
	cfg.Model.LoRA = configs.LoRAConfig{}
	cfg.Rollout.MaxPrompt = 100
	cfg.GRPO.MicroBatchRows = 0
	if in, how := sysinfo.PlanInput(cfg, c); in.PromptLen != 100 || how != "rollout.max_prompt_tokens" || in.MicroBatch != 64 {
		t.Errorf("capped: %+v (%s)", in, how)
	}
}

func TestParseNvidiaSMI(t *testing.T) {
	tests := []struct {
		in   string
		want []sysinfo.GPU
		bad  bool
	}{
		{in: "", want: nil},
		{in: "0, NVIDIA H200, 143771, 143185, 570.124.06\n", want: []sysinfo.GPU{{Index: 0, Name: "NVIDIA H200", TotalMiB: 143771, FreeMiB: 143185, Driver: "570.124.06"}}},
		{in: "0, A, 10, 5, 1\n1, B, 20, 7, 1\n\n", want: []sysinfo.GPU{{Index: 0, Name: "A", TotalMiB: 10, FreeMiB: 5, Driver: "1"}, {Index: 1, Name: "B", TotalMiB: 20, FreeMiB: 7, Driver: "1"}}},
		{in: "0, A, [N/A], 5, 1", bad: true},
		{in: "0, A, 10, 5", bad: true},
		{in: "x, A, 10, 5, 1", bad: true},
		{in: "0, A, -10, 5, 1", bad: true},
	}
	for _, tc := range tests {
		got, err := sysinfo.ParseNvidiaSMI(tc.in)
		if tc.bad != (err != nil) {
			t.Errorf("sysinfo.ParseNvidiaSMI(%q) err = %v, want bad %v", tc.in, err, tc.bad)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("sysinfo.ParseNvidiaSMI(%q) = %+v, want %+v", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("sysinfo.ParseNvidiaSMI(%q)[%d] = %+v, want %+v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseNvidiaSMI(f *testing.F) {
	f.Add("0, NVIDIA H200, 143771, 143185, 570.124.06\n")
	f.Add("0, A, 10, 5\n")
	f.Fuzz(func(t *testing.T, s string) {
		gpus, err := sysinfo.ParseNvidiaSMI(s)
		if err != nil {
			return
		}
		for _, g := range gpus {
			if g.Index < 0 || g.TotalMiB < 0 || g.FreeMiB < 0 {
				t.Fatalf("accepted negative values: %+v", g)
			}
		}
	})
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		in           string
		total, avail int64
		bad          bool
	}{
		{in: "MemTotal:       24683652 kB\nMemFree:  1 kB\nMemAvailable:   22736104 kB\n", total: 24683652 << 10, avail: 22736104 << 10},
		{in: "MemTotal: 1000 kB\n", total: 1000 << 10, avail: 1000 << 10},
		{in: "MemFree: 5 kB\n", bad: true},
		{in: "MemTotal: x kB\n", bad: true},
		{in: "MemTotal:\n", bad: true},
	}
	for _, tc := range tests {
		total, avail, err := sysinfo.ParseMeminfo(strings.NewReader(tc.in))
		if tc.bad != (err != nil) || total != tc.total || avail != tc.avail {
			t.Errorf("sysinfo.ParseMeminfo(%q) = %d, %d, %v; want %d, %d, bad %v", tc.in, total, avail, err, tc.total, tc.avail, tc.bad)
		}
	}
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add("MemTotal: 1000 kB\nMemAvailable: 10 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		total, avail, err := sysinfo.ParseMeminfo(strings.NewReader(s))
		if err == nil && (total <= 0 || avail < 0) {
			t.Fatalf("accepted %d / %d", total, avail)
		}
	})
}

func TestHasLocale(t *testing.T) {
	for _, tc := range []struct {
		list string
		want bool
	}{
		{"C\nC.utf8\nPOSIX\nen_US.utf8\n", true},
		{"C\nen_US.UTF-8\n", true},
		{"C\nC.utf8\nPOSIX\n", false},
		{"en_US\nen_GB.utf8\n", false},
	} {
		if got := hasLocale(tc.list, "en_US.UTF-8"); got != tc.want {
			t.Errorf("hasLocale(%q) = %v, want %v", tc.list, got, tc.want)
		}
	}
}

// TestDoctorDataFiles: doctor checks data.train_files, data.val_files and
// eval.files as the run will (a plug-in's data source is known), and says
// that the training videos are not read.
func TestDoctorDataFiles(t *testing.T) {
	skipWithoutNative(t)
	dir := t.TempDir()
	frame := filepath.Join(dir, "f.jpg")
	if err := os.WriteFile(frame, []byte("jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	row := func(src, answer, frame string) string {
		return `{"id":"` + src + answer + `","data_source":"` + src + `","answer":"` + answer + `","fps":1,"frames":["` + frame + `"],"prompt":[{"role":"user","content":"<video>\nq"}]}` + "\n"
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	train := write("train.jsonl", row("counting", "1,2,3", frame)+row("number", "7", frame))
	bad := write("bad.jsonl", row("counting", "three", frame)+row("counting", "1,1,1", filepath.Join(dir, "gone.jpg")))
	mc := write("mc.jsonl", row("multiple_choice", "A", frame))
	plugin := `reward.plugins=[{data_sources: [number], command: ["true"]}]`
	out, _, err := execCmd(t, newRootCmd(), "", "doctor", "--set", "data.train_files=["+train+"]", "--set", "eval.files=["+mc+"]", "--set", plugin)
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for _, w := range []string{"OK      videos        training samples from data.train_files", "data.train_files: 2 rows in 1 files, 1 frame files", "eval.files: " + mc + ": 1 rows"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	out, _, err = execCmd(t, newRootCmd(), "", "doctor", "--set", "data.val_files=["+bad+"]", "--set", "data.train_files=["+train+"]")
	if !errors.Is(err, errCannotRun) {
		t.Fatalf("err = %v\n%s", err, out)
	}
	for _, w := range []string{`MISSING data files    data.train_files: bad training data`, `unknown data source "number"`, "MISSING data files    data.val_files", "bad.jsonl: line 1: field answer", "gone.jpg does not exist"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
