package grpo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/eval"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// globalStep numbers SFT and GRPO steps on one axis (metrics, plots).
func (t *Trainer) globalStep() int { return t.state.SFTStep + t.state.GRPOStep }

// record writes one record of metrics.jsonl, with the step counts.
func (t *Trainer) record(phase string, vals map[string]float64) error {
	vals[metrics.SFTStep] = float64(t.state.SFTStep)
	vals[metrics.GRPOStep] = float64(t.state.GRPOStep)
	rec := metrics.Record{Step: t.globalStep(), Phase: phase, Time: time.Now(), Values: vals}
	if err := t.met.Write(rec); err != nil {
		return err
	}
	if t.tb != nil {
		if err := t.tb.WriteRecord(tensorBoardRecord(rec)); err != nil {
			return err
		}
		return t.tb.Flush()
	}
	return nil
}

func (t *Trainer) plot() {
	recs, err := metrics.ReadFile(t.met.Path())
	if err == nil {
		err = metrics.PlotAll(filepath.Join(t.cfg.RunDir, "plots"), recs)
	}
	if err != nil {
		t.log.Warn("plots not written", "err", err)
	}
}

// run is the whole job, phase by phase. An error where the run may have
// been stopped (a signal, Options.StopAfter) ends it through end, which
// then saves a checkpoint to resume from.
func (t *Trainer) run(ctx context.Context) (*Result, error) {
	if err := t.warmUp(ctx); err != nil {
		return t.end(ctx, err)
	}
	if err := t.evaluateBefore(ctx); err != nil {
		return t.end(ctx, err)
	}
	if err := t.trainGRPO(ctx); err != nil {
		return t.end(ctx, err)
	}
	res, err := t.finish(ctx)
	if err != nil {
		return t.end(ctx, err)
	}
	t.report(res)
	return res, nil
}

// stopPoint marks an error met where the run may have been stopped: end
// turns it into ErrStopped with a checkpoint when the context was
// cancelled or the error is ErrStopped.
type stopPoint struct{ err error }

func (s stopPoint) Error() string { return s.err.Error() }
func (s stopPoint) Unwrap() error { return s.err }

// mayStop marks err as met at a stop point.
func mayStop(err error) error { return stopPoint{err} }

// end returns a phase's error: at a stop point of a stopped run, after
// saving a checkpoint (ErrStopped, with how to continue); otherwise as it
// is.
func (t *Trainer) end(ctx context.Context, err error) (*Result, error) {
	var sp stopPoint
	if !errors.As(err, &sp) {
		return nil, err
	}
	err = sp.err
	if ctx.Err() == nil && !errors.Is(err, ErrStopped) {
		return nil, err
	}
	if cerr := t.saveStop(); cerr != nil {
		return nil, errors.Join(err, cerr)
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w (%w); continue it with: go run ./trainer --resume %s", ErrStopped, ctx.Err(), t.cfg.RunDir)
	}
	return nil, fmt.Errorf("%w; continue it with: go run ./trainer --resume %s", ErrStopped, t.cfg.RunDir)
}

// warmUp is phase 1: supervised warm-up steps on the pretext answers; the
// warmed-up policy is then frozen as the KL reference and GRPO gets a
// fresh optimizer.
func (t *Trainer) warmUp(ctx context.Context) error {
	cfg := t.cfg
	if t.state.Phase == "sft" {
		bar := metrics.NewBar(t.progress(), "warm-up", cfg.SFT.Steps)
		bar.Start(t.state.SFTStep)
		for t.state.SFTStep < cfg.SFT.Steps {
			if ctx.Err() != nil {
				return mayStop(ctx.Err())
			}
			moved := t.transfersSince()
			st, err := t.sftStep(ctx, t.state.SFTStep)
			if err != nil {
				return mayStop(err)
			}
			st.Moved = moved()
			t.state.SFTStep++
			t.commit()
			if err := t.record("sft", st.Metrics()); err != nil {
				return err
			}
			bar.Set(t.state.SFTStep, fmt.Sprintf("loss %.3f", st.Loss))
			if e := cfg.Checkpoint.Every; e > 0 && t.state.SFTStep%(e*5) == 0 {
				if err := t.checkpoint(); err != nil {
					return err
				}
			}
		}
		bar.Finish()
		t.state.Phase = "grpo"
		if cfg.GRPO.KLCoef > 0 {
			if err := t.freezeReference(); err != nil {
				return err
			}
		}
		if err := t.newOptimizer(); err != nil {
			return err
		}
		t.unsaved = true
		// With an evaluation before GRPO, the checkpoint follows it (one
		// write of the GRPO phase's first checkpoint, not two).
		if !cfg.Eval.Before {
			if err := t.checkpoint(); err != nil {
				return err
			}
		}
	}
	if cfg.GRPO.KLCoef > 0 && t.ref == nil { // resumed in the GRPO phase
		return t.freezeReference()
	}
	return nil
}

// freezeReference makes the current policy the KL reference, its weights
// on the device of a resident policy from now on (one upload).
func (t *Trainer) freezeReference() error {
	ref, err := t.referenceStore()
	if err != nil {
		return err
	}
	if err := t.policy.PrepareReference(ref); err != nil {
		return err
	}
	t.ref = ref
	return nil
}

// evaluateBefore scores the warmed-up policy on the held-out VIUBench,
// data.val_files and eval.files (eval.before), once per run.
func (t *Trainer) evaluateBefore(ctx context.Context) error {
	if t.state.Before != nil || t.state.EvaluatedBefore || !t.cfg.Eval.Before || t.state.GRPOStep != 0 || !t.hasEvals() {
		return nil
	}
	rep, vals, err := t.evaluateAll(ctx, "warm-up")
	if err != nil {
		return mayStop(err)
	}
	t.state.Before = rep
	t.state.EvaluatedBefore = true
	t.unsaved = true
	if err := t.record("eval", vals); err != nil {
		return err
	}
	return t.checkpoint()
}

// trainGRPO is phase 2: the GRPO steps, each recorded, with held-out
// evaluations every eval.every steps and checkpoints every
// checkpoint.every steps.
func (t *Trainer) trainGRPO(ctx context.Context) error {
	cfg := t.cfg
	bar := metrics.NewBar(t.progress(), "grpo", cfg.GRPO.Steps)
	bar.Start(t.state.GRPOStep)
	done := 0
	for t.state.GRPOStep < cfg.GRPO.Steps {
		if ctx.Err() != nil {
			return mayStop(ctx.Err())
		}
		if t.opt.StopAfter > 0 && done >= t.opt.StopAfter {
			return mayStop(ErrStopped)
		}
		moved := t.transfersSince()
		st, err := t.grpoStep(ctx, t.state.GRPOStep)
		if err != nil {
			return mayStop(err)
		}
		st.Moved = moved()
		t.state.GRPOStep++
		done++
		t.state.Rewards = append(t.state.Rewards, st.Reward)
		t.state.ZeroVar = append(t.state.ZeroVar, st.ZeroVarFrac)
		m := st.Metrics()
		t.curriculumStep(st, m)
		t.commit()
		if err := t.record("grpo", m); err != nil {
			return err
		}
		bar.Set(t.state.GRPOStep, fmt.Sprintf("reward %.3f", st.Reward), fmt.Sprintf("zero-var %.2f", st.ZeroVarFrac), fmt.Sprintf("kl %.4f", st.KL))
		if e := cfg.Eval.Every; e > 0 && t.state.GRPOStep%e == 0 && t.state.GRPOStep < cfg.GRPO.Steps && t.hasEvals() {
			_, vals, err := t.evaluateAll(ctx, fmt.Sprintf("step %d", t.state.GRPOStep))
			if err != nil {
				return mayStop(err)
			}
			if err := t.record("eval", vals); err != nil {
				return err
			}
		}
		if e := cfg.Checkpoint.Every; e > 0 && t.state.GRPOStep%e == 0 {
			if err := t.checkpoint(); err != nil {
				return err
			}
			t.plot()
		}
	}
	bar.Finish()
	t.plot()
	return nil
}

// finish scores the trained policy on the held-out VIUBench, writes the
// last checkpoint, the model folder final/ and result.json.
func (t *Trainer) finish(ctx context.Context) (*Result, error) {
	cfg := t.cfg
	res := &Result{RunDir: cfg.RunDir, Before: t.state.Before}
	if t.hasEvals() {
		after, vals, err := t.evaluateAll(ctx, "grpo")
		if err != nil {
			return nil, mayStop(err)
		}
		res.After = after
		if err := t.record("eval", vals); err != nil {
			return nil, err
		}
		t.plot() // with the final evaluation
		delete(vals, metrics.HeldoutMetric)
		delete(vals, metrics.SFTStep)
		delete(vals, metrics.GRPOStep)
		if len(vals) > 0 {
			res.Eval = vals
		}
	}
	t.state.Phase = "done"
	t.unsaved = true
	if err := t.checkpoint(); err != nil {
		return nil, err
	}
	if err := t.writeFinal(filepath.Join(cfg.RunDir, "final")); err != nil {
		return nil, err
	}
	res.Steps = t.state.GRPOStep
	res.RewardFirst, res.RewardLast = quarterMeans(t.state.Rewards)
	res.ZeroVarFirst, res.ZeroVarLast = quarterMeans(t.state.ZeroVar)
	res.Seed, res.Reward = cfg.Seed, cfg.Data.Reward
	if err := res.save(filepath.Join(cfg.RunDir, ResultFile)); err != nil {
		return nil, err
	}
	return res, nil
}

// report prints the before/after table (Options.Out).
func (t *Trainer) report(res *Result) {
	w, dir := t.opt.Out, t.cfg.RunDir
	if w == nil {
		return
	}
	if len(res.Eval) > 0 {
		names := slices.Sorted(maps.Keys(res.Eval))
		fmt.Fprintf(w, "\nEvaluation files after GRPO (data.val_files, eval.files; every evaluation in metrics.jsonl, phase eval):\n")
		for _, k := range names {
			fmt.Fprintf(w, "  %-40s %.4f\n", k, res.Eval[k])
		}
	}
	if res.After == nil {
		fmt.Fprintf(w, "\nno held-out VIUBench (data.heldout_videos is 0)\ntraining reward: first quarter %.3f -> last quarter %.3f\nrun directory: %s (metrics.jsonl, plots/, checkpoints/, final/)\n", res.RewardFirst, res.RewardLast, dir)
		return
	}
	tab := reward.VIUBenchTable{Counts: true}
	if res.Before != nil {
		tab.Rows = append(tab.Rows, *res.Before)
	}
	tab.Rows = append(tab.Rows, *res.After)
	fmt.Fprintf(w, "\nHeld-out VIUBench (%d questions), before and after GRPO:\n%s", res.After.Total(), tab.Table())
	fmt.Fprintf(w, "training reward: first quarter %.3f -> last quarter %.3f\nrun directory: %s (metrics.jsonl, plots/, checkpoints/, final/)\n", res.RewardFirst, res.RewardLast, dir)
}

func (t *Trainer) progress() io.Writer {
	if t.opt.Progress == nil {
		return io.Discard
	}
	return t.opt.Progress
}

// quarterMeans returns the mean of the first and of the last quarter of xs.
func quarterMeans(xs []float64) (first, last float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	q := max(1, len(xs)/4)
	first, _ = meanStd(xs[:q])
	last, _ = meanStd(xs[len(xs)-q:])
	return first, last
}

// evaluate runs greedy decoding over the held-out VIUBench and scores it.
func (t *Trainer) evaluate(ctx context.Context, name string) (*reward.VIUBenchReport, error) {
	var acc reward.VIUBenchAccumulator
	bar := metrics.NewBar(t.progress(), "eval "+name, len(t.data.Bench))
	prompt := func(s *tasks.Sample) (rollout.Prompt, error) { return t.prompt(s, t.data.BenchDir) }
	score := func(s *tasks.Sample, response string) error {
		sc, err := reward.VIUBenchScore(s.Subtype, response, s.Answer)
		if err != nil {
			return fmt.Errorf("eval: sample %s: %w", s.ID, err)
		}
		return acc.Add(s.Subtype, sc)
	}
	if err := eval.Answer(ctx, t.engine, t.data.Bench, 16, t.sampling(t.cfg.Eval.MaxNewTokens, 0), bar, prompt, score); err != nil {
		return nil, err
	}
	rep := acc.Report(name)
	t.log.Info("viubench", "name", name, "overall", rep.Overall)
	return &rep, nil
}

// saveProcessor writes the policy's processor settings (pixel
// normalisation, the run's frame area bounds) into dir.
func (t *Trainer) saveProcessor(dir string) error {
	s := t.cfg.Data.Sampling
	return model.SaveProcessor(dir, t.mc, s.MinPixels, s.MaxPixels)
}

// writeFinal writes the policy's model folder (writeModel) with its
// manifest, replacing the folder of that name atomically.
func (t *Trainer) writeFinal(dir string) error {
	tmp := dir + tmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := t.writeModel(tmp); err != nil {
		return err
	}
	if err := WriteManifest(tmp); err != nil {
		return err
	}
	return t.swapDir(tmp, dir, nil)
}

// writeModel writes the policy as a Hugging Face style folder
// (config.json, preprocessor_config.json, model.safetensors, tokenizer.json).
func (t *Trainer) writeModel(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := t.policy.SyncHost(); err != nil {
		return err
	}
	// With LoRA, final/ holds the merged weights (a plain model that eval
	// and export read as is) and the adapters alone in the PEFT layout.
	c, store := t.mc, t.store
	if c.LoRA != nil {
		if err := model.SaveAdapters(filepath.Join(dir, "adapter"), c, store, t.baseModelName()); err != nil {
			return err
		}
		var err error
		if c, store, err = model.MergeLoRA(c, store); err != nil {
			return err
		}
	}
	if dt := model.TorchDtypeOf(store); dt != "" {
		c.TorchDtype = dt
	}
	if err := c.SaveJSON(filepath.Join(dir, "config.json")); err != nil {
		return err
	}
	if err := t.saveProcessor(dir); err != nil {
		return err
	}
	if err := store.Save(filepath.Join(dir, "model.safetensors"), map[string]string{"format": "pt"}); err != nil {
		return err
	}
	tj, err := t.tok.Marshal()
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "tokenizer.json"), tj)
}
