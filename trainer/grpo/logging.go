package grpo

// Logging besides metrics.jsonl: TensorBoard event files
// (logging.backends) and the rollout logs (logging.rollouts_every).

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// TensorBoardDir is the folder of a run directory that holds its
// TensorBoard event files (logging.backends: [jsonl, tensorboard]).
const TensorBoardDir = "tb"

// openTensorBoard opens the run's event file when logging.backends names
// tensorboard. keep is the global step a resumed run continues after (-1:
// a fresh run). A fresh run removes the event files an earlier run left in
// the folder (as metrics.jsonl is truncated) and writes the resolved
// config as text; a resumed one starts its file with a resume marker at
// step keep+1, so TensorBoard drops the interrupted run's events from
// there on and shows each step once.
func (t *Trainer) openTensorBoard(keep int) error {
	if !t.cfg.LogsTo("tensorboard") {
		return nil
	}
	dir := filepath.Join(t.cfg.RunDir, TensorBoardDir)
	opt := metrics.TensorBoardOptions{}
	if keep >= 0 {
		opt.ResumeStep = keep + 1
	} else if err := removeEventFiles(dir); err != nil {
		return err
	}
	tb, err := metrics.OpenTensorBoard(dir, opt)
	if err != nil {
		return err
	}
	t.tb = tb
	if keep < 0 {
		y, err := t.cfg.YAML()
		if err != nil {
			return err
		}
		if err := tb.Text("config", "```yaml\n"+string(y)+"```\n"); err != nil {
			return err
		}
	}
	return tb.Flush()
}

// removeEventFiles removes the TensorBoard event files of dir (a missing
// folder has none).
func removeEventFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tensorboard: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() && strings.HasPrefix(e.Name(), "events.out.tfevents.") {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("tensorboard: %w", err)
			}
		}
	}
	return nil
}

// tensorBoardRecord is a metrics.jsonl record as TensorBoard shows it:
// the warm-up's metrics under sft/ (its loss is not GRPO's), the others
// by their metrics.jsonl names.
func tensorBoardRecord(r metrics.Record) metrics.Record {
	if r.Phase != "sft" {
		return r
	}
	vals := make(map[string]float64, len(r.Values))
	for k, v := range r.Values {
		vals["sft/"+k] = v
	}
	r.Values = vals
	return r
}

// rolloutLog is the run's rollout log (logging.rollouts_every).
func (t *Trainer) rolloutLog() metrics.RolloutLog {
	return metrics.RolloutLog{RunDir: t.cfg.RunDir, Every: t.cfg.Logging.RolloutsEvery}
}

// resetRollouts removes the rollout logs of an earlier run in the run
// directory when this one starts afresh (keep < 0), as metrics.jsonl is
// truncated; a resumed run rewrites the logs of the steps it runs again.
func (t *Trainer) resetRollouts(keep int) error {
	if keep >= 0 {
		return nil
	}
	files, err := metrics.ListRollouts(t.cfg.RunDir)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Remove(f.Path); err != nil {
			return fmt.Errorf("rollouts: %w", err)
		}
	}
	return nil
}

// logRollouts writes the rollouts of GRPO step index step (the log of
// GRPO step step+1, the grpo_step of its metrics) when
// logging.rollouts_every says so: per prompt its sample, prompt text and
// answer, and its G responses with reward, advantage, length and finish
// reason.
func (t *Trainer) logRollouts(step int, samples []tasks.Sample, responses []rollout.Sample, rewards, adv []float64) error {
	l := t.rolloutLog()
	if !l.Due(step + 1) {
		return nil
	}
	groups := make([]metrics.RolloutGroup, len(samples))
	for p := range samples {
		s := &samples[p]
		groups[p] = metrics.RolloutGroup{SampleID: s.ID, DataSource: string(s.DataSource), Subtype: s.Subtype, Prompt: userText(s.Prompt), Answer: s.Answer}
	}
	for i, r := range responses {
		g := &groups[r.Prompt]
		g.Responses = append(g.Responses, metrics.RolloutResponse{
			Text: r.Text, Reward: metrics.Float(rewards[i]), Advantage: metrics.Float(adv[i]), Tokens: len(r.Tokens), Finish: r.Finish,
		})
	}
	_, err := l.Write(step+1, groups)
	return err
}

// userText is the text of a prompt's user messages (video placeholders
// included).
func userText(msgs []tasks.Message) string {
	var parts []string
	for _, m := range msgs {
		if m.Role == "user" {
			parts = append(parts, m.Content)
		}
	}
	return strings.Join(parts, "\n")
}
