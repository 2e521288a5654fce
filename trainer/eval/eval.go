// Package eval scores a trained model: it decodes evaluation rows greedily
// (VIUBench, multiple choice, temporal grounding, pretext samples) and
// scores the answers with the paper's scorers. The trainer's held-out
// evaluation during a run uses the same decoding (Answer).
package eval

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/video"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// Data sources of generic evaluation rows (besides the pretext sources).
const (
	SourceMultipleChoice    = "multiple_choice"    // answer: option letter; scored by the first character
	SourceTemporalGrounding = "temporal_grounding" // answer: "start-end" seconds; mIoU, R@0.3/0.5/0.7
)

// loadModel reads a model folder (model.LoadFolder) and its tokenizer.json,
// or the tiny tokenizer when the folder has none.
func loadModel(dir string) (model.Config, *params.Store, *tokenizer.Tokenizer, error) {
	c, store, err := model.LoadFolder(dir)
	if err != nil {
		return c, nil, nil, err
	}
	name := "tiny"
	if _, err := os.Stat(filepath.Join(dir, tokenizer.FileName)); err == nil {
		name = dir
	}
	tok, err := model.LoadTokenizer(name)
	if err != nil {
		return c, nil, nil, err
	}
	if tok.VocabSize() > c.VocabSize {
		return c, nil, nil, fmt.Errorf("%s: tokenizer has %d tokens, the model %d", dir, tok.VocabSize(), c.VocabSize)
	}
	return c, store, tok, nil
}

// Request describes an evaluation run.
type Request struct {
	// Model is a model folder (model.LoadFolder) with its tokenizer.json
	// (without one, the tiny tokenizer).
	Model string
	// Data is a JSONL file of samples in the project's schema: VIUBench
	// (trainer viubench build), pretext samples (trainer gen), or generic
	// rows with data_source multiple_choice or temporal_grounding, whose
	// frames come from "frames" or, when empty, by sampling "video".
	Data string
	// Library is the ONNX Runtime shared library ("" finds it as ort.Open
	// does); Session and GraphSession are the options of the policy's
	// sessions (model.PolicyOptions).
	Library      string
	Session      ort.Options
	GraphSession map[string]ort.Options
	// Frames, MinPixels and MaxPixels prepare videos (frames only for rows
	// that name a video file).
	Frames, MinPixels, MaxPixels int
	// MaxNewTokens bounds each (greedy) answer.
	MaxNewTokens int
	// Batch is the number of prompts decoded together.
	Batch int
	// Prompts words the rows that carry only a question (nil: ours).
	Prompts *tasks.Prompts
	// Progress receives a progress bar (nil: none).
	Progress io.Writer
}

// Prediction is one scored answer.
type Prediction struct {
	ID, DataSource, Subtype, Response, Answer string
	Score                                     float64
}

// Report holds the scores of an evaluation.
type Report struct {
	VIUBench       *reward.VIUBenchReport // nil without VIUBench rows
	MultipleChoice struct {
		N        int
		Accuracy float64
	}
	Grounding   reward.GroundingStats
	Pretext     map[string][2]float64 // data source -> {n, mean reward}
	Predictions []Prediction
}

// Evaluate decodes every row greedily and scores it with the paper's
// scorers.
func Evaluate(ctx context.Context, req Request) (*Report, error) {
	c, store, tok, err := loadModel(req.Model)
	if err != nil {
		return nil, err
	}
	src := Sources{}
	rows, base, err := LoadRows(ctx, req.Data, src)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("eval: %s has no rows", req.Data)
	}
	if err := CheckRows(req.Data, base, rows, src); err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	rt, err := ort.Open(req.Library)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	pol, err := model.NewPolicy(rt, c, store, model.PolicyOptions{Graphs: []string{model.GraphVision, model.GraphPrefill, model.GraphDecodeStatic}, Session: req.Session, GraphSession: req.GraphSession})
	if err != nil {
		return nil, err
	}
	defer pol.Close()
	eng := rollout.NewEngine(pol, c, tok, c.BosTokenID)
	vopt := rollout.VideoOptions{MinPixels: req.MinPixels, MaxPixels: req.MaxPixels}
	s := rollout.Sampling{Temperature: 0, TopP: 1, MaxNewTokens: max(1, req.MaxNewTokens)}
	if id, ok := tok.TokenID(tokenizer.EndOfText); ok {
		s.StopTokens = []int{id}
	}
	tally := NewTally(src)
	bar := metrics.NewBar(progressOrDiscard(req.Progress), "eval", len(rows))
	prompt := func(r *tasks.Sample) (rollout.Prompt, error) {
		frames, err := Frames(ctx, base, r, req.Frames)
		if err != nil {
			return rollout.Prompt{}, err
		}
		vo := vopt
		vo.FPS = r.FPS
		p, err := rollout.BuildPrompt(tok, c, Messages(r, len(frames), req.Prompts), frames, vo)
		if err != nil {
			return rollout.Prompt{}, fmt.Errorf("eval: row %s: %w", r.ID, err)
		}
		return p, nil
	}
	score := func(smp *tasks.Sample, response string) error { return tally.Add(ctx, smp, response) }
	if err := Answer(ctx, eng, rows, req.Batch, s, bar, prompt, score); err != nil {
		return nil, err
	}
	return tally.Report(filepath.Base(req.Model)), nil
}

// Messages returns a row's chat messages: its own prompt, or for a row
// with only a question, the question with one video placeholder per video
// input in the wording of prompts (nil: tasks.DefaultPrompts).
func Messages(r *tasks.Sample, numVideos int, prompts *tasks.Prompts) []tasks.Message {
	if len(r.Prompt) > 0 {
		return r.Prompt
	}
	if prompts == nil {
		d := tasks.DefaultPrompts()
		prompts = &d
	}
	return prompts.Messages(r.Question, numVideos, numVideos > 1)
}

func isVIUBench(subtype string) bool {
	for _, s := range reward.VIUBenchSubtypes() {
		if s == subtype {
			return true
		}
	}
	return false
}

func progressOrDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Frames returns a row's frames: its frame files (relative to base unless
// absolute), or n frames sampled from its video file (n <= 0: the
// sampler's default).
func Frames(ctx context.Context, base string, s *tasks.Sample, n int) ([][]*frame.Frame, error) {
	if len(s.Frames.All()) > 0 {
		return dataset.LoadFramesWith(opencv.Backend{}, base, s, dataset.ReadOptions{AllowOutside: true})
	}
	if s.Video == "" {
		return nil, fmt.Errorf("eval: row %s has neither frames nor video", s.ID)
	}
	p := s.Video
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	opt := video.DefaultSampleOptions()
	if n > 0 {
		opt.N = n
	}
	got, err := video.Sample(ctx, p, opt)
	if err != nil {
		return nil, fmt.Errorf("eval: row %s: %w", s.ID, err)
	}
	return [][]*frame.Frame{got.Frames}, nil
}

// Text renders the report.
func (r *Report) Text() string {
	var b strings.Builder
	if r.VIUBench != nil {
		b.WriteString(reward.VIUBenchTable{Rows: []reward.VIUBenchReport{*r.VIUBench}, Counts: true}.Table())
	}
	if r.MultipleChoice.N > 0 {
		fmt.Fprintf(&b, "multiple choice: %d questions, accuracy %.1f%%\n", r.MultipleChoice.N, 100*r.MultipleChoice.Accuracy)
	}
	if g := r.Grounding; g.N > 0 {
		fmt.Fprintf(&b, "temporal grounding: %d questions, mIoU %.1f, R@0.3 %.1f, R@0.5 %.1f, R@0.7 %.1f\n", g.N, 100*g.MIoU, 100*g.R03, 100*g.R05, 100*g.R07)
	}
	keys := make([]string, 0, len(r.Pretext))
	for k := range r.Pretext {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %d samples, mean reward %.3f\n", k, int(r.Pretext[k][0]), r.Pretext[k][1])
	}
	return b.String()
}

// Generator answers prompts (rollout.Engine implements it).
type Generator interface {
	Generate(ctx context.Context, prompts []rollout.Prompt, g int, s rollout.Sampling, seed uint64) ([]rollout.Sample, rollout.Stats, error)
}

var _ Generator = (*rollout.Engine)(nil)

// Answer decodes rows in batches of batch prompts, one answer per row with
// sampling s (greedy at temperature 0), and hands each row and its
// response to score; bar counts the rows done and is finished at the end.
func Answer(ctx context.Context, eng Generator, rows []tasks.Sample, batch int, s rollout.Sampling, bar *metrics.Bar,
	prompt func(*tasks.Sample) (rollout.Prompt, error), score func(*tasks.Sample, string) error) error {
	batch = max(1, batch)
	for lo := 0; lo < len(rows); lo += batch {
		ss := rows[lo:min(lo+batch, len(rows))]
		ps := make([]rollout.Prompt, len(ss))
		for i := range ss {
			p, err := prompt(&ss[i])
			if err != nil {
				return err
			}
			ps[i] = p
		}
		out, _, err := eng.Generate(ctx, ps, 1, s, 0)
		if err != nil {
			return err
		}
		for _, o := range out {
			if err := score(&ss[o.Prompt], o.Text); err != nil {
				return err
			}
		}
		bar.Set(min(lo+batch, len(rows)))
	}
	bar.Finish()
	return nil
}
