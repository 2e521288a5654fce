package grpo

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/eval"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// sharedData is one data directory for every test of the package (datasets
// are resumable, so later tests reuse the first one's samples).
var sharedData string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "grpo-test-data-")
	if err != nil {
		panic(err)
	}
	sharedData = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needNative skips when ONNX Runtime or OpenCV is missing.
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

// smallConfig is a short run: few videos, small batches, few steps.
func smallConfig(t *testing.T, runDir string, sets ...string) *configs.Config {
	t.Helper()
	base := []string{
		"run_dir=" + runDir,
		"data.dir=" + sharedData,
		"data.synthetic_videos=5",
		"data.heldout_videos=2",
		"data.use_sample_videos=false",
		"data.train_samples=60",
		"data.warmup_samples=30",
		"viubench.per_subtype=2",
		"sft.steps=30",
		"sft.batch_size=12",
		"grpo.steps=4",
		"grpo.dynamic_sampling=false", // the plain GRPO step; refill has its own tests (refill_test.go)
		"grpo.batch_prompts=4",
		"grpo.group_size=4",
		"grpo.micro_batch_rows=16",
		"checkpoint.every=2",
		"device.intra_op_threads=2",
	}
	cfg, err := configs.Load(nil, append(base, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func finalParams(t *testing.T, runDir string) *params.Store {
	t.Helper()
	s, err := params.Load(filepath.Join(runDir, "final", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEndToEndLearns runs the whole job on a learnable task mix (counting
// with at most one shape per class, so the answer is a pattern of 0s and 1s)
// and checks that the training reward rises over the GRPO steps, and that
// everything a run promises is written.
func TestEndToEndLearns(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run (about a minute)")
	}
	needNative(t)
	run := t.TempDir()
	cfg := smallConfig(t, run,
		"sft.steps=12",
		"grpo.steps=24",
		"grpo.batch_prompts=6",
		"grpo.group_size=6",
		"grpo.optim.lr=0.001",
		"data.mix.grounding=0", "data.mix.jigsaw=0",
		"data.counting.max_instances=1",
		"data.counting.max_frames_per_class=1",
	)
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Before == nil || res.After == nil || res.After.Total() != 18 {
		t.Fatalf("evaluations %+v %+v", res.Before, res.After)
	}
	if res.RewardLast <= res.RewardFirst+0.05 {
		t.Fatalf("training reward did not rise: first quarter %.3f, last quarter %.3f", res.RewardFirst, res.RewardLast)
	}
	t.Logf("reward %.3f -> %.3f; VIUBench %.3f -> %.3f", res.RewardFirst, res.RewardLast, res.Before.Overall, res.After.Overall)
	for _, f := range []string{"config.yaml", "metrics.jsonl", "plots/reward.png", "plots/zero_var.png", "plots/kl.png", "final/model.safetensors", "final/config.json", "final/tokenizer.json", "checkpoints/latest"} {
		if _, err := os.Stat(filepath.Join(run, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	recs, err := metrics.ReadFile(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	grpo := 0
	for _, r := range recs {
		if r.Phase != "grpo" {
			continue
		}
		grpo++
		for _, k := range []string{"reward/counting/mean", "zero_var_frac", "response_length", "clip_frac", "kl", "entropy", "grad_norm", "lr", "step_s", "rollout_tokens_per_s"} {
			if _, ok := r.Values[k]; !ok {
				t.Fatalf("step %d lacks metric %s", r.Step, k)
			}
		}
	}
	if grpo != 24 {
		t.Fatalf("%d GRPO metric records, want 24", grpo)
	}
	// Checkpoints are pruned to checkpoint.keep.
	ents, _ := os.ReadDir(filepath.Join(run, ckptDir))
	if n := len(ents) - 1; n != cfg.Checkpoint.Keep {
		t.Fatalf("%d checkpoints kept, want %d", n, cfg.Checkpoint.Keep)
	}
}

// TestNaNGradientsSkipTheStep: a step whose gradients are not finite is
// skipped with the parameters untouched.
func TestNaNGradientsSkipTheStep(t *testing.T) {
	needNative(t)
	run := t.TempDir()
	cfg := smallConfig(t, run, "sft.steps=2", "grpo.steps=1", "checkpoint.every=0")
	hook := func(step int, g map[string][]float32) {
		for _, v := range g {
			v[0] = float32(math.NaN())
			return
		}
	}
	if _, err := Run(context.Background(), cfg, Options{gradHook: hook}); err != nil {
		t.Fatal(err)
	}
	// The reference is the policy when GRPO started; one skipped step
	// leaves the policy equal to it.
	ckpts, _ := filepath.Glob(filepath.Join(run, ckptDir, "*", "reference.safetensors"))
	if len(ckpts) == 0 {
		t.Fatal("no reference saved")
	}
	ref, err := params.Load(ckpts[len(ckpts)-1])
	if err != nil {
		t.Fatal(err)
	}
	if got := finalParams(t, run); got.Checksum() != ref.Checksum() || !got.AllFinite() {
		t.Fatal("parameters changed on a step with NaN gradients")
	}
	// The GRPO step's record (the final evaluation's follows it) says so.
	recs, _ := metrics.ReadFile(filepath.Join(run, "metrics.jsonl"))
	var last metrics.Record
	for _, r := range recs {
		if r.Phase == "grpo" {
			last = r
		}
	}
	if last.Values["skipped"] != 1 {
		t.Fatalf("last GRPO record %+v does not report the skip", last)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"grpo.group_sise=4":       "grpo.group_sise",
		"grpo.kl_type=k9":         "grpo.kl_type",
		"data.mix.audio=1":        "data.mix.audio",
		"rollout.top_p=0":         "rollout",
		"grpo.optim.schedule=odd": "grpo.optim.schedule",
	}
	for set, key := range cases {
		_, err := configs.Load(nil, []string{set})
		if err == nil || !contains(err.Error(), key) {
			t.Errorf("--set %s: error %v does not name %s", set, err, key)
		}
	}
	// A missing model folder is named.
	cfg := smallConfig(t, t.TempDir(), "model.preset=hf", "model.path=/nonexistent")
	if _, err := Run(context.Background(), cfg, Options{}); err == nil || !strings.Contains(err.Error(), "model.path") {
		t.Fatalf("hf preset with a missing folder: %v", err)
	}
}

// writeHFFolder writes the tiny model as a Hugging Face style folder
// (config.json, model.safetensors in dtype, tokenizer.json) and returns it
// with the weights as stored.
func writeHFFolder(t *testing.T, dtype string) (string, *params.Store) {
	t.Helper()
	hf := t.TempDir()
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	store, err := mc.InitParams(7)
	if err != nil {
		t.Fatal(err)
	}
	tj, _ := tok.Marshal()
	if err := mc.SaveJSON(filepath.Join(hf, "config.json")); err != nil {
		t.Fatal(err)
	}
	wpath := filepath.Join(hf, "model.safetensors")
	if err := store.SaveAs(wpath, dtype, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(hf, "tokenizer.json"), tj, 0o644); err != nil {
		t.Fatal(err)
	}
	return hf, store
}

// TestHFPresetRuns trains from a Hugging Face style folder (config.json,
// model.safetensors, tokenizer.json) written from the tiny model.
func TestHFPresetRuns(t *testing.T) {
	needNative(t)
	hf, _ := writeHFFolder(t, safetensors.F32)
	// The folder's own pixel normalisation is used and carried to final/.
	proc := `{"image_mean": [0.25, 0.5, 0.75], "image_std": [0.3, 0.4, 0.5]}`
	if err := os.WriteFile(filepath.Join(hf, model.PreprocessorFile), []byte(proc), 0o644); err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	cfg := smallConfig(t, run, "model.preset=hf", "model.path="+hf, "model.tokenizer=", "sft.steps=1", "grpo.steps=1")
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	fc, _, err := model.LoadFolder(filepath.Join(run, "final"))
	if err != nil {
		t.Fatal(err)
	}
	if mean, std := fc.ImageNorm(); mean != [3]float64{0.25, 0.5, 0.75} || std != [3]float64{0.3, 0.4, 0.5} {
		t.Fatalf("final/ normalises with %v %v, not the folder's", mean, std)
	}
	// The warm-up started from the folder's weights, not a fresh init.
	ck, _ := filepath.Glob(filepath.Join(run, ckptDir, "*", "reference.safetensors"))
	if len(ck) == 0 {
		t.Fatal("no reference saved")
	}
}

// TestHFBF16BaseKeptAsStored: LoRA on a BF16 checkpoint with base_dtype
// stored holds the base in BF16 from load to checkpoint, bit for bit, and
// trains the float32 adapters.
func TestHFBF16BaseKeptAsStored(t *testing.T) {
	needNative(t)
	hf, _ := writeHFFolder(t, safetensors.BF16)
	run := t.TempDir()
	cfg := smallConfig(t, run, "model.preset=hf", "model.path="+hf, "model.tokenizer=", "sft.steps=2", "grpo.steps=1",
		"model.lora.rank=4", "model.lora.target_modules=[q_proj, v_proj]")
	if cfg.Model.LoRA.BaseDType != "stored" {
		t.Fatalf("default base_dtype %q, want stored", cfg.Model.LoRA.BaseDType)
	}
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	src, err := safetensors.Read(filepath.Join(hf, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// The last checkpoint rebuilds the BF16 base from the folder, bit for bit.
	ck, err := LatestCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	lc, got, err := model.LoadFolder(ck)
	if err != nil {
		t.Fatal(err)
	}
	if lc.LoRA == nil || lc.LoRA.BaseDType != safetensors.BF16 {
		t.Fatalf("loaded lora %+v", lc.LoRA)
	}
	for _, name := range src.Names() {
		ts, _ := src.Tensor(name)
		bits, _ := ts.Half(safetensors.BF16)
		p, ok := got.Get(name)
		if !ok || !p.IsHalf() || !slices.Equal(p.Half, bits) {
			t.Fatalf("base weight %s not held as the folder's BF16 bits", name)
		}
	}
	// final/ holds the merged model in BF16: unadapted weights bit for bit,
	// adapted ones moved.
	merged, err := safetensors.Read(filepath.Join(run, "final", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, name := range src.Names() {
		ts, _ := src.Tensor(name)
		tm, err := merged.Tensor(name)
		if err != nil || tm.DType != safetensors.BF16 {
			t.Fatalf("merged %s: %v, dtype %s", name, err, tm.DType)
		}
		adapted := strings.Contains(name, "q_proj") || strings.Contains(name, "v_proj")
		same := bytes.Equal(tm.Data, ts.Data)
		if !adapted && !same {
			t.Fatalf("unadapted weight %s changed in the merge", name)
		}
		if adapted && !same {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no adapted weight moved: no adapter was trained")
	}
	// A base that changed since is refused, on load and on resume: flip
	// one bit of the last weight value in the folder's file.
	wpath := filepath.Join(hf, "model.safetensors")
	raw, err := os.ReadFile(wpath)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0x01
	if err := os.WriteFile(wpath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := model.LoadFolder(ck); err == nil || !strings.Contains(err.Error(), "differs from the one it was trained on") {
		t.Fatalf("load with a changed base: %v", err)
	}
	if _, err := Run(context.Background(), cfg, Options{Resume: true}); err == nil || !strings.Contains(err.Error(), "frozen base weights differ") {
		t.Fatalf("resume with a changed base: %v", err)
	}
}

// adaptersOnly loads a checkpoint weights file and fails unless it holds
// LoRA adapters and nothing else.
func adaptersOnly(t *testing.T, path string) *params.Store {
	t.Helper()
	s, err := params.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range s.Names() {
		if !model.IsLoRAParam(name) {
			t.Fatalf("%s holds base weight %s", path, name)
		}
	}
	if s.Len() == 0 {
		t.Fatalf("%s holds no adapters", path)
	}
	return s
}

func contains(s, sub string) bool {
	return strings.Contains(s, sub)
}

// TestLoRATrainsOnlyAdapters: with model.lora on, GRPO and the warm-up
// change the adapters and leave every base weight as initialised; the
// adapters are written in the PEFT layout.
func TestLoRATrainsOnlyAdapters(t *testing.T) {
	needNative(t)
	run := t.TempDir()
	cfg := smallConfig(t, run, "sft.steps=3", "grpo.steps=2", "model.lora.rank=4", "model.lora.target_modules=[q_proj, v_proj]")
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	ck, err := LatestCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	// The checkpoint holds the adapters only, plus where the base comes from.
	saved := adaptersOnly(t, filepath.Join(ck, "model.safetensors"))
	if _, err := os.Stat(filepath.Join(ck, model.BaseRefFile)); err != nil {
		t.Fatal(err)
	}
	// Loading it rebuilds the model: the base as initialised, the adapters
	// as saved.
	lc, got, err := model.LoadFolder(ck)
	if err != nil {
		t.Fatal(err)
	}
	if lc.LoRA == nil || lc.LoRA.Rank != 4 {
		t.Fatalf("loaded lora %+v", lc.LoRA)
	}
	for _, p := range saved.Params() {
		q, ok := got.Get(p.Name)
		if !ok || !slices.Equal(p.Data, q.Data) {
			t.Fatalf("adapter %s not loaded from the checkpoint", p.Name)
		}
	}
	tok, err := model.LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	mc, err := model.TinyFor(tok)
	if err != nil {
		t.Fatal(err)
	}
	init, err := mc.InitParams(cfg.Model.InitSeed)
	if err != nil {
		t.Fatal(err)
	}
	adapters := 0
	for _, name := range got.Names() {
		p, _ := got.Get(name)
		if model.IsLoRAParam(name) {
			adapters++
			continue
		}
		q, ok := init.Get(name)
		if !ok {
			t.Fatalf("unexpected parameter %s", name)
		}
		if !slices.Equal(p.Data, q.Data) {
			t.Fatalf("base weight %s changed under LoRA", name)
		}
	}
	if adapters != 2*2*mc.NumHiddenLayers {
		t.Fatalf("%d adapter tensors, want %d", adapters, 4*mc.NumHiddenLayers)
	}
	// Some B matrix moved away from its zero init.
	moved := false
	for _, name := range got.Names() {
		if strings.HasSuffix(name, "lora_B.weight") {
			p, _ := got.Get(name)
			for _, v := range p.Data {
				moved = moved || v != 0
			}
		}
	}
	if !moved {
		t.Fatal("no adapter was trained")
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		if _, err := os.Stat(filepath.Join(run, "final", "adapter", f)); err != nil {
			t.Errorf("PEFT layout: %v", err)
		}
	}
	// final/ holds the merged model: base names only, adapted weights moved.
	merged := finalParams(t, run)
	if merged.Len() != init.Len() {
		t.Fatalf("final model has %d tensors, want the %d base weights", merged.Len(), init.Len())
	}
	q, _ := merged.Get("model.layers.0.self_attn.q_proj.weight")
	q0, _ := init.Get("model.layers.0.self_attn.q_proj.weight")
	same := true
	for i := range q.Data {
		same = same && q.Data[i] == q0.Data[i]
	}
	if same {
		t.Fatal("merged q_proj equals the base weight")
	}
}

// TestEvaluate scores a trained model on the run's VIUBench file and on
// generic multiple-choice and temporal-grounding rows that name a video.
func TestEvaluate(t *testing.T) {
	needNative(t)
	run := t.TempDir()
	cfg := smallConfig(t, run, "sft.steps=2", "grpo.steps=1")
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	benches, _ := filepath.Glob(filepath.Join(sharedData, "viubench-*", "data.jsonl"))
	if len(benches) == 0 {
		t.Fatal("no VIUBench file")
	}
	so, per := PolicySessions(cfg.Device)
	req := eval.Request{Model: filepath.Join(run, "final"), Library: cfg.Device.Library, Session: so, GraphSession: per, Frames: 8, MinPixels: 784, MaxPixels: 3136, MaxNewTokens: 8, Batch: 8}
	var want *eval.Report
	for _, b := range benches {
		req.Data = b
		rep, err := eval.Evaluate(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if rep.VIUBench != nil && rep.VIUBench.Total() == res.After.Total() {
			want = rep
		}
	}
	if want == nil {
		t.Fatal("no VIUBench file of the run's size was scored")
	}
	// The greedy evaluation is the trainer's own: the same overall score.
	if d := want.VIUBench.Overall - res.After.Overall; d > 1e-9 || d < -1e-9 {
		t.Fatalf("eval overall %v, the run's after-GRPO score %v", want.VIUBench.Overall, res.After.Overall)
	}
	vid, _ := filepath.Glob(filepath.Join(sharedData, "synthetic", "*.avi"))
	generic := filepath.Join(t.TempDir(), "generic.jsonl")
	rows := `{"id":"mc1","data_source":"multiple_choice","video":"` + vid[0] + `","question":"What moves? A. a square B. nothing","answer":"A"}
{"id":"tg1","data_source":"temporal_grounding","video":"` + vid[0] + `","question":"When does the light change? Reply start-end in seconds.","answer":"1.0-2.5"}
`
	if err := os.WriteFile(generic, []byte(rows), 0o644); err != nil {
		t.Fatal(err)
	}
	req.Data = generic
	rep, err := eval.Evaluate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MultipleChoice.N != 1 || rep.Grounding.N != 1 || len(rep.Predictions) != 2 || rep.VIUBench != nil {
		t.Fatalf("generic report %+v", rep)
	}
	if !strings.Contains(rep.Text(), "multiple choice: 1 questions") || !strings.Contains(rep.Text(), "temporal grounding: 1 questions") {
		t.Fatalf("report text:\n%s", rep.Text())
	}
}

// TestBrokenVideoIsSkipped: an unreadable file among data.videos is skipped
// (and said), the run goes on with the other videos.
func TestBrokenVideoIsSkipped(t *testing.T) {
	needNative(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.mp4")
	if err := os.WriteFile(bad, []byte("this is not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := smallConfig(t, t.TempDir(), "sft.steps=1", "grpo.steps=1", "data.videos=["+bad+"]", "data.dir="+filepath.Join(dir, "data"))
	if _, err := Run(context.Background(), cfg, Options{Log: log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "broken.mp4") {
		t.Fatalf("the skipped video is not named in the log:\n%s", logs.String())
	}
}

// TestRecomputeSameRun: model.recompute changes memory, not results: the
// same short run with and without it ends with identical parameters.
func TestRecomputeSameRun(t *testing.T) {
	needNative(t)
	a, b := t.TempDir(), t.TempDir()
	if _, err := Run(context.Background(), smallConfig(t, a, "sft.steps=2", "grpo.steps=1"), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), smallConfig(t, b, "sft.steps=2", "grpo.steps=1", "model.recompute=true"), Options{}); err != nil {
		t.Fatal(err)
	}
	if finalParams(t, a).Checksum() != finalParams(t, b).Checksum() {
		t.Fatal("recomputation changed the trained parameters")
	}
}

// TestChunkedRolloutSameRun: rolling the prompts out one at a time
// (rollout.chunk_prompts=1, a quarter of the KV cache) trains the same
// model as one batched rollout.
func TestChunkedRolloutSameRun(t *testing.T) {
	needNative(t)
	a, b := t.TempDir(), t.TempDir()
	if _, err := Run(context.Background(), smallConfig(t, a, "sft.steps=2", "grpo.steps=2"), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), smallConfig(t, b, "sft.steps=2", "grpo.steps=2", "rollout.chunk_prompts=1"), Options{}); err != nil {
		t.Fatal(err)
	}
	pa, pb := finalParams(t, a), finalParams(t, b)
	if pa.Checksum() == pb.Checksum() {
		return
	}
	// Batch composition may move the rollout log-probs in the last bits;
	// the trained weights must still agree closely.
	worst := 0.0
	for _, p := range pa.Params() {
		q, _ := pb.Get(p.Name)
		for i, v := range p.Data {
			worst = math.Max(worst, math.Abs(float64(v-q.Data[i])))
		}
	}
	if worst > 1e-5 {
		t.Fatalf("chunked rollouts changed the trained weights by up to %g", worst)
	}
	t.Logf("chunked vs batched rollouts: weights differ by up to %g", worst)
}

// TestOneGPULoRAOverlayRuns runs the one-GPU overlay of the paper config
// (LoRA on all linear layers over a BF16 base, recomputation, 1-row
// micro-batches, chunked rollouts) on the tiny model, scaled down: every
// setting it combines works together.
func TestOneGPULoRAOverlayRuns(t *testing.T) {
	needNative(t)
	run := t.TempDir()
	cfg, err := configs.Load([]string{"videossr-qwen3vl8b.yaml", "videossr-qwen3vl8b-lora.yaml"}, []string{
		"model.preset=tiny", "model.tokenizer=tiny", "model.lora.base_dtype=bfloat16", "device.provider=cpu", "device.intra_op_threads=2",
		"run_dir=" + run, "data.dir=" + sharedData, "data.synthetic_videos=5", "data.heldout_videos=2", "data.use_sample_videos=false",
		"data.train_samples=60", "data.sampling.frames=16", "data.jigsaw.clips=4", "data.sampling.max_pixels=3136", "data.sampling.min_pixels=3136",
		"viubench.per_subtype=2", "viubench.max_pixels=3136", "grpo.steps=1", "grpo.batch_prompts=4", "grpo.group_size=2",
		"rollout.max_new_tokens=8", "rollout.chunk_prompts=2", "checkpoint.every=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Model.Recompute || cfg.Model.LoRA.Rank != 64 || cfg.GRPO.MicroBatchRows != 1 {
		t.Fatalf("overlay not applied: %+v", cfg.Model)
	}
	res, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.After == nil {
		t.Fatal("no evaluation after GRPO")
	}
	ck, err := LatestCheckpoint(run)
	if err != nil {
		t.Fatal(err)
	}
	adaptersOnly(t, filepath.Join(ck, "model.safetensors"))
	lc, _, err := model.LoadFolder(ck)
	if err != nil || lc.LoRA == nil || lc.LoRA.BaseDType != safetensors.BF16 {
		t.Fatalf("checkpoint: %v, lora %+v", err, lc.LoRA)
	}
}

// TestLoRAResumeIsExact: with LoRA (on a BF16 base) the reference keeps
// only its adapters in checkpoints; a resumed run still ends where the
// straight one does.
func TestLoRAResumeIsExact(t *testing.T) {
	needNative(t)
	// The base is held in BF16, so the half-precision path resumes exactly too.
	lora := []string{"sft.steps=3", "model.lora.rank=4", "model.lora.target_modules=[q_proj, v_proj]", "model.lora.base_dtype=bfloat16"}
	straight, split := t.TempDir(), t.TempDir()
	if _, err := Run(context.Background(), smallConfig(t, straight, lora...), Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), smallConfig(t, split, lora...), Options{StopAfter: 2}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped run: %v", err)
	}
	// The saved reference holds adapters only.
	ck, err := LatestCheckpoint(split)
	if err != nil {
		t.Fatal(err)
	}
	adaptersOnly(t, filepath.Join(ck, "reference.safetensors"))
	if _, err := Run(context.Background(), smallConfig(t, split, lora...), Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	if finalParams(t, straight).Checksum() != finalParams(t, split).Checksum() {
		t.Fatal("resumed LoRA run differs from the straight run")
	}
}
