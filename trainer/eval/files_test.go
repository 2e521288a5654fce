package eval

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// evalRow is an evaluation row with one frame file (created under dir).
func evalRow(t *testing.T, dir, id, source, subtype, answer string) tasks.Sample {
	t.Helper()
	rel := filepath.Join("frames", id+".jpg")
	if err := os.MkdirAll(filepath.Join(dir, "frames"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rel), []byte("jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	return tasks.Sample{
		ID: id, DataSource: tasks.DataSource(source), Subtype: subtype, Answer: answer, FPS: 1,
		Frames:   tasks.FrameList{Flat: []string{filepath.ToSlash(rel)}},
		Question: "question " + id, Prompt: tasks.BuildPrompt("question "+id, 1, false),
	}
}

// TestCheckRowsNamesEveryProblem: every row an evaluation cannot score is
// reported with the file, the row and the field, before any decoding.
func TestCheckRowsNamesEveryProblem(t *testing.T) {
	dir := t.TempDir()
	good := []tasks.Sample{
		evalRow(t, dir, "v", "counting", reward.SubtypeCountingEasy, "1,0,2"),
		evalRow(t, dir, "mc", SourceMultipleChoice, "", "B"),
		evalRow(t, dir, "tg", SourceTemporalGrounding, "", "1.5 - 3"),
		evalRow(t, dir, "p", "jigsaw", "", "21"),
	}
	if err := CheckRows("good.jsonl", dir, good, Sources{}); err != nil {
		t.Fatal(err)
	}
	bad := []tasks.Sample{
		evalRow(t, dir, "v", "counting", reward.SubtypeCountingEasy, "three"),
		evalRow(t, dir, "mc", SourceMultipleChoice, "", " "),
		evalRow(t, dir, "tg", SourceTemporalGrounding, "", "soon"),
		evalRow(t, dir, "u", "captioning", "", "a dog"),
		evalRow(t, dir, "f", "counting", "", "1,2,3"),
		{ID: "nv", DataSource: SourceMultipleChoice, Answer: "A", Question: "q"},
		{ID: "gv", DataSource: SourceMultipleChoice, Answer: "A", Question: "q", Video: "gone.mp4"},
		{ID: "nq", DataSource: SourceMultipleChoice, Answer: "A", Video: "frames/v.jpg"},
	}
	bad[4].Frames.Flat = []string{"frames/missing.jpg"}
	err := CheckRows("bad.jsonl", dir, bad, Sources{})
	var ce *dataset.CheckError
	if !errors.As(err, &ce) || len(ce.Problems) != len(bad) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{
		"bad.jsonl: row 0 (id v): field answer:", "bad.jsonl: row 1 (id mc): field answer:", "want the option letter",
		"row 2 (id tg): field answer:", `row 3 (id u): field data_source:`, `unknown data source "captioning"`,
		"row 4 (id f): field frames:", "missing.jpg", "row 5 (id nv): field frames: neither frames nor a video file",
		"row 6 (id gv): field video:", "gone.mp4", "row 7 (id nq): field question:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	// A data source of a registered reward (a plug-in's) is scorable.
	reg := reward.DefaultRegistry()
	if err := reg.Register("captioning", reward.ScoreFunc(func(context.Context, reward.Item) (float64, error) { return 1, nil })); err != nil {
		t.Fatal(err)
	}
	if err := CheckRows("x.jsonl", dir, bad[3:4], Sources{Rewards: reg}); err != nil {
		t.Fatal(err)
	}
}

// TestLoadRowsJSONLAndParquet: an evaluation file is read from JSONL (our
// layout) or Parquet (verl's), with the folder relative paths start from.
func TestLoadRowsJSONLAndParquet(t *testing.T) {
	dir := t.TempDir()
	rows := []tasks.Sample{
		evalRow(t, dir, "g1", "grounding", reward.SubtypeGroundingMirror, "1.0-2.0"),
		evalRow(t, dir, "c1", "counting", "", "1,2,0"),
	}
	jp := filepath.Join(dir, "bench.jsonl")
	pp := filepath.Join(dir, "bench.parquet")
	for path, write := range map[string]func(*os.File) error{
		jp: func(f *os.File) error { return dataset.WriteJSONL(f, rows) },
		pp: func(f *os.File) error { return dataset.WriteParquet(f, rows) },
	} {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := write(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, base, err := LoadRows(context.Background(), path, Sources{})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if base != dir || len(got) != 2 || got[0].Subtype != reward.SubtypeGroundingMirror || got[1].Answer != "1,2,0" {
			t.Fatalf("%s: base %s rows %+v", path, base, got)
		}
		if err := CheckRows(path, base, got, Sources{}); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	if _, _, err := LoadRows(context.Background(), filepath.Join(dir, "x.csv"), Sources{}); err == nil || !strings.Contains(err.Error(), `unknown extension ".csv"`) {
		t.Fatalf("csv: %v", err)
	}
}

// TestTallyMetrics: answers are scored by the kind of their row and the
// report's metrics are named per file.
func TestTallyMetrics(t *testing.T) {
	dir := t.TempDir()
	rows := []tasks.Sample{
		evalRow(t, dir, "v", "counting", reward.SubtypeCountingEasy, "1,0,2"),
		evalRow(t, dir, "mc", SourceMultipleChoice, "", "B"),
		evalRow(t, dir, "tg", SourceTemporalGrounding, "", "0-4"),
		evalRow(t, dir, "p", "counting", "", "1,2,3"),
	}
	answers := []string{"1,0,2", "A", "2-4", "1,2,3"}
	tally := NewTally(Sources{})
	for i := range rows {
		if err := tally.Add(context.Background(), &rows[i], answers[i]); err != nil {
			t.Fatal(err)
		}
	}
	rep := tally.Report("x")
	m := rep.Metrics("bench")
	want := map[string]float64{
		metrics.EvalFileMetric("bench", metrics.EvalScore):      (1 + 0 + 0.5 + 1) / 4,
		metrics.EvalFileMetric("bench", metrics.EvalMCAccuracy): 0,
		metrics.EvalFileMetric("bench", metrics.EvalTGMIoU):     0.5,
		metrics.EvalFileMetric("bench", metrics.EvalTGR05):      1,
		metrics.EvalFileMetric("bench", metrics.EvalTGR07):      0,
		metrics.EvalFileMetric("bench", "counting_reward"):      1,
	}
	for k, v := range want {
		if math.Abs(m[k]-v) > 1e-12 {
			t.Errorf("%s = %v, want %v (all: %v)", k, m[k], v, m)
		}
	}
	if _, ok := m[metrics.EvalFileMetric("bench", metrics.EvalVIUBench)]; !ok || rep.VIUBench == nil {
		t.Errorf("no VIUBench metric: %v", m)
	}
}

// TestMessagesWording: a row's own prompt is kept; a question-only row is
// worded with the given prompts (data.prompts) or ours.
func TestMessagesWording(t *testing.T) {
	own := tasks.Sample{Prompt: []tasks.Message{{Role: "user", Content: "<video>\nmine"}}, Question: "q"}
	if m := Messages(&own, 1, nil); len(m) != 1 || m[0].Content != "<video>\nmine" {
		t.Errorf("own prompt %+v", m)
	}
	p, err := tasks.ParsePrompts("x", []byte("system: Short answers.\n"))
	if err != nil {
		t.Fatal(err)
	}
	q := tasks.Sample{Question: "What moves?"}
	m := Messages(&q, 2, &p)
	if len(m) != 2 || m[0].Content != "Short answers." || strings.Count(m[1].Content, tasks.VideoPlaceholder) != 2 || !strings.HasSuffix(m[1].Content, "What moves?") {
		t.Errorf("worded %+v", m)
	}
	if d := Messages(&q, 1, nil); d[0].Content != tasks.DefaultPrompts().System {
		t.Errorf("default wording %+v", d)
	}
}
