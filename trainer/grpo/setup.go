package grpo

// Building a Trainer: run directory, model, data, sessions, optimizer.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/trainer/metrics"
	"github.com/videossr/videossr-go/trainer/sysinfo"
)

// ErrNotSupported reports a configuration the trainer cannot run yet.
var ErrNotSupported = errors.New("not supported yet")

// sessionOptions maps the device config onto ONNX Runtime options.
func sessionOptions(d configs.DeviceConfig) ort.Options {
	return ort.Options{Provider: d.Provider, DeviceID: d.DeviceID, IntraOpThreads: d.IntraOpThreads, InterOpThreads: d.InterOpThreads}
}

// PolicySessions returns the session options of a policy's graphs: the
// rollout graphs (vision, prefill, decode; for a resident policy its
// device-cache decode and row selection too) with device.rollout_threads
// intra-op threads when set, the others with device.intra_op_threads.
func PolicySessions(d configs.DeviceConfig) (ort.Options, map[string]ort.Options) {
	base := sessionOptions(d)
	if d.RolloutThreads <= 0 {
		return base, nil
	}
	r := base
	r.IntraOpThreads = d.RolloutThreads
	per := map[string]ort.Options{}
	for _, g := range []string{model.GraphVision, model.GraphPrefill, model.GraphDecode, model.GraphDecodeStatic, model.GraphDecodeResident, model.GraphCacheSelect} {
		per[g] = r
	}
	return base, per
}

// residentDevice is the device a run's policy lives on with
// device.resident: ONNX Runtime's CPU memory on cpu, device_id's memory on
// cuda.
func residentDevice(d configs.DeviceConfig) ort.Device {
	if d.Provider == ort.ProviderCUDA {
		return ort.CUDADevice(d.DeviceID)
	}
	return ort.CPUDevice()
}

// policyOptions are the policy's options for a run of cfg: the training
// loss, the sessions (PolicySessions) and, with device.resident, the
// device that holds the weights, KV cache, gradients and optimizer state.
func policyOptions(cfg *configs.Config) model.PolicyOptions {
	base, per := PolicySessions(cfg.Device)
	o := model.PolicyOptions{Loss: LossConfig(cfg), Session: base, GraphSession: per}
	if cfg.Device.Resident {
		dev := residentDevice(cfg.Device)
		o.Device = &dev
	}
	return o
}

// optimizerFor returns how the trainer makes a phase's optimizer for pol:
// the device AdamW when pol is resident (gradients and moments stay on the
// device), else the host AdamW over the trainable weights with gradients
// summed on the host. A multi-device trainer returns its parallel
// optimizer here.
func optimizerFor(pol *model.Policy) func(optim.Config) (Optimizer, error) {
	return func(oc optim.Config) (Optimizer, error) {
		if pol.Resident() {
			o, err := model.NewDeviceAdamW(pol, oc)
			if err != nil {
				return nil, err
			}
			return deviceOptimizer{o}, nil
		}
		// With LoRA only the adapters are trained (the store shares their data).
		trainable, err := pol.Config.TrainableStore(pol.Store)
		if err != nil {
			return nil, err
		}
		o, err := optim.New(oc, trainable)
		if err != nil {
			return nil, err
		}
		return &hostOptimizer{policy: modelPolicy{pol}, opt: o}, nil
	}
}

func newTrainer(ctx context.Context, cfg *configs.Config, opt Options) (_ *Trainer, err error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := &Trainer{cfg: cfg, opt: opt, log: opt.Log, cache: map[string]rollout.Prompt{}, rewards: opt.Rewards}
	if t.rewards == nil {
		t.rewards = reward.DefaultRegistry()
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if err := t.addPlugins(); err != nil {
		return nil, err
	}
	if opt.Resume {
		if st, err := os.Stat(cfg.RunDir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("resume: run directory %s: %w", cfg.RunDir, cmp.Or(err, errors.New("not a folder")))
		}
	}
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	// One process per run directory; then tidy what a killed one left, and
	// check the checkpoint to resume before any long work.
	if t.lock, err = dataset.LockDir(cfg.RunDir); err != nil {
		return nil, fmt.Errorf("run dir: %w", err)
	}
	if err := recoverCheckpoints(cfg.RunDir, t.log.Warn); err != nil {
		return nil, err
	}
	if opt.Resume {
		if err := t.checkResume(); err != nil {
			return nil, err
		}
	}
	mc, store, err := t.loadModel()
	if err != nil {
		return nil, err
	}
	t.pad = mc.BosTokenID
	t.vopt = rollout.VideoOptions{MinPixels: cfg.Data.Sampling.MinPixels, MaxPixels: cfg.Data.Sampling.MaxPixels}

	// Resolved config, saved with the run.
	y, err := cfg.YAML()
	if err != nil {
		return nil, err
	}
	if !opt.Resume {
		if err := writeFileAtomic(filepath.Join(cfg.RunDir, "config.yaml"), y); err != nil {
			return nil, err
		}
	}

	// Memory plan, before data and sessions.
	if err := t.checkMemory(ctx, mc); err != nil {
		return nil, err
	}

	// Data first: it needs no model.
	logf := func(line string) { t.log.Warn(line) }
	files, err := t.loadFiles(ctx)
	if err != nil {
		return nil, err
	}
	if t.data, err = PrepareData(ctx, cfg, opt.Progress, logf); err != nil {
		return nil, err
	}
	t.data.addFiles(files)
	if err := t.checkGroundTruths(t.data); err != nil {
		return nil, err
	}
	if t.draw, err = newSampler(cfg.Seed, t.data.Train, cfg.Data.Mix); err != nil {
		return nil, err
	}
	t.draw.stratified = cfg.Data.Stratified
	if len(t.data.Warmup) > 0 {
		if err := t.draw.usePool("sft", t.data.Warmup); err != nil {
			return nil, err
		}
	}

	// Model.
	if t.rt, err = ort.Open(cfg.Device.Library); err != nil {
		return nil, err
	}
	t.mc, t.store = mc, store
	if ids := cfg.Device.DeviceIDs(); len(ids) > 1 {
		// One replica per device (docs/multi-device.md).
		if err := t.openReplicas(mc, store, ids); err != nil {
			return nil, err
		}
	} else {
		pol, err := model.NewPolicy(t.rt, mc, store, policyOptions(cfg))
		if err != nil {
			return nil, err
		}
		t.sessions = pol
		t.policy = modelPolicy{pol}
		t.makeOptimizer = optimizerFor(pol)
		t.engine = rollout.NewEngine(pol, mc, t.tok, t.pad)
	}
	if opt.wrapEngine != nil {
		t.engine = opt.wrapEngine(t.engine)
	}
	t.roll = t.rollouts()
	if opt.wrapRollout != nil {
		t.roll = opt.wrapRollout(t.roll)
	}
	t.state = State{Phase: "sft", Cursors: maps.Clone(t.draw.cursors)}
	t.unsaved = true
	if err := t.initCurriculum(); err != nil {
		return nil, err
	}

	keep := -1
	if opt.Resume {
		step, err := t.restore()
		if err != nil {
			return nil, err
		}
		keep = step
	}
	if t.optim == nil {
		if err := t.newOptimizer(); err != nil {
			return nil, err
		}
	}
	if t.met, err = metrics.OpenWriter(filepath.Join(cfg.RunDir, "metrics.jsonl"), keep); err != nil {
		return nil, err
	}
	if err := t.openTensorBoard(keep); err != nil {
		return nil, err
	}
	if err := t.resetRollouts(keep); err != nil {
		return nil, err
	}
	return t, nil
}

// loadModel returns the model config and weights of model.preset: the
// tiny Qwen2-VL over the configured tokenizer, freshly initialised, or a
// Hugging Face folder (model.path; its tokenizer.json unless
// model.tokenizer names another). With model.lora.rank > 0 the adapters
// are added.
func (t *Trainer) loadModel() (model.Config, *params.Store, error) {
	cfg := t.cfg
	var mc model.Config
	var store *params.Store
	var err error
	switch cfg.Model.Preset {
	case "tiny":
		if t.tok, err = model.LoadTokenizer(cfg.Model.TokenizerName()); err != nil {
			return mc, nil, fmt.Errorf("model.tokenizer: %w", err)
		}
		if mc, err = model.TinyFor(t.tok); err != nil {
			return mc, nil, fmt.Errorf("model.tokenizer: %w", err)
		}
		if store, err = mc.InitParams(cfg.Model.InitSeed); err != nil {
			return mc, nil, err
		}
	case "hf":
		if mc, store, err = model.LoadHFAs(cfg.Model.Path, baseDType(cfg.Model.LoRA)); err != nil {
			return mc, nil, fmt.Errorf("model.path: %w", err)
		}
		if t.tok, err = model.LoadTokenizer(cfg.Model.TokenizerName()); err != nil {
			return mc, nil, fmt.Errorf("model.tokenizer: %w", err)
		}
		if t.tok.VocabSize() > mc.VocabSize {
			return mc, nil, fmt.Errorf("model.tokenizer: %d tokens for a model with vocab_size %d", t.tok.VocabSize(), mc.VocabSize)
		}
	default:
		return mc, nil, fmt.Errorf("model.preset %q: %w (want tiny or hf)", cfg.Model.Preset, ErrNotSupported)
	}
	if l := cfg.Model.LoRA; l.Rank > 0 {
		// The base dtype is what the store now holds (LoadHFAs resolved
		// "stored"); a freshly initialised tiny base is float32 unless
		// base_dtype names a half type.
		dt := store.Params()[0].StorageDType()
		if want := baseDType(l); want != model.StoredDType {
			dt = want
		}
		mc.LoRA = loraConfig(l, dt)
		if err := mc.HoldBase(store); err != nil {
			return mc, nil, fmt.Errorf("model.lora.base_dtype: %w", err)
		}
		if err := mc.AddLoRA(store, cfg.Model.InitSeed); err != nil {
			return mc, nil, fmt.Errorf("model.lora: %w", err)
		}
		t.log.Info("lora", "rank", l.Rank, "base_dtype", dt, "base", model.FormatBytes(store.Bytes()))
	}
	return mc, store, nil
}

// loraConfig is the model's LoRA settings for model.lora with the base
// weights held as dtype.
func loraConfig(l configs.LoRAConfig, dtype string) *model.LoRAConfig {
	return &model.LoRAConfig{Rank: l.Rank, Alpha: l.Alpha, Dropout: l.Dropout, TargetModules: l.TargetModules, BaseDType: dtype}
}

// PlannedLoRA returns the LoRA settings a run of cfg will give the model c
// (nil without LoRA), for planning before the weights are read: a
// base_dtype of "stored" is taken from config.json's torch_dtype for a
// Hugging Face model and is float32 for the tiny one.
func PlannedLoRA(cfg *configs.Config, c model.Config) *model.LoRAConfig {
	l := cfg.Model.LoRA
	if l.Rank <= 0 {
		return nil
	}
	dt := baseDType(l)
	if dt == model.StoredDType {
		dt = safetensors.F32
		if st := model.DTypeOfTorch(c.TorchDtype); cfg.Model.Preset == "hf" && safetensors.IsHalf(st) {
			dt = st
		}
	}
	return loraConfig(l, dt)
}

// baseDType maps model.lora.base_dtype to the storage dtype LoadHFAs
// takes. Without LoRA every weight is trained, so it is float32.
func baseDType(l configs.LoRAConfig) string {
	if l.Rank <= 0 {
		return safetensors.F32
	}
	if dt := model.DTypeOfTorch(l.BaseDType); dt != "" {
		return dt
	}
	return model.StoredDType
}

// checkMemory logs the run's memory plan (weights, KV cache, activations,
// gradients, AdamW moments) and refuses, before any data is generated or
// any step runs, a plan that cannot fit: on CUDA the selected GPU's free
// memory, on CPU the available RAM (MemAvailable; without swap a larger
// run is killed by the kernel part-way). The error names the largest item
// and the keys that lower it. Sizes too large to plan in int64 bytes are
// refused the same way.
func (t *Trainer) checkMemory(ctx context.Context, mc model.Config) error {
	in, how := sysinfo.PlanInput(t.cfg, mc)
	if err := planOverflows(mc, in); err != nil {
		return err
	}
	dp := sysinfo.PlanDevices(t.cfg, mc, in)
	plan := dp.PerDevice
	largest, size := plan.Largest()
	t.log.Info("memory plan (trainer doctor prints the breakdown)", "total", model.FormatBytes(plan.Total), "largest", largest+" "+model.FormatBytes(size), "prompt_tokens", in.PromptLen, "estimate", how, "devices", dp.Devices)
	for _, l := range slices.Concat(plan.Lines, dp.Lines()) {
		t.log.Debug("memory plan", "item", l)
	}
	if t.cfg.Device.Provider == "cuda" {
		key := "device.device_id"
		if dp.Devices > 1 {
			key = "device.devices"
		}
		gpus, why := sysinfo.GPUs(ctx)
	next:
		for _, id := range t.cfg.Device.DeviceIDs() {
			for _, g := range gpus {
				if g.Index == id {
					if err := plan.Check(g.FreeMiB << 20); err != nil {
						return fmt.Errorf("%s: GPU %d (%s, %d MiB free): %w", key, g.Index, g.Name, g.FreeMiB, err)
					}
					continue next
				}
			}
			return fmt.Errorf("device.provider cuda: GPU %d not found (%s); run 'trainer doctor'", id, why)
		}
		return nil
	}
	_, avail, err := sysinfo.Meminfo("/proc/meminfo")
	if err != nil {
		t.log.Warn("memory plan not checked: cannot read the available RAM", "err", err)
		return nil
	}
	if err := dp.Check(avail); err != nil {
		return fmt.Errorf("device.provider cpu (%s RAM available; 'trainer doctor' prints the plan): %w", model.FormatBytes(avail), err)
	}
	return nil
}

// planOverflows refuses sizes whose memory plan would not fit in int64
// bytes: it evaluates the plan's two size-driven items (KV cache and
// activations, model.PlanMemory's formulas) in float64 first, and past
// 2^62 bytes names the sizes to lower.
func planOverflows(mc model.Config, in model.PlanInput) error {
	f := func(v int) float64 { return math.Max(float64(v), 0) }
	rows := f(in.Batch) * f(in.Group)
	micro := f(in.MicroBatch)
	if micro == 0 || micro > rows {
		micro = rows
	}
	seq := f(in.PromptLen) + f(in.ResponseLen)
	H, I, L := f(mc.HiddenSize), f(mc.IntermediateSize), f(mc.NumHiddenLayers)
	heads := f(mc.NumAttentionHeads)
	kv := f(mc.NumKeyValueHeads) * H / math.Max(heads, 1)
	kvCache := rows * seq * L * 2 * kv * 8
	perLayer := 7*H + 4*kv + 4*I + 2*heads*seq
	act := micro*seq*((L+1)*perLayer+2*H)*8 + micro*f(in.ResponseLen)*f(mc.VocabSize)*8
	if kvCache < 1<<62 && act < 1<<62 {
		return nil
	}
	return fmt.Errorf("%w: %.0f prompts x %.0f responses of %.0f tokens need more than 4 EiB; lower grpo.batch_prompts, grpo.group_size, grpo.micro_batch_rows or rollout.max_new_tokens",
		model.ErrOutOfMemory, f(in.Batch), f(in.Group), seq)
}

// referenceStore freezes the current policy as the KL reference. With
// LoRA the frozen base weights are shared (they never change) and only the
// adapters are copied, so the reference costs no second copy of the model
// (on the host or on the device).
func (t *Trainer) referenceStore() (*params.Store, error) {
	if err := t.policy.SyncHost(); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	st := t.store
	if t.mc.LoRA == nil {
		return st.Clone(), nil
	}
	ref := params.New()
	for _, p := range st.Params() {
		var err error
		if model.IsLoRAParam(p.Name) {
			_, err = ref.Add(p.Name, p.Shape, slices.Clone(p.Data))
		} else {
			_, err = ref.AddShared(p)
		}
		if err != nil {
			return nil, fmt.Errorf("reference: %w", err)
		}
	}
	return ref, nil
}

// newOptimizer makes the optimizer of the current phase (fresh moments),
// releasing the previous phase's.
func (t *Trainer) newOptimizer() error {
	var oc optim.Config
	switch t.state.Phase {
	case "sft":
		oc = optimConfig(t.cfg.SFT.Optim, t.cfg.SFT.Steps)
	default:
		oc = optimConfig(t.cfg.GRPO.Optim, t.cfg.GRPO.Steps)
	}
	if err := t.closeOptimizer(); err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	o, err := t.makeOptimizer(oc)
	if err != nil {
		return fmt.Errorf("optimizer: %w", err)
	}
	t.optim = o
	return nil
}

// closeOptimizer releases the optimizer's device state, if it has any.
func (t *Trainer) closeOptimizer() error {
	c, ok := t.optim.(io.Closer)
	t.optim = nil
	if !ok {
		return nil
	}
	return c.Close()
}
