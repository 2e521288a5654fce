package grpo

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
)

// grpoStep is one GRPO step. It returns the step's metrics.
func (t *Trainer) grpoStep(ctx context.Context, step int) (map[string]float64, error) {
	g := t.cfg.GRPO
	t0 := time.Now()
	m := map[string]float64{}

	// 1. Prompts from the task mix.
	ss := t.draw.draw("grpo", step, g.BatchPrompts)
	ps, err := t.prompts(ss, t.data.TrainDir)
	if err != nil {
		return nil, err
	}
	t.at("grpo/rollout", step)

	// 2. G rollouts per prompt: one prefill per prompt, the KV shared
	// (rollout.chunk_prompts prompts at a time).
	samples, rst, err := t.engine.GenerateChunks(ctx, ps, g.GroupSize, t.sampling(t.cfg.Rollout.MaxNewTokens, t.cfg.Rollout.Temperature), t.cfg.Seed*1_000_003+uint64(step), t.cfg.Rollout.ChunkPrompts)
	if err != nil {
		return nil, err
	}
	m["rollout_tokens_per_s"] = rst.DecodeTPS
	m["rollout_s"] = (rst.Vision + rst.Prefill + rst.Gen).Seconds()

	// 3. Verifiable rewards.
	rewards := make([]float64, len(samples))
	var respLen float64
	bySource := map[tasks.DataSource][]float64{}
	for i, s := range samples {
		smp := &ss[s.Prompt]
		rewards[i] = t.reward(smp, s.Text)
		bySource[smp.DataSource] = append(bySource[smp.DataSource], rewards[i])
		respLen += float64(len(s.Tokens))
	}
	m["response_length"] = respLen / float64(len(samples))
	var all float64
	for _, r := range rewards {
		all += r
	}
	m["reward/mean"] = all / float64(len(rewards))
	for src, rs := range bySource {
		mean, std := meanStd(rs)
		m["reward/"+string(src)+"/mean"] = mean
		m["reward/"+string(src)+"/std"] = std
	}

	// 4. Group-relative advantages.
	adv, stats, err := GroupAdvantages(rewards, g.GroupSize, g.NormAdvByStd, g.AdvEps)
	if err != nil {
		return nil, err
	}
	m["zero_var_frac"] = ZeroVarianceFraction(stats)

	// Optional dynamic sampling: drop groups without signal.
	rows := make([]row, 0, len(samples))
	var rowAdv []float64
	var old [][]float64
	for i, s := range samples {
		if g.DynamicSampling && stats[s.Prompt].ZeroVar {
			continue
		}
		rows = append(rows, row{prompt: s.Prompt, response: s.Tokens})
		rowAdv = append(rowAdv, adv[i])
		old = append(old, s.LogProbs)
	}
	m["rows_trained"] = float64(len(rows))
	if len(rows) == 0 {
		m["skipped"] = 1
		m["step_s"] = time.Since(t0).Seconds()
		return m, nil
	}
	// Each micro-batch is laid out once, for the reference pass and every
	// update over it.
	mbs := splitMicro(ps, rows, g.MicroBatchRows)
	for k := range mbs {
		if mbs[k].seq, mbs[k].vision, err = seqBatch(t.policy.Config, ps, rows, mbs[k], t.pad); err != nil {
			return nil, err
		}
	}

	// 5. Reference log-probs (frozen initial policy) for the KL loss.
	ref := make([][]float64, len(rows))
	if t.ref != nil {
		rp := t.policy.WithStore(t.ref)
		for _, mb := range mbs {
			emb, err := rp.Encode(ctx, mb.vision)
			if err != nil {
				return nil, err
			}
			lp, _, err := rp.LogProbs(ctx, mb.seq, emb)
			if err != nil {
				return nil, err
			}
			for j, i := range mb.rows {
				ref[i] = lp[j*mb.seq.R : j*mb.seq.R+len(rows[i].response)]
			}
		}
	}

	// 6. Policy update: ppo_epochs x mini_batches optimizer steps; the
	// micro-batch losses of a mini-batch are averaged (verl's gradient
	// accumulation: each micro-batch's loss x 1/#micro-batches).
	// Once the first optimizer step has changed the weights the update
	// runs to its end even when ctx is cancelled: a stopped run then
	// checkpoints this completed step, never half an update.
	uctx := ctx
	var sums struct{ loss, pg, kl, ent, clip, akl, norm, lr, n, skipped float64 }
	for epoch := 0; epoch < max(1, g.PPOEpochs); epoch++ {
		for _, mini := range splitMini(mbs, max(1, g.MiniBatches)) {
			grads := map[string][]float32{}
			var loss float64
			ok := true
			for _, mb := range mini {
				sb := mb.seq
				in := model.StepInputs{Advantages: make([]float64, sb.B), OldLogProb: make([]float64, sb.B*sb.R)}
				if t.ref != nil {
					in.RefLogProb = make([]float64, sb.B*sb.R)
				}
				for j, i := range mb.rows {
					in.Advantages[j] = rowAdv[i]
					copy(in.OldLogProb[j*sb.R:], old[i])
					if t.ref != nil {
						copy(in.RefLogProb[j*sb.R:], ref[i])
					}
				}
				res, err := t.policy.TrainStep(uctx, model.GraphGRPO, sb, mb.vision, in)
				if err != nil {
					return nil, err
				}
				w := 1 / float64(len(mini))
				accumulate(grads, res.Grads, w)
				loss += w * res.Loss
				sums.pg += w * res.PGLoss
				sums.kl += w * res.KLLoss
				sums.ent += w * res.Entropy
				sums.clip += w * res.ClipFrac
				sums.akl += w * res.ApproxKL
				ok = ok && finite(res.Loss)
			}
			if t.opt.gradHook != nil {
				t.opt.gradHook(step, grads)
			}
			sums.loss += loss
			sums.n++
			if !ok {
				sums.skipped++
				t.log.Warn("grpo update skipped: non-finite loss", "step", step, "loss", loss)
				continue
			}
			st, err := t.optim.Step(grads)
			uctx = context.WithoutCancel(ctx)
			if sums.n == 1 {
				t.at("grpo/update", step)
			}
			if errors.Is(err, optim.ErrNonFinite) {
				sums.skipped++
				t.log.Warn("grpo update skipped: non-finite gradients", "step", step, "reason", err.Error())
				continue
			}
			if err != nil {
				return nil, err
			}
			sums.norm += st.GradNorm
			sums.lr = st.LR
		}
	}
	n := sums.n
	m["loss"], m["pg_loss"], m["kl_loss"] = sums.loss/n, sums.pg/n, sums.kl/n
	// kl: the KL estimate to the reference (kl_type, before kl_coef);
	// ppo_kl: the approximate KL of the update's old and new policy.
	m["entropy"], m["clip_frac"], m["kl"], m["ppo_kl"] = sums.ent/n, sums.clip/n, sums.kl/n, sums.akl/n
	if done := n - sums.skipped; done > 0 {
		m["grad_norm"] = sums.norm / done
	}
	m["lr"] = sums.lr
	m["skipped"] = sums.skipped
	m["step_s"] = time.Since(t0).Seconds()
	return m, nil
}

// splitMini splits micro-batches into k mini-batches of about equal size.
func splitMini(mbs []microBatch, k int) [][]microBatch {
	k = min(k, len(mbs))
	out := make([][]microBatch, k)
	for i, mb := range mbs {
		out[i*k/len(mbs)] = append(out[i*k/len(mbs)], mb)
	}
	return out
}

func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}

// sampling returns the rollout settings (temperature 0 = greedy).
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
