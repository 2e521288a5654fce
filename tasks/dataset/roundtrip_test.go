package dataset

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/videossr/videossr-go/tasks"
)

// exampleSamples returns one sample of each shape: flat frames with
// grounding metadata, counting metadata, and per-clip jigsaw frames.
func exampleSamples() []tasks.Sample {
	g := tasks.Sample{
		ID: "aa11", DataSource: tasks.Grounding, Subtype: "grounding_mirror", Split: "train", Index: 2,
		Video: "/v/a.avi", VideoID: "a.avi", Frames: tasks.FrameList{Flat: []string{"frames/aa11/00.jpg", "frames/aa11/01.jpg"}},
		FPS: 1.25, MaxPixels: 65536, MinPixels: 16384,
		Prompt:   tasks.BuildPrompt("Q1 <start>-<end>", 1, false),
		Question: "Q1 <start>-<end>", Answer: "1.0-3.5",
		Meta: tasks.Meta{Seed: 42, NumFrames: 48, Width: 32, Height: 24,
			Grounding: &tasks.GroundingMeta{Start: 3, Length: 9, FPS: 1.25, Perturbation: "zoom_out", Params: json.RawMessage(`{"box":[1,2,3,4],"scale":1.25}`)}},
	}
	c := g
	c.ID, c.DataSource, c.Subtype, c.Answer = "bb22", tasks.Counting, "counting", "1,0,2"
	c.Meta = tasks.Meta{Seed: 7, NumFrames: 48, Width: 32, Height: 24, Counting: &tasks.CountingMeta{
		Counts: []int{1, 0, 2}, Classes: []string{"circle", "square", "triangle"}, FramesPerClass: [][]int{{4}, {}, {10, 30}},
		Instances: []tasks.PlacedShape{{Frame: 4, Class: "circle", CX: 3.5, CY: 4.25, Size: 7, AngleDeg: 12.5, RGB: [3]int{60, 70, 255}}}}}
	j := g
	j.ID, j.DataSource, j.Subtype, j.Answer = "cc33", tasks.Jigsaw, "jigsaw_3", "231"
	j.Frames = tasks.FrameList{Clips: [][]string{{"frames/cc33/clip1/00.jpg"}, {"frames/cc33/clip2/00.jpg"}, {"frames/cc33/clip3/00.jpg"}}}
	j.Prompt = tasks.BuildPrompt("Q3", 3, true)
	j.Meta = tasks.Meta{Seed: 9, NumFrames: 3, Width: 4, Height: 4, Jigsaw: &tasks.JigsawMeta{Clips: 3, ClipLen: 1, Presented: []int{1, 2, 0}}}
	return []tasks.Sample{g, c, j}
}

func TestJSONLRoundTrip(t *testing.T) {
	in := exampleSamples()
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `Clip 2: <video>\n`) {
		t.Fatalf("placeholders should stay readable:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"frames":[["frames/cc33/clip1/00.jpg"],`) {
		t.Fatalf("jigsaw frames should be a list of lists:\n%s", buf.String())
	}
	out, err := ReadJSONL(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs:\n%+v\n%+v", in, out)
	}
	var again bytes.Buffer
	WriteJSONL(&again, out)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("re-encoding changed the bytes")
	}
	if _, err := ReadJSONL(strings.NewReader("{\"id\":1}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad row: %v", err)
	}
}

func TestParquetRoundTrip(t *testing.T) {
	in := exampleSamples()
	p := filepath.Join(t.TempDir(), "d.parquet")
	var buf bytes.Buffer
	if err := WriteParquet(&buf, in); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ReadParquet(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs:\n%+v\n%+v", in, out)
	}
	// The verl layout: column paths as verl/pyarrow expect them.
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range f.Schema().Columns() {
		cols = append(cols, strings.Join(c, "."))
	}
	for _, want := range []string{
		"data_source", "prompt.list.element.role", "prompt.list.element.content",
		"videos.list.element.video.list.element", "videos.list.element.sample_fps",
		"videos.list.element.max_pixels", "videos.list.element.min_pixels", "ability",
		"reward_model.style", "reward_model.ground_truth", "extra_info.split", "extra_info.answer",
		"extra_info.question", "extra_info.video_id",
	} {
		found := false
		for _, c := range cols {
			found = found || c == want
		}
		if !found {
			t.Errorf("column %s missing; have %v", want, cols)
		}
	}
	rows, _ := ReadVerlRows(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if len(rows[2].Videos) != 3 || rows[2].RewardModel.Style != "rule" || rows[2].RewardModel.GroundTruth != "231" {
		t.Fatalf("jigsaw row: %+v", rows[2])
	}
}

// theirRow mimics a verl data file written by another tool: fewer
// extra_info fields, an extra column, a video entry without pixel bounds.
type theirRow struct {
	DataSource string `parquet:"data_source"`
	Prompt     []struct {
		Role    string `parquet:"role"`
		Content string `parquet:"content"`
	} `parquet:"prompt,list"`
	Videos []struct {
		Video     []string `parquet:"video,list"`
		SampleFPS float64  `parquet:"sample_fps"`
	} `parquet:"videos,list"`
	Ability     string `parquet:"ability"`
	RewardModel struct {
		Style       string `parquet:"style"`
		GroundTruth string `parquet:"ground_truth"`
	} `parquet:"reward_model"`
	ExtraInfo struct {
		Split    string `parquet:"split"`
		Answer   string `parquet:"answer"`
		Question string `parquet:"question"`
		VideoID  string `parquet:"video_id"`
		Other    string `parquet:"other"`
	} `parquet:"extra_info"`
	Extra string `parquet:"unknown_column"`
}

func TestReadForeignVerlParquet(t *testing.T) {
	var r theirRow
	r.DataSource = "jigsaw"
	r.Prompt = append(r.Prompt, struct {
		Role    string `parquet:"role"`
		Content string `parquet:"content"`
	}{"user", "Clip 1: <video>\nClip 2: <video>\norder?"})
	r.Videos = append(r.Videos, struct {
		Video     []string `parquet:"video,list"`
		SampleFPS float64  `parquet:"sample_fps"`
	}{[]string{"x/1.jpg", "x/2.jpg"}, 0.8}, struct {
		Video     []string `parquet:"video,list"`
		SampleFPS float64  `parquet:"sample_fps"`
	}{[]string{"x/3.jpg"}, 0.8})
	r.Ability, r.RewardModel.Style, r.RewardModel.GroundTruth = "video", "rule", "21"
	r.ExtraInfo.Split, r.ExtraInfo.Answer, r.ExtraInfo.Question, r.ExtraInfo.VideoID, r.Extra = "train", "21", "order?", "vid7", "z"
	p := filepath.Join(t.TempDir(), "theirs.parquet")
	if err := parquet.WriteFile(p, []theirRow{r}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadParquet(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d rows", len(got))
	}
	s := got[0]
	if s.DataSource != tasks.Jigsaw || s.Answer != "21" || s.Question != "order?" || s.VideoID != "vid7" || s.Split != "train" || s.FPS != 0.8 {
		t.Fatalf("sample %+v", s)
	}
	if !reflect.DeepEqual(s.Frames.Clips, [][]string{{"x/1.jpg", "x/2.jpg"}, {"x/3.jpg"}}) || s.Prompt[0].Content != r.Prompt[0].Content {
		t.Fatalf("frames %+v prompt %+v", s.Frames, s.Prompt)
	}
}

func TestFrameListJSON(t *testing.T) {
	var l tasks.FrameList
	if err := json.Unmarshal([]byte(`[["a","b"],["c"]]`), &l); err != nil || len(l.Clips) != 2 || l.Flat != nil {
		t.Fatalf("%+v %v", l, err)
	}
	if err := json.Unmarshal([]byte(`["a","b"]`), &l); err != nil || len(l.Flat) != 2 || l.Clips != nil {
		t.Fatalf("%+v %v", l, err)
	}
	if err := json.Unmarshal([]byte(`[1]`), &l); err == nil {
		t.Fatal("numbers accepted as paths")
	}
	if err := json.Unmarshal([]byte(`{}`), &l); err == nil {
		t.Fatal("object accepted")
	}
}
