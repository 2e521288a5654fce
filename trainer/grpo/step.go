package grpo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// One GRPO step, top to bottom:
//
//	prompts   <- drawPrompts        grpo.batch_prompts samples of the task mix
//	responses <- rollOut            G responses per prompt (one prefill per prompt, shared KV)
//	rewards   <- score              the verifiable reward of each response
//	adv       <- advantages         (r - mean_group) / (std_group + eps), per group of G
//	rows      <- keepInformative    every response; with dynamic sampling only groups whose rewards differ
//	ref       <- referenceLogProbs  the frozen reference's log-probs of the rows (KL loss)
//	update    <- update             PPO-clipped loss through the training graph, gradient accumulation, AdamW
//	stats     <- StepStats          metrics.jsonl, the progress bar

// grpoStep runs GRPO step number step and returns what it measured.
func (t *Trainer) grpoStep(ctx context.Context, step int) (StepStats, error) {
	start := time.Now()
	var st StepStats
	samples, prompts, err := t.drawPrompts(step)
	if err != nil {
		return st, err
	}
	t.at("grpo/rollout", step)
	responses, err := t.rollOut(ctx, prompts, step, &st)
	if err != nil {
		return st, err
	}
	rewards, err := t.score(ctx, samples, responses, &st)
	if err != nil {
		return st, err
	}
	adv, groups, err := t.advantages(rewards, &st)
	if err != nil {
		return st, err
	}
	if err := t.logRollouts(step, samples, responses, rewards, adv); err != nil {
		return st, err
	}
	rows := keepInformative(responses, adv, groups, t.cfg.GRPO.DynamicSampling)
	st.RowsTrained = len(rows)
	if len(rows) == 0 {
		st.Skipped = 1 // no group to learn from: the step's update is skipped
		st.Seconds = time.Since(start).Seconds()
		return st, nil
	}
	mbs, err := t.microBatches(prompts, rows)
	if err != nil {
		return st, err
	}
	if err := t.referenceLogProbs(ctx, mbs, rows); err != nil {
		return st, err
	}
	if err := t.update(ctx, step, mbs, rows, &st); err != nil {
		return st, err
	}
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

// row is one response the update trains on.
type row struct {
	prompt   int       // index into the step's prompts
	response []int     // response tokens
	adv      float64   // its group-relative advantage
	old      []float64 // per response token: log-prob under the rollout policy
	ref      []float64 // per response token: log-prob under the frozen reference (nil without KL)
}

// StepStats is what one GRPO step measured. Metrics names each field in
// metrics.jsonl.
type StepStats struct {
	RolloutSeconds    float64 // wall time of the rollouts (vision, prefill, decoding)
	RolloutTokensPerS float64 // decoded tokens of every device per wall second
	ResponseLength    float64 // mean response length in tokens
	Reward            float64 // mean reward over every response
	// SourceRewards are the mean and (population) standard deviation of
	// the rewards per data source.
	SourceRewards map[tasks.DataSource]RewardStats
	ZeroVarFrac   float64 // share of groups whose G rewards are all equal
	RowsTrained   int     // responses the update trained on

	// The update (zero when no row was trained): Updates optimizer steps
	// were attempted (ppo_epochs x mini-batches) and Skipped of them
	// skipped for a non-finite loss or gradients; a step with no row to
	// train counts one skipped update. The losses and diagnostics are means
	// over the attempted updates, GradNorm over the applied ones, LR is the
	// last applied one's.
	Updates, Skipped                           int
	Loss, PGLoss, KL, PPOKL, Entropy, ClipFrac float64
	GradNorm, LR                               float64

	// Devices is the number of devices that rolled out prompts, and
	// DeviceTokensPerS each one's decoded tokens per second by its entry
	// in device.devices (nil with one device configured).
	Devices          int
	DeviceTokensPerS map[int]float64

	Seconds float64 // wall time of the step
	// Moved is what the step copied between host and device (nil on the
	// host-fed path, where nothing is counted).
	Moved *ort.Transfers
}

// RewardStats are the mean and standard deviation of a set of rewards.
type RewardStats struct{ Mean, Std float64 }

// Metrics returns the step's metrics under their metrics.jsonl names.
func (s StepStats) Metrics() map[string]float64 {
	m := map[string]float64{
		metrics.RolloutSeconds:    s.RolloutSeconds,
		metrics.RolloutTokensPerS: s.RolloutTokensPerS,
		metrics.ResponseLength:    s.ResponseLength,
		metrics.RewardMean:        s.Reward,
		metrics.ZeroVarFrac:       s.ZeroVarFrac,
		metrics.RowsTrained:       float64(s.RowsTrained),
		metrics.Skipped:           float64(s.Skipped),
		metrics.StepSeconds:       s.Seconds,
	}
	if s.Devices > 0 {
		m[metrics.Devices] = float64(s.Devices)
	}
	for id, v := range s.DeviceTokensPerS {
		m[metrics.DeviceRolloutTokensPerS(id)] = v
	}
	for src, r := range s.SourceRewards {
		m[metrics.SourceRewardMean(string(src))] = r.Mean
		m[metrics.SourceRewardStd(string(src))] = r.Std
	}
	addMoved(m, s.Moved)
	if s.Updates > 0 {
		m[metrics.Loss], m[metrics.PGLoss], m[metrics.KL], m[metrics.PPOKL] = s.Loss, s.PGLoss, s.KL, s.PPOKL
		m[metrics.Entropy], m[metrics.ClipFrac], m[metrics.LR] = s.Entropy, s.ClipFrac, s.LR
		if s.Updates > s.Skipped {
			m[metrics.GradNorm] = s.GradNorm
		}
	}
	return m
}

// drawPrompts draws the step's samples from the task mix and builds their
// model inputs.
func (t *Trainer) drawPrompts(step int) ([]tasks.Sample, []rollout.Prompt, error) {
	samples := t.draw.draw("grpo", step, t.cfg.GRPO.BatchPrompts)
	prompts, err := t.prompts(samples, t.data.TrainDir)
	return samples, prompts, err
}

// rollOut samples G responses per prompt, group by group, from a random
// stream of (seed, step): one prefill per prompt with the KV shared by its
// group, rollout.chunk_prompts prompts at a time.
func (t *Trainer) rollOut(ctx context.Context, prompts []rollout.Prompt, step int, st *StepStats) ([]rollout.Sample, error) {
	r := t.cfg.Rollout
	seed := t.cfg.Seed*1_000_003 + uint64(step)
	responses, rs, err := t.rollouts().Generate(ctx, prompts, t.cfg.GRPO.GroupSize, t.sampling(r.MaxNewTokens, r.Temperature), seed, r.ChunkPrompts)
	if err != nil {
		return nil, err
	}
	st.setRollout(rs, t.cfg.Device.DeviceIDs())
	return responses, nil
}

// score computes the verifiable reward of every response: the G responses
// of a sample as one batch of its reward (Options.Rewards). A scoring
// error (a plug-in that fails) stops the step, naming the sample.
func (t *Trainer) score(ctx context.Context, samples []tasks.Sample, responses []rollout.Sample, st *StepStats) ([]float64, error) {
	rewards := make([]float64, len(responses))
	for p, idx := range responsesByPrompt(responses) {
		s := &samples[p]
		items := make([]reward.Item, len(idx))
		extra := extraInfo(s)
		for k, i := range idx {
			items[k] = reward.Item{DataSource: t.rewardSource(s), Response: responses[i].Text, GroundTruth: s.Answer, ExtraInfo: extra}
		}
		scores, err := t.rewards.Score(ctx, items)
		if err != nil {
			return nil, fmt.Errorf("score sample %s: %w", s.ID, err)
		}
		for k, i := range idx {
			rewards[i] = scores[k]
		}
	}
	bySource := map[tasks.DataSource][]float64{}
	var tokens, sum float64
	for i, r := range responses {
		src := samples[r.Prompt].DataSource
		bySource[src] = append(bySource[src], rewards[i])
		tokens += float64(len(r.Tokens))
	}
	for _, r := range rewards {
		sum += r
	}
	st.ResponseLength = tokens / float64(len(responses))
	st.Reward = sum / float64(len(rewards))
	st.SourceRewards = map[tasks.DataSource]RewardStats{}
	for src, rs := range bySource {
		mean, std := meanStd(rs)
		st.SourceRewards[src] = RewardStats{Mean: mean, Std: std}
	}
	return rewards, nil
}

// responsesByPrompt returns the indices of each prompt's responses, by
// prompt index, in order.
func responsesByPrompt(responses []rollout.Sample) [][]int {
	var by [][]int
	for i, r := range responses {
		for len(by) <= r.Prompt {
			by = append(by, nil)
		}
		by[r.Prompt] = append(by[r.Prompt], i)
	}
	return by
}

// advantages computes the group-relative advantages of the rewards (laid
// out group by group).
func (t *Trainer) advantages(rewards []float64, st *StepStats) ([]float64, []GroupStats, error) {
	g := t.cfg.GRPO
	adv, groups, err := GroupAdvantages(rewards, g.GroupSize, g.NormAdvByStd, g.AdvEps)
	if err != nil {
		return nil, nil, err
	}
	st.ZeroVarFrac = ZeroVarianceFraction(groups)
	return adv, groups, nil
}

// keepInformative returns the rows to train on: every response with its
// advantage and rollout log-probs, or with dynamic sampling only those of
// groups whose rewards differ (a group of equal rewards has zero
// advantages: no signal, only cost).
func keepInformative(responses []rollout.Sample, adv []float64, groups []GroupStats, dynamic bool) []row {
	rows := make([]row, 0, len(responses))
	for i, r := range responses {
		if dynamic && groups[r.Prompt].ZeroVar {
			continue
		}
		rows = append(rows, row{prompt: r.Prompt, response: r.Tokens, adv: adv[i], old: r.LogProbs})
	}
	return rows
}

// microBatches splits the rows into micro-batches of at most
// grpo.micro_batch_rows rows whose videos share a frame size, each laid
// out once for the reference pass and every update over it.
func (t *Trainer) microBatches(prompts []rollout.Prompt, rows []row) ([]microBatch, error) {
	mbs := splitMicro(prompts, rows, t.cfg.GRPO.MicroBatchRows)
	for k := range mbs {
		var err error
		if mbs[k].seq, mbs[k].vision, err = seqBatch(t.mc, prompts, rows, mbs[k], t.pad); err != nil {
			return nil, err
		}
	}
	return mbs, nil
}

// referenceLogProbs fills in each row's log-probs under the frozen
// reference policy (none without a KL loss).
func (t *Trainer) referenceLogProbs(ctx context.Context, mbs []microBatch, rows []row) error {
	if t.ref == nil {
		return nil
	}
	lps, err := referencePass(ctx, t.policy, t.ref, mbs)
	if err != nil {
		return err
	}
	for k, mb := range mbs {
		lp := lps[k]
		for j, i := range mb.rows {
			rows[i].ref = lp[j*mb.seq.R : j*mb.seq.R+len(rows[i].response)]
		}
	}
	return nil
}

// update runs grpo.ppo_epochs x grpo.mini_batches optimizer steps over the
// micro-batches. The micro-batch losses of a mini-batch are averaged
// (verl's gradient accumulation: each micro-batch's gradient x 1/#micro-
// batches); a mini-batch whose loss or gradients are not finite is
// skipped. Once the first optimizer step has changed the weights the
// update runs to its end even when ctx is cancelled: a stopped run then
// checkpoints this completed step, never half an update.
func (t *Trainer) update(ctx context.Context, step int, mbs []microBatch, rows []row, st *StepStats) error {
	g := t.cfg.GRPO
	uctx := ctx
	var loss, pg, kl, ent, clip, akl, norm float64
	for epoch := 0; epoch < max(1, g.PPOEpochs); epoch++ {
		for _, mini := range splitMini(mbs, max(1, g.MiniBatches)) {
			w := 1 / float64(len(mini))
			micros := make([]Micro, len(mini))
			for k, mb := range mini {
				micros[k] = Micro{Seq: mb.seq, Vision: mb.vision, Inputs: stepInputs(mb, rows, t.ref != nil), Weight: w}
			}
			results, err := t.optim.Micros(uctx, model.GraphGRPO, micros)
			if err != nil {
				return err
			}
			var miniLoss float64
			finiteLoss := true
			for _, res := range results {
				miniLoss += w * res.Loss
				pg += w * res.PGLoss
				kl += w * res.KLLoss
				ent += w * res.Entropy
				clip += w * res.ClipFrac
				akl += w * res.ApproxKL
				finiteLoss = finiteLoss && finite(res.Loss)
			}
			if err := t.gradHook(step); err != nil {
				return err
			}
			loss += miniLoss
			st.Updates++
			if !finiteLoss {
				t.optim.Discard()
				st.Skipped++
				t.log.Warn("grpo update skipped: non-finite loss", "step", step, "loss", miniLoss)
				continue
			}
			// The update itself is never cancelled half-way.
			uctx = context.WithoutCancel(ctx)
			applied, err := t.optim.Step(uctx)
			if st.Updates == 1 {
				t.at("grpo/update", step)
			}
			if errors.Is(err, optim.ErrNonFinite) {
				st.Skipped++
				t.log.Warn("grpo update skipped: non-finite gradients", "step", step, "reason", err.Error())
				continue
			}
			if err != nil {
				return err
			}
			norm += applied.GradNorm
			st.LR = applied.LR
		}
	}
	n := float64(st.Updates)
	st.Loss, st.PGLoss, st.KL, st.Entropy, st.ClipFrac, st.PPOKL = loss/n, pg/n, kl/n, ent/n, clip/n, akl/n
	if done := st.Updates - st.Skipped; done > 0 {
		st.GradNorm = norm / float64(done)
	}
	return nil
}

// gradHook lets the tests' gradient hook (Options.gradHook) change the
// pending gradients before an optimizer step.
func (t *Trainer) gradHook(step int) error {
	if t.opt.gradHook == nil {
		return nil
	}
	ge, ok := t.optim.(gradientEditor)
	if !ok {
		return fmt.Errorf("gradient hook: the optimizer %T does not expose its gradients", t.optim)
	}
	grads, err := ge.Gradients()
	if err != nil {
		return err
	}
	t.opt.gradHook(step, grads)
	return ge.SetGradients(grads)
}

// stepInputs are the GRPO inputs of a micro-batch's rows: advantages, and
// per response token the old and (withRef) reference log-probs.
func stepInputs(mb microBatch, rows []row, withRef bool) model.StepInputs {
	B, R := mb.seq.B, mb.seq.R
	in := model.StepInputs{Advantages: make([]float64, B), OldLogProb: make([]float64, B*R)}
	if withRef {
		in.RefLogProb = make([]float64, B*R)
	}
	for j, i := range mb.rows {
		in.Advantages[j] = rows[i].adv
		copy(in.OldLogProb[j*R:], rows[i].old)
		if withRef {
			copy(in.RefLogProb[j*R:], rows[i].ref)
		}
	}
	return in
}
