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
//	batch     <- collect            grpo.batch_prompts samples of the task mix, each
//	             drawPrompts          rolled out G times (one prefill per prompt, shared KV),
//	             rollOut              scored with its verifiable reward, and given
//	             score                (r - mean_group) / (std_group + eps) as advantages;
//	             advantages           with dynamic sampling and grpo.max_fill_rounds, more
//	                                  rounds of prompts until batch_prompts groups are informative
//	rows      <- keepInformative    every response; with dynamic sampling only groups whose rewards differ
//	ref       <- referenceLogProbs  the frozen reference's log-probs of the rows (KL loss)
//	update    <- update             PPO-clipped loss through the training graph, gradient accumulation, AdamW
//	stats     <- StepStats          metrics.jsonl, the progress bar

// grpoStep runs GRPO step number step and returns what it measured.
func (t *Trainer) grpoStep(ctx context.Context, step int) (StepStats, error) {
	start := time.Now()
	var st StepStats
	b, err := t.collect(ctx, step, &st)
	if err != nil {
		return st, err
	}
	if err := t.logRollouts(step, b.samples, b.responses, b.rewards, b.adv); err != nil {
		return st, err
	}
	rows := keepInformative(b.responses, b.adv, b.groups, t.cfg.GRPO.DynamicSampling, t.cfg.GRPO.BatchPrompts)
	st.RowsTrained = len(rows)
	if len(rows) == 0 {
		st.Skipped = 1 // no group to learn from: the step's update is skipped
		st.Seconds = time.Since(start).Seconds()
		return st, nil
	}
	mbs, err := t.microBatches(b.prompts, rows)
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

// batch is what a step's rounds drew, rolled out and scored, merged: the
// prompts of a round follow those of the rounds before it, and a
// response's Prompt (and its group) indexes the merged prompts.
type batch struct {
	samples      []tasks.Sample
	prompts      []rollout.Prompt
	responses    []rollout.Sample
	rewards, adv []float64
	groups       []GroupStats
}

// add appends a round's prompts and responses.
func (b *batch) add(samples []tasks.Sample, prompts []rollout.Prompt, responses []rollout.Sample, rewards, adv []float64, groups []GroupStats) {
	off := len(b.prompts)
	for _, r := range responses {
		r.Prompt += off
		b.responses = append(b.responses, r)
	}
	b.samples = append(b.samples, samples...)
	b.prompts = append(b.prompts, prompts...)
	b.rewards = append(b.rewards, rewards...)
	b.adv = append(b.adv, adv...)
	b.groups = append(b.groups, groups...)
}

// informative counts the groups whose rewards differ.
func (b *batch) informative() int {
	n := 0
	for _, g := range b.groups {
		if !g.ZeroVar {
			n++
		}
	}
	return n
}

// collect draws the step's prompts, rolls them out, scores them and
// computes their advantages: one round of grpo.batch_prompts prompts, and
// with dynamic sampling (DAPO) further rounds while fewer than
// batch_prompts groups are informative, at most grpo.max_fill_rounds of
// them. A further round draws as many prompts as the share of informative
// groups so far says are needed for the missing ones (batch_prompts when
// none was informative), so a step rolls out at most (1 + max_fill_rounds)
// x batch_prompts prompts. Each round's draws continue the sampler's
// cursors (committed with the step, so a resumed run redraws the same) and
// its rollouts have their own seed. The step's statistics cover every
// drawn prompt.
func (t *Trainer) collect(ctx context.Context, step int, st *StepStats) (*batch, error) {
	g := t.cfg.GRPO
	b := &batch{}
	var all rollout.ShardStats // every round's rollouts
	n := g.BatchPrompts
	for round := 0; ; round++ {
		samples, prompts, err := t.drawPrompts(step, round, n)
		if err != nil {
			return nil, err
		}
		if round == 0 {
			t.at("grpo/rollout", step)
		}
		responses, rs, err := t.rollOut(ctx, prompts, step, round)
		if err != nil {
			return nil, err
		}
		addShardStats(&all, rs)
		rewards, err := t.score(ctx, samples, responses)
		if err != nil {
			return nil, err
		}
		adv, groups, err := GroupAdvantages(rewards, g.GroupSize, g.NormAdvByStd, g.AdvEps)
		if err != nil {
			return nil, err
		}
		b.add(samples, prompts, responses, rewards, adv, groups)
		have := b.informative()
		if !g.DynamicSampling || round >= g.MaxFillRounds || have >= g.BatchPrompts {
			st.FillRounds, st.PromptsDrawn = round, len(b.samples)
			break
		}
		n = fillSize(g.BatchPrompts, have, len(b.samples))
	}
	st.setRollout(all, t.cfg.Device.DeviceIDs())
	batchStats(b, st)
	return b, nil
}

// fillSize is how many prompts a refill round draws: the missing
// informative groups divided by the share of informative groups drawn so
// far, rounded up, at most want (want when none was informative).
func fillSize(want, have, drawn int) int {
	if have == 0 {
		return want
	}
	missing := want - have
	return min(want, (missing*drawn+have-1)/have)
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
	// SourceTallies are per data source the summed rewards and the
	// (zero-variance) groups, what the curriculum reads.
	SourceTallies map[tasks.DataSource]SourceTally
	// PromptsDrawn are the prompts the step rolled out, in 1 + FillRounds
	// rounds (dynamic sampling's refill).
	PromptsDrawn, FillRounds int

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
	for src, tl := range s.SourceTallies {
		if tl.Groups > 0 {
			m[metrics.SourceZeroVarFrac(string(src))] = float64(tl.ZeroVar) / float64(tl.Groups)
		}
	}
	if s.PromptsDrawn > 0 {
		m[metrics.FillPromptsDrawn], m[metrics.FillRounds] = float64(s.PromptsDrawn), float64(s.FillRounds)
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

// drawPrompts draws round round's n samples of a step from the task mix
// and builds their model inputs.
func (t *Trainer) drawPrompts(step, round, n int) ([]tasks.Sample, []rollout.Prompt, error) {
	samples := t.draw.drawRound("grpo", step, round, n)
	prompts := make([]rollout.Prompt, len(samples))
	for i := range samples {
		p, err := t.prompt(&samples[i], t.data.dirOf(&samples[i]))
		if err != nil {
			return nil, nil, err
		}
		prompts[i] = p
	}
	return samples, prompts, nil
}

// rollOut samples G responses per prompt, group by group, from a random
// stream of (seed, step) (and for a refill round, the round): one prefill
// per prompt with the KV shared by its group, rollout.chunk_prompts
// prompts at a time.
func (t *Trainer) rollOut(ctx context.Context, prompts []rollout.Prompt, step, round int) ([]rollout.Sample, rollout.ShardStats, error) {
	r := t.cfg.Rollout
	seed := t.cfg.Seed*1_000_003 + uint64(step)
	if round > 0 {
		seed ^= uint64(round) * 0x9e3779b97f4a7c15
	}
	return t.rollouts().Generate(ctx, prompts, t.cfg.GRPO.GroupSize, t.sampling(r.MaxNewTokens, r.Temperature), seed, r.ChunkPrompts)
}

// score computes the verifiable reward of every response: the G responses
// of a sample as one batch of its reward (Options.Rewards). A scoring
// error (a plug-in that fails) stops the step, naming the sample.
func (t *Trainer) score(ctx context.Context, samples []tasks.Sample, responses []rollout.Sample) ([]float64, error) {
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
	return rewards, nil
}

// batchStats sets the step's reward statistics from every response of the
// batch: mean reward and response length, per source the mean and
// standard deviation of the rewards and its tally (SourceTally), and the
// share of zero-variance groups.
func batchStats(b *batch, st *StepStats) {
	bySource := map[tasks.DataSource][]float64{}
	st.SourceTallies = map[tasks.DataSource]SourceTally{}
	var tokens, sum float64
	for i, r := range b.responses {
		src := b.samples[r.Prompt].DataSource
		bySource[src] = append(bySource[src], b.rewards[i])
		tokens += float64(len(r.Tokens))
		sum += b.rewards[i]
		tl := st.SourceTallies[src]
		tl.RewardSum += b.rewards[i]
		tl.Responses++
		st.SourceTallies[src] = tl
	}
	for p, gs := range b.groups {
		src := b.samples[p].DataSource
		tl := st.SourceTallies[src]
		tl.Groups++
		if gs.ZeroVar {
			tl.ZeroVar++
		}
		st.SourceTallies[src] = tl
	}
	st.ResponseLength = tokens / float64(len(b.responses))
	st.Reward = sum / float64(len(b.rewards))
	st.SourceRewards = map[tasks.DataSource]RewardStats{}
	for src, rs := range bySource {
		mean, std := meanStd(rs)
		st.SourceRewards[src] = RewardStats{Mean: mean, Std: std}
	}
	st.ZeroVarFrac = ZeroVarianceFraction(b.groups)
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

// keepInformative returns the rows to train on: every response with its
// advantage and rollout log-probs, or with dynamic sampling only those of
// the first limit groups whose rewards differ (a group of equal rewards
// has zero advantages: no signal, only cost).
func keepInformative(responses []rollout.Sample, adv []float64, groups []GroupStats, dynamic bool, limit int) []row {
	keep := make([]bool, len(groups))
	n := 0
	for k, g := range groups {
		if !dynamic || (!g.ZeroVar && n < limit) {
			keep[k] = true
			n++
		}
	}
	rows := make([]row, 0, len(responses))
	for i, r := range responses {
		if !keep[r.Prompt] {
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
