package eval

// Evaluation files: reading them (JSONL in our layout, Parquet in verl's),
// checking every row before anything is decoded, and scoring answers into
// a Report (Tally), shared by 'trainer eval' and the trainer's eval.files.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// Sources knows the data sources an evaluation file may hold: VIUBench
// and pretext rows (the built-in rewards, or any source of Rewards),
// multiple choice and temporal grounding.
type Sources struct {
	// Rewards scores pretext rows (nil: the built-in rewards).
	Rewards *reward.Registry
}

func (s Sources) registry() *reward.Registry {
	if s.Rewards == nil {
		return reward.DefaultRegistry()
	}
	return s.Rewards
}

// ValidateGroundTruth implements dataset.GroundTruthChecker for reading
// Parquet files: the data source must be known; the answers are checked by
// CheckRows, which knows the row's subtype.
func (s Sources) ValidateGroundTruth(dataSource, _ string) error {
	if dataSource == SourceMultipleChoice || dataSource == SourceTemporalGrounding {
		return nil
	}
	_, err := s.registry().Lookup(dataSource)
	return err
}

// LoadRows reads an evaluation file: JSONL rows of our layout (what
// 'trainer gen' and 'trainer viubench build' write, and generic rows with
// a "video" file instead of frames) or a Parquet file in verl's layout. It
// returns the rows and the folder their relative paths start from. The
// rows are not checked: see CheckRows.
func LoadRows(ctx context.Context, path string, src Sources) ([]tasks.Sample, string, error) {
	base := filepath.Dir(path)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".jsonl", ".json":
		rows, err := dataset.ReadJSONLFile(path)
		return rows, base, err
	case ".parquet":
		rep, err := dataset.CheckFiles(ctx, []string{path}, dataset.FileOptions{Rewards: src})
		if err != nil {
			return nil, "", err
		}
		if rep.Problems != nil {
			return nil, "", rep.Problems
		}
		return rep.Samples, base, nil
	default:
		return nil, "", fmt.Errorf("%s: unknown extension %q (want .jsonl or .parquet)", path, ext)
	}
}

// CheckRows checks every row of an evaluation file before any is decoded:
// an id; a question or prompt messages; frame files that exist, or else a
// video file that exists; and an answer its scorer can score (a VIUBench
// answer of its subtype's form, an option letter, a "start-end" interval,
// a ground truth valid for the row's reward). Problems come back as a
// *dataset.CheckError naming the file, the row and the field of each.
func CheckRows(path, base string, rows []tasks.Sample, src Sources) error {
	reg := src.registry()
	ce := &dataset.CheckError{}
	for i := range rows {
		r := &rows[i]
		where := fmt.Sprintf("row %d", i)
		if r.ID != "" {
			where += fmt.Sprintf(" (id %s)", r.ID)
		}
		add := func(field string, err error) {
			ce.Problems = append(ce.Problems, dataset.Problem{File: path, Row: where, Field: field, Err: err})
		}
		if r.ID == "" {
			add("id", errors.New("empty"))
		}
		if len(r.Prompt) == 0 && strings.TrimSpace(r.Question) == "" {
			add("question", errors.New("neither a question nor prompt messages"))
		}
		if err := checkAnswer(r, reg); err != nil {
			field := "answer"
			if errors.Is(err, reward.ErrUnknownSource) {
				field = "data_source"
			}
			add(field, err)
		}
		if frames := r.Frames.All(); len(frames) > 0 {
			for _, p := range frames {
				if err := fileThere(base, p); err != nil {
					add("frames", err)
					break
				}
			}
		} else if r.Video == "" {
			add("frames", errors.New("neither frames nor a video file"))
		} else if err := fileThere(base, r.Video); err != nil {
			add("video", err)
		}
		if len(ce.Problems) >= 50 {
			ce.Truncated = true
			break
		}
	}
	if len(ce.Problems) > 0 {
		return ce
	}
	return nil
}

// checkAnswer checks that a row's answer can be scored.
func checkAnswer(r *tasks.Sample, reg *reward.Registry) error {
	switch {
	case isVIUBench(r.Subtype):
		_, err := reward.VIUBenchScore(r.Subtype, "", r.Answer)
		return err
	case string(r.DataSource) == SourceMultipleChoice:
		c, _ := utf8.DecodeRuneInString(strings.TrimSpace(r.Answer))
		if c == utf8.RuneError || !unicode.IsLetter(c) {
			return fmt.Errorf("%q: want the option letter", r.Answer)
		}
		return nil
	case string(r.DataSource) == SourceTemporalGrounding:
		_, err := reward.EvalGroundingIoU("", r.Answer)
		return err
	}
	return reg.ValidateGroundTruth(string(r.DataSource), r.Answer)
}

// fileThere checks that p (relative to base unless absolute) is a file.
func fileThere(base, p string) error {
	fp := filepath.FromSlash(p)
	if !filepath.IsAbs(fp) {
		fp = filepath.Join(base, fp)
	}
	st, err := os.Stat(fp)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", fp, err)
	case st.IsDir():
		return fmt.Errorf("%s is a folder", fp)
	}
	return nil
}

// Tally scores answers into a Report: VIUBench rows by their subtype's
// scorer, multiple choice by the option letter, temporal grounding by IoU,
// other rows by the reward of their data source.
type Tally struct {
	src    Sources
	viu    reward.VIUBenchAccumulator
	tg     reward.GroundingAccumulator
	rep    Report
	hasViu bool
	mcHits float64
}

// NewTally returns an empty tally whose pretext rows are scored by
// src.Rewards.
func NewTally(src Sources) *Tally {
	return &Tally{src: src, rep: Report{Pretext: map[string][2]float64{}}}
}

// Add scores a row's response and keeps the prediction.
func (t *Tally) Add(ctx context.Context, smp *tasks.Sample, response string) error {
	var err error
	p := Prediction{ID: smp.ID, DataSource: string(smp.DataSource), Subtype: smp.Subtype, Response: response, Answer: smp.Answer}
	switch {
	case isVIUBench(smp.Subtype):
		t.hasViu = true
		if p.Score, err = reward.VIUBenchScore(smp.Subtype, response, smp.Answer); err != nil {
			return fmt.Errorf("eval: row %s: %w", smp.ID, err)
		}
		if err := t.viu.Add(smp.Subtype, p.Score); err != nil {
			return err
		}
	case p.DataSource == SourceMultipleChoice:
		p.Score = reward.MultipleChoice(response, smp.Answer)
		t.mcHits += p.Score
		t.rep.MultipleChoice.N++
	case p.DataSource == SourceTemporalGrounding:
		if p.Score, err = reward.EvalGroundingIoU(response, smp.Answer); err != nil {
			return fmt.Errorf("eval: row %s: %w", smp.ID, err)
		}
		t.tg.Add(p.Score)
	default:
		it := reward.Item{DataSource: p.DataSource, Response: response, GroundTruth: smp.Answer}
		if p.Score, err = t.src.registry().ScoreOne(ctx, it); err != nil {
			return fmt.Errorf("eval: row %s: %w", smp.ID, err)
		}
		v := t.rep.Pretext[p.DataSource]
		t.rep.Pretext[p.DataSource] = [2]float64{v[0] + 1, v[1] + p.Score}
	}
	t.rep.Predictions = append(t.rep.Predictions, p)
	return nil
}

// Report returns the scores so far; name labels the VIUBench row.
func (t *Tally) Report(name string) *Report {
	rep := t.rep
	rep.Pretext = map[string][2]float64{}
	if t.hasViu {
		r := t.viu.Report(name)
		rep.VIUBench = &r
	}
	if rep.MultipleChoice.N > 0 {
		rep.MultipleChoice.Accuracy = t.mcHits / float64(rep.MultipleChoice.N)
	}
	rep.Grounding = t.tg.Stats()
	for k, v := range t.rep.Pretext {
		rep.Pretext[k] = [2]float64{v[0], v[1] / v[0]}
	}
	return &rep
}

// Score is the mean score over every prediction (0 without any).
func (r *Report) Score() float64 {
	if len(r.Predictions) == 0 {
		return 0
	}
	var sum float64
	for _, p := range r.Predictions {
		sum += p.Score
	}
	return sum / float64(len(r.Predictions))
}

// Metrics returns the report's numbers under their metrics.jsonl names for
// the evaluation file name (metrics.EvalFileMetric): the mean score of
// every row, and the VIUBench overall, the multiple-choice accuracy, the
// temporal-grounding mIoU and recalls and the mean reward per pretext data
// source, for the kinds of rows the file holds.
func (r *Report) Metrics(name string) map[string]float64 {
	m := map[string]float64{metrics.EvalFileMetric(name, metrics.EvalScore): r.Score()}
	if r.VIUBench != nil {
		m[metrics.EvalFileMetric(name, metrics.EvalVIUBench)] = r.VIUBench.Overall
	}
	if r.MultipleChoice.N > 0 {
		m[metrics.EvalFileMetric(name, metrics.EvalMCAccuracy)] = r.MultipleChoice.Accuracy
	}
	if g := r.Grounding; g.N > 0 {
		m[metrics.EvalFileMetric(name, metrics.EvalTGMIoU)] = g.MIoU
		m[metrics.EvalFileMetric(name, metrics.EvalTGR03)] = g.R03
		m[metrics.EvalFileMetric(name, metrics.EvalTGR05)] = g.R05
		m[metrics.EvalFileMetric(name, metrics.EvalTGR07)] = g.R07
	}
	for src, v := range r.Pretext {
		m[metrics.EvalFileMetric(name, metrics.EvalSourceReward(src))] = v[1]
	}
	return m
}
