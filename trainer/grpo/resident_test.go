package grpo

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// The trainer on the device-resident path (device.resident, CPU memory
// through the same code as CUDA) against the host-fed path.

// firstRollout records the samples of an engine's first GenerateChunks
// call (the first GRPO step's rollouts).
type firstRollout struct {
	Engine
	samples []rollout.Sample
}

func (e *firstRollout) GenerateChunks(ctx context.Context, ps []rollout.Prompt, g int, s rollout.Sampling, seed uint64, chunk int) ([]rollout.Sample, rollout.Stats, error) {
	out, st, err := e.Engine.GenerateChunks(ctx, ps, g, s, seed, chunk)
	if e.samples == nil {
		e.samples = slices.Clone(out)
	}
	return out, st, err
}

// TestResidentRunMatchesHost runs the same job (a short warm-up, 20 GRPO
// steps of 2 prompts x 4 responses with the KL term) on the host-fed and
// on the device-resident path: the first GRPO step samples the same
// tokens, and the final weights agree within 1e-6 relative per tensor.
func TestResidentRunMatchesHost(t *testing.T) {
	if testing.Short() {
		t.Skip("two 20-step runs")
	}
	needNative(t)
	run := func(resident bool) (*firstRollout, []metrics.Record, string) {
		dir := t.TempDir()
		cfg := smallConfig(t, dir, "sft.steps=3", "sft.batch_size=4", "grpo.steps=20", "grpo.batch_prompts=2", "grpo.group_size=4",
			"grpo.micro_batch_rows=4", "grpo.optim.lr=0.001", "checkpoint.every=0", "eval.before=false",
			"device.resident="+map[bool]string{true: "true", false: "false"}[resident])
		rec := &firstRollout{}
		wrap := func(e Engine) Engine { rec.Engine = e; return rec }
		if _, err := Run(context.Background(), cfg, Options{wrapEngine: wrap}); err != nil {
			t.Fatal(err)
		}
		recs, err := metrics.ReadFile(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return rec, recs, dir
	}
	host, hostRecs, hostDir := run(false)
	dev, devRecs, devDir := run(true)

	if len(host.samples) == 0 || len(host.samples) != len(dev.samples) {
		t.Fatalf("first step: %d host samples, %d resident", len(host.samples), len(dev.samples))
	}
	for i := range host.samples {
		h, d := host.samples[i], dev.samples[i]
		if !slices.Equal(h.Tokens, d.Tokens) {
			t.Fatalf("first step, sample %d: resident tokens %v, host %v", i, d.Tokens, h.Tokens)
		}
		for k := range h.LogProbs {
			if diff := math.Abs(h.LogProbs[k] - d.LogProbs[k]); diff > 1e-6*(1+math.Abs(h.LogProbs[k])) {
				t.Fatalf("first step, sample %d token %d: log-prob %v resident, %v host", i, k, d.LogProbs[k], h.LogProbs[k])
			}
		}
	}

	hw, dw := finalParams(t, hostDir), finalParams(t, devDir)
	worst, moved := 0.0, 0.0
	ref := finalParamsInit(t, hostDir)
	for _, hp := range hw.Params() {
		dp, ok := dw.Get(hp.Name)
		if !ok {
			t.Fatalf("resident run lacks %s", hp.Name)
		}
		var diff, scale, change float64
		rp, _ := ref.Get(hp.Name)
		for i, x := range hp.Data {
			diff = math.Max(diff, math.Abs(float64(x-dp.Data[i])))
			scale = math.Max(scale, math.Abs(float64(x)))
			change = math.Max(change, math.Abs(float64(x-rp.Data[i])))
		}
		if r := diff / math.Max(scale, 1e-30); r > worst {
			worst = r
		}
		moved = math.Max(moved, change/math.Max(scale, 1e-30))
		if r := diff / math.Max(scale, 1e-30); r > 1e-6 {
			t.Errorf("%s: resident and host weights differ by %.3g relative after 20 GRPO steps", hp.Name, r)
		}
	}
	if moved < 1e-4 {
		t.Fatalf("GRPO moved the weights by at most %.3g relative: the comparison proves nothing", moved)
	}
	t.Logf("after 20 GRPO steps: worst relative weight difference %.3g (GRPO moved them by up to %.3g)", worst, moved)

	// The resident run counts its transfers; the host one has none.
	for _, r := range hostRecs {
		if _, ok := r.Values[metrics.H2DBytes]; ok {
			t.Fatalf("host-fed run logged %s at step %d", metrics.H2DBytes, r.Step)
		}
	}
	steps := 0
	for _, r := range devRecs {
		if r.Phase == "eval" {
			continue
		}
		steps++
		if r.Values[metrics.H2DBytes] <= 0 || r.Values[metrics.D2HBytes] <= 0 {
			t.Fatalf("resident %s step %d: h2d_bytes %v, d2h_bytes %v", r.Phase, r.Step, r.Values[metrics.H2DBytes], r.Values[metrics.D2HBytes])
		}
	}
	if steps != 3+20 {
		t.Fatalf("%d step records, want 23", steps)
	}
}

// finalParamsInit returns the weights the GRPO phase started from (the
// reference saved with the last checkpoint).
func finalParamsInit(t *testing.T, runDir string) *params.Store {
	t.Helper()
	ck, err := LatestCheckpoint(runDir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := params.Load(filepath.Join(ck, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResidentRunLedger runs a job on the resident path and reads the
// policy's transfer ledger at every step and checkpoint: from the GRPO
// phase's first checkpoint to the final evaluation (four GRPO steps of two
// optimizer steps each, and an evaluation) no weight or gradient byte
// crosses and no cache byte comes back; the last checkpoint copies exactly
// the trained weights and the two AdamW moments to the host; and each GRPO
// step moves O(tokens) bytes: its videos' patches (once for the rollout,
// the reference pass and the update), at most B x V logits per decoded
// token, decode-step token ids, and a bounded number of bytes per token of
// the batch. That bound is far below the model's weights, so the test
// fails if the trainer or the model feeds the weights from the host again,
// under any kind.
func TestResidentRunLedger(t *testing.T) {
	needNative(t)
	dir := t.TempDir()
	const prompts, group, maxNew = 2, 4, 6
	cfg := smallConfig(t, dir, "sft.steps=2", "sft.batch_size=4", "grpo.steps=4", "grpo.batch_prompts=2", "grpo.group_size=4",
		"grpo.mini_batches=2", "grpo.micro_batch_rows=4", "rollout.max_new_tokens=6", "checkpoint.every=0", "eval.before=true",
		"device.resident=true")
	var tr *Trainer
	type mark struct {
		point string
		step  int
		at    ort.Transfers
	}
	var marks []mark
	hook := func(point string, step int) {
		if point != "checkpoint" && point != "grpo/rollout" && point != "eval" {
			return
		}
		at, ok := tr.policy.Transfers()
		if !ok {
			t.Fatalf("%s@%d: the resident policy counts no transfers", point, step)
		}
		marks = append(marks, mark{point, step, at})
	}
	ctx := context.Background()
	var err error
	if tr, err = newTrainer(ctx, cfg, Options{hook: hook}); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if pol := tr.sessions.(*model.Policy); !pol.Resident() {
		t.Fatal("device.resident=true made a host-fed policy")
	}
	if _, err := tr.run(ctx); err != nil {
		t.Fatal(err)
	}
	trainable, err := tr.mc.TrainableStore(tr.store)
	if err != nil {
		t.Fatal(err)
	}
	trainedBytes := 4 * trainable.NumParams()
	weightBytes := tr.store.Bytes()

	// The marks, in order: eval@0 (before GRPO), checkpoint (phase
	// change), grpo/rollout@0..3, eval@4 (after GRPO), checkpoint (done).
	var names []string
	for _, m := range marks {
		names = append(names, m.point)
	}
	want := []string{"eval", "checkpoint", "grpo/rollout", "grpo/rollout", "grpo/rollout", "grpo/rollout", "eval", "checkpoint"}
	if !slices.Equal(names, want) {
		t.Fatalf("ledger marks %v, want %v", names, want)
	}
	between := marks[6].at.Sub(marks[1].at)
	if between.Bytes(ort.KindWeights) != 0 || between.Bytes(ort.KindGradients) != 0 || between.D2H[ort.KindCache] != 0 {
		t.Errorf("between the checkpoints, four GRPO steps and an evaluation moved weights, gradients or cache: %v", between)
	}
	last := marks[7].at.Sub(marks[6].at)
	if got := last.D2H[ort.KindWeights]; got != trainedBytes {
		t.Errorf("the last checkpoint read %d weight bytes, want the %d of the trained weights", got, trainedBytes)
	}
	if got := last.D2H[ort.KindOptimizer]; got != 2*trainedBytes {
		t.Errorf("the last checkpoint read %d optimizer bytes, want the two moments' %d", got, 2*trainedBytes)
	}
	if last.H2D[ort.KindWeights] != 0 {
		t.Errorf("the last evaluation and checkpoint uploaded %d weight bytes", last.H2D[ort.KindWeights])
	}

	// The sizes a GRPO step's traffic is bounded by.
	var videoBytes, promptLen int64
	for _, p := range tr.cache {
		var n int64
		for _, v := range p.Videos {
			n += int64(4 * len(v.Patches))
		}
		videoBytes = max(videoBytes, n)
		promptLen = max(promptLen, int64(len(p.IDs)))
	}
	rows := int64(prompts * group)
	perToken := int64(256)                                   // ids, positions, masks, key validity, log-probs, advantages: per token and pass
	tokenBytes := 3 * perToken * rows * (promptLen + maxNew) // rollout, reference pass, update
	if tokenBytes > weightBytes/2 {
		t.Fatalf("the bound (%d bytes per step besides patches and logits) is not far below the weights' %d: the test would not see them", tokenBytes, weightBytes)
	}
	for k := 2; k < 6; k++ {
		step := marks[k+1].at.Sub(marks[k].at)
		t.Logf("GRPO step %d: %v", k-2, step)
		if step.Bytes(ort.KindWeights) != 0 || step.Bytes(ort.KindGradients) != 0 || step.D2H[ort.KindCache] != 0 {
			t.Errorf("GRPO step %d moved weights, gradients or cache: %v", k-2, step)
		}
		// Per decode step: token ids, positions and validity in.
		if b := step.H2D[ort.KindCache]; b > 64*rows*(maxNew+1) {
			t.Errorf("GRPO step %d sent %d bytes of decode inputs for %d rows x %d tokens", k-2, b, rows, maxNew)
		}
		if b := step.D2H[ort.KindLogits]; b > 4*rows*int64(tr.mc.VocabSize)*(maxNew+1) {
			t.Errorf("GRPO step %d brought back %d bytes of logits for %d rows x %d tokens", k-2, b, rows, maxNew)
		}
		// Two optimizer steps: 7 float32 coefficients each; per
		// micro-batch a float32 weight and a bool reset.
		if b := step.Bytes(ort.KindOptimizer); b > 2*28+4*5 {
			t.Errorf("GRPO step %d moved %d optimizer bytes", k-2, b)
		}
		rest := step.H2DBytes() + step.D2HBytes() - step.Bytes(ort.KindCache) - step.D2H[ort.KindLogits] - 3*prompts*videoBytes
		if rest > tokenBytes {
			t.Errorf("GRPO step %d moved %d bytes besides %d of patches, logits and decode inputs: more than %d for its %d rows of %d tokens", k-2, rest, 3*prompts*videoBytes, tokenBytes, rows, promptLen+maxNew)
		}
	}
	t.Logf("weights %d bytes (trained %d); video %d bytes, prompt %d tokens; between checkpoints %v", weightBytes, trainedBytes, videoBytes, promptLen, between)
}

// smokeEnv names the execution provider TestTrainerDeviceSmoke runs on
// (as model.TestDeviceSmoke's).
const smokeEnv = "VIDEOSSR_SMOKE_PROVIDER"

// TestTrainerDeviceSmoke runs the trainer's device path on the execution
// provider $VIDEOSSR_SMOKE_PROVIDER (cuda or cpu; device
// $VIDEOSSR_SMOKE_DEVICE): a run of two warm-up and two GRPO steps with
// device.resident, and the same run resident on CPU. Both must finish with
// finite weights, h2d_bytes and d2h_bytes at every step, and the same loss
// at the first warm-up step (computed before any update: equal on CPU
// against itself, within 2e-2 relative on CUDA, whose matrix products may
// use TF32). It prints "smoke trainer" lines with each step's time and
// bytes. Unset, it is skipped: scripts/gpu-smoke.sh runs it.
func TestTrainerDeviceSmoke(t *testing.T) {
	provider := os.Getenv(smokeEnv)
	if provider == "" {
		t.Skip("set " + smokeEnv + "=cuda (or cpu) to run the trainer's device smoke test")
	}
	needNative(t)
	device := "0"
	if s := os.Getenv("VIDEOSSR_SMOKE_DEVICE"); s != "" {
		device = s
	}
	run := func(provider, device string) ([]metrics.Record, *params.Store) {
		dir := t.TempDir()
		cfg := smallConfig(t, dir, "sft.steps=2", "sft.batch_size=4", "grpo.steps=2", "grpo.batch_prompts=2", "grpo.group_size=4",
			"checkpoint.every=0", "eval.before=false", "device.resident=true", "device.provider="+provider, "device.device_id="+device)
		start := time.Now()
		if _, err := Run(context.Background(), cfg, Options{}); err != nil {
			t.Fatalf("%s: %v", provider, err)
		}
		recs, err := metrics.ReadFile(filepath.Join(dir, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Phase == "eval" {
				continue
			}
			h2d, ok1 := r.Values[metrics.H2DBytes]
			d2h, ok2 := r.Values[metrics.D2HBytes]
			if !ok1 || !ok2 {
				t.Errorf("%s: %s step %d without h2d_bytes/d2h_bytes", provider, r.Phase, r.Step)
			}
			took := "" // the warm-up steps are not timed
			if s, ok := r.Values[metrics.StepSeconds]; ok {
				took = fmt.Sprintf(", step %.3f s", s)
			}
			fmt.Printf("smoke trainer %s:%s %s step %d: loss %.4f%s, h2d %s, d2h %s\n", provider, device, r.Phase, r.Step,
				r.Values[metrics.Loss], took, model.FormatBytes(int64(h2d)), model.FormatBytes(int64(d2h)))
		}
		fmt.Printf("smoke trainer %s:%s run of 2+2 steps (data, evaluation and checkpoints included): %.1f s\n", provider, device, time.Since(start).Seconds())
		w := finalParams(t, dir)
		if !w.AllFinite() {
			t.Fatalf("%s: final weights not finite", provider)
		}
		return recs, w
	}
	dev, devW := run(provider, device)
	cpu, cpuW := run(ort.ProviderCPU, "0")
	tol := 0.0
	if provider != ort.ProviderCPU {
		tol = 2e-2
	}
	a, b := dev[0].Values[metrics.Loss], cpu[0].Values[metrics.Loss]
	if dev[0].Phase != "sft" || cpu[0].Phase != "sft" || math.Abs(a-b) > tol*math.Abs(b) {
		t.Fatalf("first warm-up loss %v on %s, %v on cpu", a, provider, b)
	}
	if provider == ort.ProviderCPU && devW.Checksum() != cpuW.Checksum() {
		t.Fatal("two resident CPU runs of the same config end with different weights")
	}
}
