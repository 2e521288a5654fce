package reward

import (
	"errors"
	"strings"
	"testing"
)

func TestVIUBenchSubtypes(t *testing.T) {
	want := []string{
		"counting_easy", "counting_hard",
		"grounding_channel_swap", "grounding_rotate180", "grounding_zoom_out", "grounding_mirror", "grounding_shuffle",
		"jigsaw_easy", "jigsaw_hard",
	}
	got := VIUBenchSubtypes()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("VIUBenchSubtypes() = %v, want %v", got, want)
	}
}

func TestVIUBenchScore(t *testing.T) {
	cases := []struct {
		subtype, response, answer string
		want                      float64
	}{
		{SubtypeCountingEasy, "3,1,2", "3,1,2", 1},
		{SubtypeCountingHard, "circles 3, squares 0, triangles 2", "3,1,2", 2.0 / 3},
		{SubtypeCountingHard, "2,2,2", "3,1,2", 1.0 / 3},
		{SubtypeCountingEasy, "0,0,0", "3,1,2", 0},
		{SubtypeCountingEasy, "3,1", "3,1,2", 0},
		{SubtypeCountingEasy, "3,1,2,2", "3,1,2", 0},
		{SubtypeGroundingChannelSwap, "10-20", "10-20", 1},
		{SubtypeGroundingRotate180, "The anomaly spans 15 - 25 seconds.", "10-20", 1.0 / 3},
		{SubtypeGroundingZoomOut, "12.5-20", "10-20", 0.75},
		{SubtypeGroundingMirror, "20-10", "10-20", 0},
		{SubtypeGroundingShuffle, "no idea", "10-20", 0},
		{SubtypeJigsawEasy, "315264", "315264", 1},
		{SubtypeJigsawEasy, " 315264\n", "315264", 1},
		{SubtypeJigsawEasy, "135264", "315264", 0},
		{SubtypeJigsawHard, "3,1,5,2,6,4,8,7", "31526487", 0},
		{SubtypeJigsawHard, "31526487", "31526487", 1},
	}
	for _, c := range cases {
		got, err := VIUBenchScore(c.subtype, c.response, c.answer)
		if err != nil || !near(got, c.want) {
			t.Errorf("VIUBenchScore(%s, %q, %q) = %v, %v; want %v", c.subtype, c.response, c.answer, got, err, c.want)
		}
	}
	if _, err := VIUBenchScore("jigsaw_6", "1", "1"); !errors.Is(err, ErrUnknownSubtype) {
		t.Errorf("unknown subtype: err = %v, want ErrUnknownSubtype", err)
	}
	for _, b := range []struct{ subtype, answer string }{
		{SubtypeCountingEasy, "3,1"},
		{SubtypeGroundingMirror, "20-10"},
		{SubtypeJigsawHard, "11"},
	} {
		if _, err := VIUBenchScore(b.subtype, "x", b.answer); !errors.Is(err, ErrBadGroundTruth) {
			t.Errorf("%s answer %q: err = %v, want ErrBadGroundTruth", b.subtype, b.answer, err)
		}
	}
}

func TestVIUBenchReport(t *testing.T) {
	var a VIUBenchAccumulator
	// Unequal counts per subtype: the overall must be the unweighted mean
	// of the subtype means, not the mean over questions.
	for i, s := range VIUBenchSubtypes() {
		for range i + 1 {
			if err := a.Add(s, float64(i)/8); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.Add(SubtypeCountingEasy, 1) // counting_easy: mean of 0 and 1 = 0.5
	r := a.Report("run")
	if !r.Complete() || r.Present() != 9 || len(r.Missing()) != 0 {
		t.Fatalf("report should be complete: %+v", r)
	}
	// Means: 0.5, 1/8, 2/8, ..., 8/8 -> (0.5 + 36/8 - 0) / 9.
	want := (0.5 + (1+2+3+4+5+6+7+8)/8.0) / 9
	if !near(r.Overall, want) {
		t.Errorf("Overall = %v, want %v", r.Overall, want)
	}
	if res, ok := r.Result(SubtypeCountingEasy); !ok || res.N != 2 || !near(res.Mean, 0.5) {
		t.Errorf("counting_easy = %+v, %v; want N=2 mean 0.5", res, ok)
	}
	if r.Total() != 45+1 {
		t.Errorf("Total = %d, want 46", r.Total())
	}
	if err := a.Add("nope", 0.5); !errors.Is(err, ErrUnknownSubtype) {
		t.Errorf("Add(unknown): %v", err)
	}
	if err := a.Add(SubtypeJigsawEasy, 1.5); err == nil {
		t.Error("Add(1.5) accepted a score outside [0,1]")
	}
}

func TestVIUBenchReportMissing(t *testing.T) {
	var a VIUBenchAccumulator
	a.Add(SubtypeCountingEasy, 1)
	a.Add(SubtypeJigsawHard, 0)
	a.Add(SubtypeJigsawHard, 0.5)
	r := a.Report("partial")
	if r.Complete() || r.Present() != 2 || len(r.Missing()) != 7 {
		t.Fatalf("Present=%d Missing=%v", r.Present(), r.Missing())
	}
	if !near(r.Overall, (1+0.25)/2) {
		t.Errorf("Overall over present subtypes = %v, want 0.625", r.Overall)
	}
	var empty VIUBenchAccumulator
	if e := empty.Report("none"); e.Overall != 0 || e.Present() != 0 || len(e.Subtypes) != 9 {
		t.Errorf("empty report = %+v", e)
	}
}

func TestVIUBenchTable(t *testing.T) {
	var before, after VIUBenchAccumulator
	for _, s := range VIUBenchSubtypes() {
		before.Add(s, 0.2)
		before.Add(s, 0.4)
		if s != SubtypeJigsawHard {
			after.Add(s, 0.5)
		}
	}
	tab := VIUBenchTable{Rows: []VIUBenchReport{before.Report("before"), after.Report("after")}}
	text := tab.Table()
	for _, want := range []string{
		"Counting", "Grounding", "Jigsaw", "Overall",
		"Easy", "Hard", "Ch.Swap", "Rot.180", "Zoom-out", "Mirror", "Shuffle",
		"before", "after", "30.0", "50.0*", "no questions of this subtype",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Table() lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "(paper)") {
		t.Error("Table() prints the paper reference without Reference")
	}
	// The after row: eight 50.0 cells, a "-" for jigsaw_hard, 50.0* overall.
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "after") {
			if strings.Count(line, "50.0") != 9 || !strings.Contains(line, " - |") {
				t.Errorf("after row = %q", line)
			}
		}
		if strings.HasSuffix(line, " ") {
			t.Errorf("trailing space in %q", line)
		}
	}
	// Columns line up: every table line has its "|" at the same offsets.
	lines := strings.Split(text, "\n")
	bars := func(s string) []int {
		var out []int
		for i, c := range s {
			if c == '|' || c == '+' {
				out = append(out, i)
			}
		}
		return out
	}
	ref := bars(lines[1])
	for _, l := range lines[:5] {
		if got := bars(l); len(got) != len(ref) || got[0] != ref[0] || got[len(got)-1] != ref[len(ref)-1] {
			t.Errorf("misaligned line %q (bars %v, want %v)", l, got, ref)
		}
	}

	tab.Reference = true
	tab.Counts = true
	text = tab.Table()
	for _, want := range []string{"Random guess (paper)", "16.1", "19.5", "51.9", "58.7", "56.7", "before (n)", "18"} {
		if !strings.Contains(text, want) {
			t.Errorf("Table() with Reference and Counts lacks %q:\n%s", want, text)
		}
	}
	md := tab.Markdown()
	for _, want := range []string{"| Model |", "Counting Easy", "Grounding Zoom-out", "Jigsaw Hard", "| before |", "30.0", "GPT-5 (paper)", "58.7 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks %q:\n%s", want, md)
		}
	}
	// Every Markdown table row has 11 cells.
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "|") && strings.Count(l, "|")-strings.Count(l, `\|`) != 12 {
			t.Errorf("Markdown row with wrong cell count: %q", l)
		}
	}
	if one := before.Report("solo").Table(); !strings.Contains(one, "solo") || !strings.Contains(one, "30.0") {
		t.Errorf("VIUBenchReport.Table():\n%s", one)
	}
	if md := before.Report("solo").Markdown(); !strings.Contains(md, "| solo |") || !strings.Contains(md, "| 30.0 |") {
		t.Errorf("VIUBenchReport.Markdown():\n%s", md)
	}
	if _, ok := before.Report("x").Result("nope"); ok {
		t.Error("Result(unknown subtype) reported ok")
	}
	if md := (VIUBenchTable{Rows: []VIUBenchReport{before.Report("a|b")}}).Markdown(); !strings.Contains(md, `a\|b`) {
		t.Errorf("Markdown does not escape |:\n%s", md)
	}
}

func TestPaperReference(t *testing.T) {
	want := map[string]float64{"Random guess": 0.161, "Qwen3-VL-8B": 0.195, "VideoSSR-8B": 0.519, "GPT-5": 0.587, "Gemini-2.5-Pro": 0.567}
	got := PaperReference()
	if len(got) != len(want) {
		t.Fatalf("PaperReference() = %v", got)
	}
	for _, r := range got {
		if !near(r.Overall, want[r.Name]) {
			t.Errorf("%s = %v, want %v", r.Name, r.Overall, want[r.Name])
		}
	}
}
