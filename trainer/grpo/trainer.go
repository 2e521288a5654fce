// Package grpo is VideoSSR's training loop: a supervised warm-up on the
// pretext answers, then GRPO on self-supervised pretext tasks. One GRPO step
// reads like the paper's algorithm box:
//
//	prompts  <- draw a batch from the task mix
//	rollouts <- G samples per prompt (one prefill per prompt, shared KV)
//	rewards  <- verifiable partial-credit reward per data source
//	adv      <- (r - mean_group) / (std_group + eps)
//	ref      <- log-probs of the frozen reference (KL penalty)
//	update   <- PPO-clipped loss + k3 KL, gradients from the ONNX training graph, AdamW
//	log, evaluate, checkpoint
//
// step.go is one GRPO step in that order, a named function per phase.
// The math (advantages, KL estimators, loss aggregation, and Loss, the
// GRPO loss in plain Go) are pure functions in math.go; the loss that runs
// is the same formula as ONNX ops inside the training graph, held to Loss
// by a test.
package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/reward/plugin"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// Options are the run-time settings that are not part of the config.
type Options struct {
	// Resume continues the run in Config.RunDir from its last checkpoint.
	Resume bool
	// Progress receives progress bars (nil: none).
	Progress io.Writer
	// Out receives the before/after table (nil: none).
	Out io.Writer
	// Log receives structured logs (nil: discarded).
	Log *slog.Logger
	// Rewards scores the responses by data source (nil: the built-in
	// rewards, reward.DefaultRegistry). Register a scorer (a reward.ScoreFunc,
	// a reward/plugin command) to replace one; its errors stop the step.
	// The plug-ins of reward.plugins are registered into it.
	Rewards *reward.Registry
	// StopAfter, when > 0, stops the run (as SIGINT would: checkpoint and
	// return ErrStopped) after this many GRPO steps of this process.
	StopAfter int

	gradHook func(step int, grads map[string][]float32) // tests: corrupt gradients
	// hook (tests) is called at named points of the run: "sft" (a warm-up
	// step's batch drawn), "grpo/rollout" (a GRPO step's prompts drawn,
	// before the rollouts), "grpo/update" (after the first optimizer step of
	// a GRPO step), "eval" (an evaluation starts), "swap" (a checkpoint or
	// final/ write between moving the old folder aside and renaming the new
	// one in) and "checkpoint" (a checkpoint was written). step is the index
	// of the step being run, or for eval, swap and checkpoint the number of
	// completed GRPO steps.
	hook func(point string, step int)
	// wrapEngine (tests) wraps the rollout engine the trainer made.
	wrapEngine func(Engine) Engine
	// wrapRollout (tests) wraps the GRPO steps' rollout (one engine or
	// sharded over device.devices); onReplicas (tests) is given the
	// replicas of a multi-device run once they are loaded.
	wrapRollout func(Rollout) Rollout
	onReplicas  func(*model.Replicas)
}

// at calls the test hook, if any.
func (t *Trainer) at(point string, step int) {
	if t.opt.hook != nil {
		t.opt.hook(point, step)
	}
}

// ErrStopped reports a run stopped before its end (signal or StopAfter),
// after writing a checkpoint it can resume from.
var ErrStopped = errors.New("run stopped")

// ResultFile is the name of a finished run's result in its run directory.
const ResultFile = "result.json"

// Result is what a finished run reports (saved as RUN_DIR/result.json).
type Result struct {
	Before *reward.VIUBenchReport `json:"before"`
	After  *reward.VIUBenchReport `json:"after"`
	// RewardFirst and RewardLast are the mean training rewards of the first
	// and last quarter of the GRPO steps; ZeroVarFirst and ZeroVarLast the
	// mean fractions of zero-variance groups there.
	RewardFirst  float64 `json:"reward_first"`
	RewardLast   float64 `json:"reward_last"`
	ZeroVarFirst float64 `json:"zero_var_first"`
	ZeroVarLast  float64 `json:"zero_var_last"`
	Steps        int     `json:"steps"`
	Seed         uint64  `json:"seed"`
	Reward       string  `json:"reward"` // smooth | strict
	RunDir       string  `json:"run_dir"`

	// Eval holds the final evaluation of data.val_files and eval.files
	// under their metric names (metrics.ValRewardMean,
	// metrics.EvalFileMetric); nil without them.
	Eval map[string]float64 `json:"eval,omitempty"`
}

func (r *Result) save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}

// ReadResult reads RUN_DIR/result.json.
func ReadResult(runDir string) (*Result, error) {
	b, err := os.ReadFile(filepath.Join(runDir, ResultFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w (is the run finished?)", runDir, err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(runDir, ResultFile), err)
	}
	return &r, nil
}

// Trainer holds a run's state.
type Trainer struct {
	cfg *configs.Config
	opt Options
	log *slog.Logger
	rt  *ort.Runtime
	tok *tokenizer.Tokenizer
	// mc and store are the policy's architecture and weights (the host
	// copy that checkpoints save); ref is the frozen reference's weights
	// (nil without a KL loss).
	mc    model.Config
	store *params.Store
	ref   *params.Store
	// The loop's collaborators (loop.go), and the owner of the policy's
	// sessions.
	policy   Policy
	engine   Engine
	roll     Rollout // the GRPO rollouts; nil: engine's GenerateChunks (rollouts)
	optim    Optimizer
	sessions io.Closer
	data     *Data
	draw     *sampler
	rewards  *reward.Registry
	state    State
	met      *metrics.Writer
	cache    map[string]rollout.Prompt
	// cacheBytes is the patch memory held by cache (bounded by maxCacheBytes).
	cacheBytes int64
	vopt       rollout.VideoOptions
	pad        int
	// baseSum is the checksum of the frozen LoRA base (computed once; the
	// base never changes), recorded in checkpoints.
	baseSum string
	// lock is held on the run directory while the trainer lives.
	lock *dataset.Lock
	// resume is the checkpoint a resumed run starts from.
	resume *resumePoint
	// unsaved reports committed state (a completed step, a phase change,
	// the first evaluation) that no checkpoint holds yet.
	unsaved bool

	// plugins are the reward.plugins processes the run started; tb is the
	// TensorBoard writer (nil unless logging.backends names tensorboard).
	plugins []*plugin.Plugin
	tb      *metrics.TensorBoard
	// makeOptimizer makes a phase's optimizer (optimizerFor).
	makeOptimizer func(optim.Config) (Optimizer, error)
	// baseMix are the data.mix weights the curriculum moves from (nil
	// when it is off).
	baseMix map[tasks.DataSource]float64
}

// State is the part of a run that a checkpoint restores besides the
// parameters and optimizer moments.
type State struct {
	Phase    string                 `json:"phase"` // sft, grpo, done
	SFTStep  int                    `json:"sft_step"`
	GRPOStep int                    `json:"grpo_step"`
	Cursors  map[string]int         `json:"cursors"`
	Before   *reward.VIUBenchReport `json:"before,omitempty"`
	Rewards  []float64              `json:"rewards"`  // mean reward per GRPO step
	ZeroVar  []float64              `json:"zero_var"` // zero-variance group fraction per GRPO step

	// EvaluatedBefore is set once the evaluation before GRPO ran (with or
	// without a held-out VIUBench), so a resumed run does not repeat it.
	EvaluatedBefore bool `json:"evaluated_before,omitempty"`
	// Curriculum is the curriculum's levels, mix and window (nil when
	// curriculum.enabled is off).
	Curriculum *CurriculumState `json:"curriculum,omitempty"`
}

// Run executes the whole job the config describes: data, warm-up,
// evaluation, GRPO, evaluation, checkpoints and metrics.
func Run(ctx context.Context, cfg *configs.Config, opt Options) (*Result, error) {
	t, err := newTrainer(ctx, cfg, opt)
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.run(ctx)
}

// Close releases the sessions and files.
func (t *Trainer) Close() error {
	var errs []error
	if t.met != nil {
		errs = append(errs, t.met.Close())
	}
	if t.tb != nil {
		errs = append(errs, t.tb.Close())
	}
	errs = append(errs, t.closePlugins())
	errs = append(errs, t.closeOptimizer())
	if t.sessions != nil {
		errs = append(errs, t.sessions.Close())
	}
	if t.rt != nil {
		errs = append(errs, t.rt.Close())
	}
	errs = append(errs, t.lock.Unlock())
	return errors.Join(errs...)
}

// LossConfig is the training graph's loss for a run of cfg, the one
// definition the trainer and 'trainer export' share: the grpo section's
// clip ratios, KL estimator and coefficient (KL type none when kl_coef is
// 0, so the graph takes no reference log-probs), entropy coefficient and
// aggregation mode, rollout.temperature (1 when 0: greedy rollouts sample
// nothing to correct) and model.recompute.
func LossConfig(cfg *configs.Config) model.LossConfig {
	g, temperature := cfg.GRPO, cfg.Rollout.Temperature
	lc := model.DefaultGRPOLoss()
	lc.ClipLow, lc.ClipHigh, lc.ClipC = g.ClipLow, g.ClipHigh, g.ClipC
	lc.KLType, lc.KLCoef = g.KLType, g.KLCoef
	if g.KLCoef == 0 {
		lc.KLType = model.KLNone
	}
	lc.EntropyCoef = g.EntropyCoef
	lc.Agg = g.LossAgg
	if temperature > 0 {
		lc.Temperature = temperature
	}
	lc.Recompute = cfg.Model.Recompute
	return lc
}

// optimConfig maps a config optimizer section onto AdamW's.
func optimConfig(o configs.OptimConfig, steps int) optim.Config {
	c := optim.Config{
		LR: o.LR, Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay,
		MaxGradNorm: o.GradClip, Schedule: "constant", WarmupSteps: o.Warmup, TotalSteps: steps, MinLRRatio: o.MinLRRatio,
	}
	if o.Schedule == "warmup-cosine" || o.Schedule == "cosine" {
		c.Schedule = "cosine"
		c.TotalSteps = max(steps, 1)
		c.WarmupSteps = min(o.Warmup, c.TotalSteps-1) // a short run shortens the warmup
	}
	return c
}

// sampling returns the rollout settings (temperature 0 = greedy), stopping
// at the end-of-text token too.
func (t *Trainer) sampling(maxNew int, temperature float64) rollout.Sampling {
	r := t.cfg.Rollout
	s := rollout.Sampling{Temperature: temperature, TopP: r.TopP, TopK: r.TopK, MaxNewTokens: maxNew, StopStrings: r.Stop}
	if id, ok := t.tok.TokenID(tokenizer.EndOfText); ok {
		s.StopTokens = append(s.StopTokens, id)
	}
	if s.TopP <= 0 {
		s.TopP = 1
	}
	return s
}

// rewardSource is the reward a sample is scored with: its data source, or
// with data.reward strict the binary variant of it.
func (t *Trainer) rewardSource(s *tasks.Sample) string {
	return t.rewardSourceName(string(s.DataSource))
}

// checkGroundTruths validates every ground truth once, before training:
// the training samples and the warm-up's against the reward they are
// scored with, the held-out VIUBench against its scorer. A malformed one is
// an error naming the sample, not a response scored 0 at every step (or a
// warm-up that teaches a broken answer).
func (t *Trainer) checkGroundTruths(d *Data) error {
	pools := []map[tasks.DataSource][]tasks.Sample{d.Train, d.Warmup}
	for src, levels := range d.Levels {
		for l, v := range levels {
			if l != baseLevel {
				pools = append(pools, map[tasks.DataSource][]tasks.Sample{src: v})
			}
		}
	}
	for _, pool := range pools {
		for _, src := range poolSources(pool) {
			for i := range pool[src] {
				s := &pool[src][i]
				if err := t.rewards.ValidateGroundTruth(t.rewardSource(s), s.Answer); err != nil {
					return fmt.Errorf("data: training sample %s: %w", s.ID, err)
				}
			}
		}
	}
	for _, s := range d.Bench {
		if _, err := reward.VIUBenchScore(s.Subtype, "", s.Answer); err != nil {
			return fmt.Errorf("data: VIUBench sample %s: %w", s.ID, err)
		}
	}
	return nil
}

// maxCacheBytes bounds the patches the prompt cache keeps: the tiny run
// keeps every prompt; with 48 frames of 256x256 (~36 MB of patches each)
// only the first few dozen are kept and the rest are rebuilt from their
// JPEG frames when drawn again.
const maxCacheBytes = 1 << 30

func promptBytes(p rollout.Prompt) int64 {
	n := int64(8 * len(p.IDs))
	for _, v := range p.Videos {
		n += int64(4 * len(v.Patches))
	}
	return n
}

// prompt returns the model input of a sample (cached).
func (t *Trainer) prompt(s *tasks.Sample, dir string) (rollout.Prompt, error) {
	return t.cachedPrompt(s.ID, s, func() ([][]*frame.Frame, []tasks.Message, error) {
		// Samples from files (dir "") carry absolute frame paths, checked
		// when the files were loaded.
		frames, err := dataset.LoadFramesWith(opencv.Backend{}, dir, s, dataset.ReadOptions{AllowOutside: dir == ""})
		return frames, s.Prompt, err
	})
}

// cachedPrompt returns the model input of a sample, cached under key,
// built from the frames and messages load returns.
func (t *Trainer) cachedPrompt(key string, s *tasks.Sample, load func() ([][]*frame.Frame, []tasks.Message, error)) (rollout.Prompt, error) {
	if p, ok := t.cache[key]; ok {
		return p, nil
	}
	frames, msgs, err := load()
	if err != nil {
		return rollout.Prompt{}, err
	}
	vopt := t.vopt
	vopt.FPS = s.FPS
	p, err := rollout.BuildPrompt(t.tok, t.mc, msgs, frames, vopt)
	if err != nil {
		return rollout.Prompt{}, fmt.Errorf("sample %s: %w", s.ID, err)
	}
	if len(p.IDs) > t.cfg.Rollout.MaxPrompt {
		return rollout.Prompt{}, fmt.Errorf("sample %s: prompt of %d tokens exceeds rollout.max_prompt_tokens %d", s.ID, len(p.IDs), t.cfg.Rollout.MaxPrompt)
	}
	if n := promptBytes(p); t.cacheBytes+n <= maxCacheBytes {
		t.cache[key] = p
		t.cacheBytes += n
	}
	return p, nil
}

func (t *Trainer) prompts(ss []tasks.Sample, dir string) ([]rollout.Prompt, error) {
	out := make([]rollout.Prompt, len(ss))
	for i := range ss {
		p, err := t.prompt(&ss[i], dir)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// accumulate adds w * g into acc.
func accumulate(acc map[string][]float32, g map[string][]float32, w float64) {
	for name, v := range g {
		a, ok := acc[name]
		if !ok {
			a = make([]float32, len(v))
			acc[name] = a
		}
		wf := float32(w)
		for i, x := range v {
			a[i] += wf * x
		}
	}
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// SFTStats is what one supervised warm-up step measured. Metrics names
// each field in metrics.jsonl.
type SFTStats struct {
	Loss     float64 // token-mean NLL of the answers
	GradNorm float64 // before clipping
	LR       float64
	Skipped  bool // the loss or gradients were not finite: no update
	// Moved is what the step copied between host and device (nil on the
	// host-fed path).
	Moved *ort.Transfers
}

// Metrics returns the step's metrics under their metrics.jsonl names.
func (s SFTStats) Metrics() map[string]float64 {
	m := map[string]float64{metrics.Loss: s.Loss, metrics.GradNorm: s.GradNorm, metrics.LR: s.LR}
	if s.Skipped {
		m = map[string]float64{metrics.Loss: s.Loss, metrics.Skipped: 1}
	}
	addMoved(m, s.Moved)
	return m
}

// addMoved adds a step's host<->device bytes to its metrics (none when
// they were not counted).
func addMoved(m map[string]float64, moved *ort.Transfers) {
	if moved != nil {
		m[metrics.H2DBytes] = float64(moved.H2DBytes())
		m[metrics.D2HBytes] = float64(moved.D2HBytes())
	}
}

// transfersSince returns a function that reports what crossed between
// host and device from now until it is called (nil when the policy does
// not count its transfers).
func (t *Trainer) transfersSince() func() *ort.Transfers {
	before, ok := t.policy.Transfers()
	return func() *ort.Transfers {
		after, _ := t.policy.Transfers()
		if !ok {
			return nil
		}
		d := after.Sub(before)
		return &d
	}
}

// sftStep runs one supervised warm-up step over a batch: NLL of the answer
// (and the end-of-turn token), token-mean over the whole batch.
func (t *Trainer) sftStep(ctx context.Context, step int) (SFTStats, error) {
	c := t.cfg.SFT
	ss := t.draw.draw("sft", step, c.BatchSize)
	t.at("sft", step)
	ps, err := t.prompts(ss, t.data.TrainDir)
	if err != nil {
		return SFTStats{}, err
	}
	imEnd := t.mc.EosTokenID
	rows := make([]row, len(ss))
	tokens := 0
	for i := range ss {
		resp := append(t.tok.Encode(ss[i].Answer), imEnd)
		rows[i] = row{prompt: i, response: resp}
		tokens += len(resp)
	}
	mbs := splitMicro(ps, rows, t.cfg.GRPO.MicroBatchRows)
	micros := make([]Micro, len(mbs))
	for k, mb := range mbs {
		sb, vb, err := seqBatch(t.mc, ps, rows, mb, t.pad)
		if err != nil {
			return SFTStats{}, err
		}
		n := 0
		for _, i := range mb.rows {
			n += len(rows[i].response)
		}
		// exact token-mean over the batch
		micros[k] = Micro{Seq: sb, Vision: vb, Weight: float64(n) / float64(tokens)}
	}
	results, err := t.optim.Micros(ctx, model.GraphSFT, micros)
	if err != nil {
		return SFTStats{}, err
	}
	var loss float64
	for k, res := range results {
		loss += micros[k].Weight * res.Loss
	}
	st, err := t.optim.Step(context.WithoutCancel(ctx))
	if errors.Is(err, optim.ErrNonFinite) || !finite(loss) {
		t.log.Warn("sft step skipped: non-finite loss or gradients", "step", step, "loss", loss)
		return SFTStats{Loss: loss, Skipped: true}, nil
	}
	if err != nil {
		return SFTStats{}, err
	}
	return SFTStats{Loss: loss, GradNorm: st.GradNorm, LR: st.LR}, nil
}
