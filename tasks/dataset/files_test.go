package dataset

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks"
)

// writeFile writes data at dir/rel, creating folders.
func writeFile(t *testing.T, dir, rel string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// genDir writes a dataset folder like `trainer gen` does: data.jsonl and
// data.parquet with frame paths relative to the folder, and the frames.
func genDir(t *testing.T, dir string, samples []tasks.Sample) {
	t.Helper()
	for _, s := range samples {
		for _, f := range s.Frames.All() {
			writeFile(t, dir, f, []byte("jpeg"))
		}
	}
	var j, p bytes.Buffer
	if err := WriteJSONL(&j, samples); err != nil {
		t.Fatal(err)
	}
	if err := WriteParquet(&p, samples); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, JSONLName, j.Bytes())
	writeFile(t, dir, ParquetName, p.Bytes())
}

// problemsOf returns the problems of a LoadFiles error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ce *CheckError
	if !errors.As(err, &ce) || !errors.Is(err, ErrBadTrainingData) {
		t.Fatalf("err = %v, want a *CheckError", err)
	}
	return ce.Problems
}

// hasProblem fails unless one problem matches file suffix, row, field and
// a text in its reason.
func hasProblem(t *testing.T, probs []Problem, file, row, field, text string) {
	t.Helper()
	for _, p := range probs {
		if strings.HasSuffix(p.File, file) && p.Row == row && p.Field == field && strings.Contains(p.Err.Error(), text) {
			return
		}
	}
	var b strings.Builder
	for _, p := range probs {
		b.WriteString("\n  " + p.Error())
	}
	t.Fatalf("no problem %s / %s / %s / %q among:%s", file, row, field, text, b.String())
}

func TestLoadFilesOwnLayouts(t *testing.T) {
	root := t.TempDir()
	ds := filepath.Join(root, "gen")
	genDir(t, ds, exampleSamples())
	ctx := context.Background()
	for _, pat := range []string{ds, filepath.Join(ds, JSONLName), filepath.Join(ds, "*.parquet")} {
		got, err := LoadFiles(ctx, []string{pat}, FileOptions{})
		if err != nil {
			t.Fatalf("%s: %v", pat, err)
		}
		if len(got) != 3 {
			t.Fatalf("%s: %d samples", pat, len(got))
		}
		want := exampleSamples()
		for i, s := range got {
			if s.ID != want[i].ID || s.Answer != want[i].Answer || s.DataSource != want[i].DataSource || s.FPS != want[i].FPS {
				t.Errorf("%s: sample %d: %+v", pat, i, s)
			}
			for k, f := range s.Frames.All() {
				if wantPath := filepath.Join(ds, filepath.FromSlash(want[i].Frames.All()[k])); f != wantPath {
					t.Errorf("%s: frame path %s, want %s", pat, f, wantPath)
				}
			}
		}
		if got[2].Frames.Clips == nil || len(got[2].Frames.Clips) != 3 {
			t.Errorf("%s: jigsaw clips %+v", pat, got[2].Frames)
		}
	}
	// The same samples twice are duplicates.
	_, err := LoadFiles(ctx, []string{filepath.Join(ds, JSONLName), filepath.Join(ds, ParquetName)}, FileOptions{})
	hasProblem(t, problemsOf(t, err), ParquetName, "row 0", "id", `"aa11" also at`)
}

func TestLoadFilesVerlJSONLAndForeignParquet(t *testing.T) {
	root := t.TempDir()
	frame := writeFile(t, root, "abs/f0.jpg", []byte("x"))
	writeFile(t, root, "data/rel/f1.jpg", []byte("x"))
	// A verl JSONL row as pandas writes it: other tools' extra_info keys,
	// a numeric ground truth for a custom reward, an absolute and a
	// relative frame path.
	rows := `{"data_source":"grounding","prompt":[{"role":"system","content":"Answer."},{"role":"user","content":"<video>\nWhen does it flip?"}],` +
		`"videos":[{"video":["` + filepath.ToSlash(frame) + `","rel/f1.jpg"],"sample_fps":2.0,"max_pixels":3136,"min_pixels":784}],` +
		`"ability":"video","reward_model":{"style":"rule","ground_truth":"1.0 - 2.5"},"extra_info":{"index":7,"split":"train","tags":["a"],"answer":3}}
{"data_source":"number","prompt":[{"role":"user","content":"<video> How many?"}],"videos":[{"video":["rel/f1.jpg"],"sample_fps":1}],"reward_model":{"ground_truth":42}}
`
	jl := writeFile(t, root, "data/verl.jsonl", []byte(rows))
	reg := reward.DefaultRegistry()
	if err := reg.Register("number", reward.ScoreFunc(func(context.Context, reward.Item) (float64, error) { return 1, nil })); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFiles(context.Background(), []string{filepath.Join(root, "data", "*.jsonl")}, FileOptions{Rewards: reg})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d samples", len(got))
	}
	g := got[0]
	if g.ID != "verl.jsonl:1" || g.Answer != "1.0 - 2.5" || g.Question != "When does it flip?" || g.FPS != 2 || g.MaxPixels != 3136 || g.Split != "train" || g.Index != 7 {
		t.Errorf("grounding row: %+v", g)
	}
	if f := g.Frames.Flat; len(f) != 2 || f[0] != frame || f[1] != filepath.Join(root, "data", "rel", "f1.jpg") {
		t.Errorf("frames %v", f)
	}
	if got[1].Answer != "42" || got[1].ID != "verl.jsonl:2" || got[1].Question != "How many?" {
		t.Errorf("number row: %+v", got[1])
	}
	// Without the plug-in's registration, "number" is unknown.
	_, err = LoadFiles(context.Background(), []string{jl}, FileOptions{})
	hasProblem(t, problemsOf(t, err), "verl.jsonl", "line 2", "data_source", `unknown data source "number"`)

	// A Parquet file written by another tool: other column order, foreign
	// extra_info fields, no ability column.
	type foreignVideo struct {
		SampleFPS float64  `parquet:"sample_fps"`
		Video     []string `parquet:"video,list"`
	}
	type foreignRow struct {
		ExtraInfo struct {
			Index int64  `parquet:"index"`
			Note  string `parquet:"note"`
		} `parquet:"extra_info"`
		RewardModel struct {
			GroundTruth string `parquet:"ground_truth"`
		} `parquet:"reward_model"`
		Videos     []foreignVideo `parquet:"videos,list"`
		Prompt     []VerlMessage  `parquet:"prompt,list"`
		DataSource string         `parquet:"data_source"`
	}
	var fr foreignRow
	fr.DataSource = "temporal_jigsaw"
	fr.RewardModel.GroundTruth = "21"
	fr.Prompt = []VerlMessage{{Role: "user", Content: "Clip 1: <video>\nClip 2: <video>\nOrder?"}}
	fr.Videos = []foreignVideo{{SampleFPS: 2, Video: []string{"rel/f1.jpg"}}, {SampleFPS: 2, Video: []string{filepath.ToSlash(frame)}}}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, []foreignRow{fr}); err != nil {
		t.Fatal(err)
	}
	pq := writeFile(t, root, "data/foreign.parquet", buf.Bytes())
	got, err = LoadFiles(context.Background(), []string{pq}, FileOptions{Aliases: map[string]string{"temporal_jigsaw": "jigsaw"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := got[0]; s.DataSource != tasks.Jigsaw || s.Answer != "21" || len(s.Frames.Clips) != 2 || s.Question != "Order?" || s.ID != "foreign.parquet:0" {
		t.Errorf("foreign row: %+v", s)
	}
	_, err = LoadFiles(context.Background(), []string{pq}, FileOptions{})
	hasProblem(t, problemsOf(t, err), "foreign.parquet", "row 0", "data_source", `unknown data source "temporal_jigsaw"`)
}

func TestCheckFilesProblems(t *testing.T) {
	root := t.TempDir()
	samples := exampleSamples()
	genDir(t, root, samples)
	// Break things in a copy of the JSONL rows.
	bad := exampleSamples()
	for i := range bad {
		bad[i].ID += "x"
	}
	bad[0].Frames.Flat[1] = "frames/missing.jpg"
	bad[1].DataSource = "anomaly"
	bad[2].Answer = "2311"
	var j bytes.Buffer
	if err := WriteJSONL(&j, bad); err != nil {
		t.Fatal(err)
	}
	j.WriteString("\n{not json}\n")
	j.WriteString(`{"id":"q","data_source":"counting","prompt":[{"role":"user","content":"<video> count"}],"frames":["frames/aa11/00.jpg"],"fps":1}` + "\n")
	j.WriteString(`{"id":"r","data_source":"counting","prompt":[{"role":"user","content":"<video><video> count"}],"frames":["frames/aa11/00.jpg"],"fps":0,"answer":"1,2,3"}` + "\n")
	j.WriteString(`{"data_source":"grounding","prompt":[{"role":"user","content":"<video>"}],"videos":[{"video":"clip.mp4","sample_fps":2}],"reward_model":{"ground_truth":"1-2"}}` + "\n")
	j.WriteString(`{"data_source":"grounding","prompt":[{"role":"user","content":"<video>"}],"videos":[{"video":["frames/aa11/00.jpg"],"sample_fps":2}],"reward_model":{"ground_truth":"late"}}` + "\n")
	bf := writeFile(t, root, "bad.jsonl", j.Bytes())
	rep, err := CheckFiles(context.Background(), []string{bf}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problems == nil || len(rep.Samples) != 0 || rep.Files[0].Rows != 8 || rep.Files[0].Layout != "mixed" {
		t.Fatalf("report: %d samples, files %+v, problems %v", len(rep.Samples), rep.Files, rep.Problems)
	}
	probs := rep.Problems.Problems
	hasProblem(t, probs, "bad.jsonl", "line 1", "frames[0][1]", "missing.jpg does not exist")
	hasProblem(t, probs, "bad.jsonl", "line 2", "data_source", `unknown data source "anomaly"`)
	hasProblem(t, probs, "bad.jsonl", "line 3", "answer", "malformed ground truth")
	hasProblem(t, probs, "bad.jsonl", "line 3", "frames", "3 clips for a jigsaw answer of 4 digits")
	hasProblem(t, probs, "bad.jsonl", "line 5", "", "not a JSON object")
	hasProblem(t, probs, "bad.jsonl", "line 6", "answer", "missing")
	hasProblem(t, probs, "bad.jsonl", "line 7", "prompt", "2 <video> placeholders in the user message(s) for 1 video inputs")
	hasProblem(t, probs, "bad.jsonl", "line 7", "fps", "want the sampling fps")
	hasProblem(t, probs, "bad.jsonl", "line 8", "videos[0].video", `"clip.mp4" is a single path`)
	hasProblem(t, probs, "bad.jsonl", "line 9", "reward_model.ground_truth", "malformed ground truth")
	if !strings.Contains(rep.Problems.Error(), "bad.jsonl: line 1: field frames[0][1]: frame file") {
		t.Errorf("error text:\n%s", rep.Problems.Error())
	}
	// MaxProblems stops early.
	rep, err = CheckFiles(context.Background(), []string{bf}, FileOptions{MaxProblems: 2})
	if err != nil || len(rep.Problems.Problems) != 2 || !rep.Problems.Truncated {
		t.Fatalf("max problems: %v, %+v", err, rep.Problems)
	}
	// Frames are not looked at when asked.
	rep, err = CheckFiles(context.Background(), []string{bf}, FileOptions{SkipFrameCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems.Problems {
		if strings.Contains(p.Err.Error(), "does not exist") {
			t.Errorf("frame checked: %v", p)
		}
	}
}

func TestCheckFilesParquetSchema(t *testing.T) {
	root := t.TempDir()
	type noReward struct {
		DataSource string        `parquet:"data_source"`
		Prompt     []VerlMessage `parquet:"prompt,list"`
		Videos     []VerlVideo   `parquet:"videos,list"`
	}
	type videoFile struct {
		Video     string  `parquet:"video"`
		SampleFPS float64 `parquet:"sample_fps"`
	}
	type fileRow struct {
		DataSource  string        `parquet:"data_source"`
		Prompt      []VerlMessage `parquet:"prompt,list"`
		Videos      []videoFile   `parquet:"videos,list"`
		RewardModel VerlReward    `parquet:"reward_model"`
	}
	var a, b bytes.Buffer
	if err := parquet.Write(&a, []noReward{{DataSource: "grounding"}}); err != nil {
		t.Fatal(err)
	}
	if err := parquet.Write(&b, []fileRow{{DataSource: "grounding", Videos: []videoFile{{Video: "a.mp4"}}}}); err != nil {
		t.Fatal(err)
	}
	pa := writeFile(t, root, "a.parquet", a.Bytes())
	pb := writeFile(t, root, "b.parquet", b.Bytes())
	pc := writeFile(t, root, "c.parquet", []byte("not parquet at all"))
	_, err := LoadFiles(context.Background(), []string{pa, pb, pc}, FileOptions{})
	probs := problemsOf(t, err)
	hasProblem(t, probs, "a.parquet", "", "reward_model", "missing column (the file has: data_source, prompt, videos)")
	hasProblem(t, probs, "b.parquet", "", "videos.video", "a single path per video input")
	hasProblem(t, probs, "c.parquet", "", "", "not a Parquet file")

	if _, err := LoadFiles(context.Background(), []string{filepath.Join(root, "*.nothing")}, FileOptions{}); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Errorf("empty glob: %v", err)
	}
	txt := writeFile(t, root, "x.csv", []byte("a,b"))
	if _, err := LoadFiles(context.Background(), []string{txt}, FileOptions{}); err == nil || !strings.Contains(err.Error(), "unknown extension") {
		t.Errorf("csv: %v", err)
	}
	if _, err := LoadFiles(context.Background(), []string{root}, FileOptions{}); err == nil || !strings.Contains(err.Error(), "has neither") {
		t.Errorf("folder without data: %v", err)
	}
}

func TestCheckFilesFramesField(t *testing.T) {
	root := t.TempDir()
	p := writeFile(t, root, "x.jsonl", []byte(`{"id":"a","data_source":"counting","prompt":[],"frames":"one.jpg","fps":1,"answer":"1,1,1"}`+"\n"))
	_, err := LoadFiles(context.Background(), []string{p}, FileOptions{})
	hasProblem(t, problemsOf(t, err), "x.jsonl", "line 1", "frames", "want an array")
}
