package grpo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// loggingTrainer is a Trainer with only what record needs: the config and
// the metrics writers of runDir, opened as a fresh run (keep -1) or a
// resumed one.
func loggingTrainer(t *testing.T, runDir string, keep int, sets ...string) *Trainer {
	t.Helper()
	cfg, err := configs.Load(nil, append([]string{"run_dir=" + runDir}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	tr := &Trainer{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if tr.met, err = metrics.OpenWriter(filepath.Join(runDir, "metrics.jsonl"), keep); err != nil {
		t.Fatal(err)
	}
	if err := tr.openTensorBoard(keep); err != nil {
		t.Fatal(err)
	}
	return tr
}

// tensorBoardView loads the event files of dir as TensorBoard does: files
// in name order, and a resume marker (SessionLog START at step s) drops
// the events of steps >= s loaded before it. It returns the scalars as
// tag -> step -> values (more than one value is a duplicate) and the
// texts by tag.
func tensorBoardView(t *testing.T, dir string) (map[string]map[int64][]float32, map[string][]string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "events.out.tfevents.*"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	type scalar struct {
		tag  string
		step int64
		v    float32
	}
	var kept []scalar
	texts := map[string][]string{}
	for _, f := range files {
		evs, err := metrics.ReadEventFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.SessionStart {
				var k []scalar
				for _, s := range kept {
					if s.step < ev.Step {
						k = append(k, s)
					}
				}
				kept = k
			}
			for _, v := range ev.Values {
				if v.HasScalar {
					kept = append(kept, scalar{v.Tag, ev.Step, v.Scalar})
				}
				if len(v.Text) > 0 {
					texts[v.Tag] = append(texts[v.Tag], v.Text...)
				}
			}
		}
	}
	out := map[string]map[int64][]float32{}
	for _, s := range kept {
		if out[s.tag] == nil {
			out[s.tag] = map[int64][]float32{}
		}
		out[s.tag][s.step] = append(out[s.tag][s.step], s.v)
	}
	return out, texts
}

// TestTensorBoardMirrorsMetrics: with logging.backends [jsonl,
// tensorboard] every metric of metrics.jsonl is a TensorBoard scalar at its
// step (the warm-up's under sft/), the resolved config is a text, and a
// run resumed from a checkpoint shows each step once although the stopped
// run had logged steps past it; a fresh run in the same folder starts
// over.
func TestTensorBoardMirrorsMetrics(t *testing.T) {
	run := t.TempDir()
	sets := []string{"logging.backends=[jsonl, tensorboard]", "sft.steps=2"}
	tr := loggingTrainer(t, run, -1, sets...)
	write := func(tr *Trainer, phase string, sft, grpo int, vals map[string]float64) {
		tr.state.SFTStep, tr.state.GRPOStep = sft, grpo
		if err := tr.record(phase, vals); err != nil {
			t.Fatal(err)
		}
	}
	write(tr, "sft", 1, 0, map[string]float64{metrics.Loss: 3})
	write(tr, "sft", 2, 0, map[string]float64{metrics.Loss: 2})
	for g := 1; g <= 4; g++ { // steps 3..6; the run stops after step 6
		write(tr, "grpo", 2, g, map[string]float64{metrics.Loss: float64(g), metrics.RewardMean: 0.1 * float64(g)})
	}
	write(tr, "eval", 2, 4, map[string]float64{metrics.HeldoutMetric: 0.5})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	// Resumed from the checkpoint of global step 4: steps 5 and 6 again,
	// with other values, then step 7.
	tr = loggingTrainer(t, run, 4, sets...)
	for g := 3; g <= 5; g++ {
		write(tr, "grpo", 2, g, map[string]float64{metrics.Loss: 10 * float64(g), metrics.RewardMean: 0.2 * float64(g)})
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := metrics.ReadFile(filepath.Join(run, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	view, texts := tensorBoardView(t, filepath.Join(run, TensorBoardDir))
	n := 0
	for _, r := range recs {
		for k, v := range r.Values {
			tag := k
			if r.Phase == "sft" {
				tag = "sft/" + k
			}
			got := view[tag][int64(r.Step)]
			if len(got) != 1 || got[0] != float32(v) {
				t.Errorf("%s at step %d: TensorBoard shows %v, metrics.jsonl %v", tag, r.Step, got, v)
			}
			n++
		}
	}
	total := 0
	for _, steps := range view {
		total += len(steps)
	}
	if n < 20 || total != n {
		t.Errorf("%d values in metrics.jsonl, %d (tag, step) pairs in TensorBoard", n, total)
	}
	if got := view[metrics.Loss][6]; len(got) != 1 || got[0] != 40 {
		t.Errorf("loss at step 6 after the resume: %v, want the resumed run's 40 once", got)
	}
	if c := texts["config"]; len(c) != 1 || !strings.Contains(c[0], "backends:") || !strings.Contains(c[0], "tensorboard") {
		t.Errorf("config texts %q", c)
	}
	// A fresh run in the same directory starts the TensorBoard log over.
	tr = loggingTrainer(t, run, -1, sets...)
	write(tr, "sft", 1, 0, map[string]float64{metrics.Loss: 9})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	view, texts = tensorBoardView(t, filepath.Join(run, TensorBoardDir))
	if len(view) != 3 || len(view["sft/loss"]) != 1 || len(texts["config"]) != 1 {
		t.Errorf("fresh run over an old one: %v, %d config texts", view, len(texts["config"]))
	}
	// Without tensorboard in logging.backends no event file is written.
	other := t.TempDir()
	tr = loggingTrainer(t, other, -1)
	write(tr, "sft", 1, 0, map[string]float64{metrics.Loss: 1})
	tr.Close()
	if _, err := os.Stat(filepath.Join(other, TensorBoardDir)); !os.IsNotExist(err) {
		t.Errorf("tb/ written without the backend: %v", err)
	}
}

// TestRolloutLogs: with logging.rollouts_every 2 the GRPO steps 2 and 4
// write rollouts/step-00000N.jsonl with each prompt's G responses, their
// rewards, advantages (those the update used), lengths and finish
// reasons; the other steps write none, and a fresh run clears old logs.
func TestRolloutLogs(t *testing.T) {
	run := t.TempDir()
	stale := metrics.RolloutPath(run, 8)
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	answers := map[int][]string{}
	for k := range 8 {
		answers[k] = []string{"1", "0", "0.5", "0.5"}
	}
	f := newFakeLoop(t, 8, answers, numberReward(t), "run_dir="+run, "logging.rollouts_every=2")
	if err := f.t.resetRollouts(-1); err != nil {
		t.Fatal(err)
	}
	for step := range 4 {
		if _, err := f.t.grpoStep(context.Background(), step); err != nil {
			t.Fatal(err)
		}
	}
	files, err := metrics.ListRollouts(run)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Step != 2 || files[1].Step != 4 {
		t.Fatalf("rollout logs %+v, want steps 2 and 4 (the stale step 8 removed)", files)
	}
	groups, err := metrics.ReadRollouts(files[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != f.t.cfg.GRPO.BatchPrompts {
		t.Fatalf("%d groups", len(groups))
	}
	_, std := meanStd([]float64{1, 0, 0.5, 0.5})
	std *= math.Sqrt(4.0 / 3) // the unbiased std the advantages use
	for _, g := range groups {
		k, ok := f.sample[g.SampleID]
		if !ok || g.Step != 4 || g.DataSource != "counting" || g.Answer != "1,2,3" || len(g.Responses) != 4 {
			t.Fatalf("group %+v", g)
		}
		for r, resp := range g.Responses {
			want := answers[k][r]
			wantAdv := (float64(resp.Reward) - 0.5) / (std + f.t.cfg.GRPO.AdvEps)
			if resp.Text != want || fmt.Sprint(float64(resp.Reward)) != want || math.Abs(float64(resp.Advantage)-wantAdv) > 1e-9 ||
				resp.Tokens != r+2 || resp.Finish != "stop" {
				t.Errorf("sample %s response %d: %+v, want text %s, advantage %v, %d tokens", g.SampleID, r, resp, want, wantAdv, r+2)
			}
		}
	}
}
