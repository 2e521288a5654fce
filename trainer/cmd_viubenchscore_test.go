package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/reward"
)

// writePreds writes rows as a JSONL file in dir.
func writePreds(t *testing.T, dir, name string, rows []map[string]string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		line, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fullPreds returns two rows per subtype; the scores per subtype are
// (1+0)/2, (1+1/3)/2, and for grounding (1+1/3)/2 or (1+0)/2, so each
// subtype mean is known.
func fullPreds() []map[string]string {
	row := func(sub, resp, ans string) map[string]string {
		return map[string]string{"subtype": sub, "response": resp, "answer": ans}
	}
	return []map[string]string{
		row("counting_easy", "3,1,2", "3,1,2"), row("counting_easy", "0,0,0", "3,1,2"), // 0.5
		row("counting_hard", "4,4,4", "4,4,4"), row("counting_hard", "4,0,0", "4,4,4"), // (1+1/3)/2
		row("grounding_channel_swap", "10-20", "10-20"), row("grounding_channel_swap", "It is 15 - 25.", "10-20"), // (1+1/3)/2
		row("grounding_rotate180", "10-20", "10-20"), row("grounding_rotate180", "none", "10-20"), // 0.5
		row("grounding_zoom_out", "10-20", "10-20"), row("grounding_zoom_out", "10-20", "10-20"), // 1
		row("grounding_mirror", "0-5", "10-20"), row("grounding_mirror", "0-5", "10-20"), // 0
		map[string]string{"subtype": "grounding_shuffle", "response": "12.5-20", "ground_truth": "10-20"}, // 0.75 (ground_truth fallback)
		row("jigsaw_easy", "315264", "315264"), row("jigsaw_easy", "135264", "315264"), // 0.5
		row("jigsaw_hard", "31526487", "31526487"), // 1
	}
}

func TestViubenchScoreCmd(t *testing.T) {
	dir := t.TempDir()
	path := writePreds(t, dir, "trained.jsonl", fullPreds())
	out, errOut, err := execCmd(t, newViubenchScoreCmd(), "", "--pred", path)
	if err != nil {
		t.Fatalf("viubench score: %v\n%s", err, errOut)
	}
	// Means x100: 50.0 66.7 | 66.7 50.0 100.0 0.0 75.0 | 50.0 100.0;
	// overall = (0.5+2/3+2/3+0.5+1+0+0.75+0.5+1)/9 = 0.6204 -> 62.0.
	var row string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "trained ") {
			row = l
		}
	}
	fields := strings.Fields(strings.ReplaceAll(row, "|", " "))
	want := []string{"trained", "50.0", "66.7", "66.7", "50.0", "100.0", "0.0", "75.0", "50.0", "100.0", "62.0"}
	if strings.Join(fields, " ") != strings.Join(want, " ") {
		t.Errorf("row = %q\nwant %v\nfull output:\n%s", row, want, out)
	}
	for _, w := range []string{"Counting", "Grounding", "Jigsaw", "Ch.Swap", "Rot.180", "Zoom-out", "Mirror", "Shuffle", "Overall"} {
		if !strings.Contains(out, w) {
			t.Errorf("table lacks %q", w)
		}
	}
	if !strings.Contains(errOut, "16 questions") {
		t.Errorf("stderr: %s", errOut)
	}
}

func TestViubenchScoreCmdSeveralRuns(t *testing.T) {
	dir := t.TempDir()
	a := writePreds(t, dir, "a.jsonl", fullPreds())
	b := writePreds(t, dir, "b.jsonl", []map[string]string{
		{"subtype": "jigsaw_easy", "response": "123456", "answer": "123456", "id": "q1"},
	})
	outPath := filepath.Join(dir, "scored.jsonl")
	out, _, err := execCmd(t, newViubenchScoreCmd(), "",
		"--pred", a, "--pred", b, "--name", "before", "--name", "after", "--markdown", "--reference", "--counts", "--out", outPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"| Model |", "| before |", "| after |", "100.0*", "| before (n) |", "GPT-5 (paper)", "51.9", "no questions of this subtype"} {
		if !strings.Contains(out, w) {
			t.Errorf("markdown lacks %q:\n%s", w, out)
		}
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	rows := decodeLines(t, string(data))
	if len(rows) != 17 {
		t.Fatalf("--out holds %d rows, want 17", len(rows))
	}
	last := rows[16]
	if last["run"] != "after" || last["score"] != 1.0 || last["id"] != "q1" {
		t.Errorf("last --out row = %v", last)
	}
	// json.Marshal wrote the input keys sorted; the added fields follow.
	if got, want := strings.Split(string(data), "\n")[16], `{"answer":"123456","id":"q1","response":"123456","subtype":"jigsaw_easy","run":"after","score":1}`; got != want {
		t.Errorf("--out row:\n got %s\nwant %s", got, want)
	}

	// Without --name the row is named after the file.
	out, _, err = execCmd(t, newViubenchScoreCmd(), "", "--pred", b)
	if err != nil || !strings.Contains(out, "\nb ") {
		t.Errorf("default name: err %v\n%s", err, out)
	}
}

func TestViubenchScoreCmdErrors(t *testing.T) {
	dir := t.TempDir()
	good := writePreds(t, dir, "good.jsonl", fullPreds())
	badSub := writePreds(t, dir, "badsub.jsonl", []map[string]string{
		{"subtype": "jigsaw_easy", "response": "12", "answer": "12"},
		{"subtype": "jigsaw_6", "response": "12", "answer": "12"},
	})
	noAns := writePreds(t, dir, "noans.jsonl", []map[string]string{{"subtype": "jigsaw_easy", "response": "12"}})
	badAns := writePreds(t, dir, "badans.jsonl", []map[string]string{{"subtype": "grounding_mirror", "response": "1-2", "answer": "2-1"}})
	empty := writePreds(t, dir, "empty.jsonl", nil)
	invalid := filepath.Join(dir, "invalid.jsonl")
	os.WriteFile(invalid, []byte("{\"subtype\":\n"), 0o644)
	cases := []struct {
		name  string
		args  []string
		wants []string
		is    error
	}{
		{"no --pred", nil, []string{"pred"}, nil},
		{"missing file", []string{"--pred", filepath.Join(dir, "nope.jsonl")}, []string{"nope.jsonl"}, nil},
		{"unknown subtype", []string{"--pred", badSub}, []string{"badsub.jsonl line 2", "jigsaw_6"}, reward.ErrUnknownSubtype},
		{"missing answer", []string{"--pred", noAns}, []string{"noans.jsonl line 1", `missing field "answer"`}, nil},
		{"malformed answer", []string{"--pred", badAns}, []string{"badans.jsonl line 1"}, reward.ErrBadGroundTruth},
		{"empty file", []string{"--pred", empty}, []string{"empty.jsonl", "no rows"}, nil},
		{"invalid JSON", []string{"--pred", invalid}, []string{"invalid.jsonl line 1", "invalid JSON"}, nil},
		{"name count", []string{"--pred", good, "--pred", good, "--name", "x"}, []string{"1 --name values for 2 --pred files"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := execCmd(t, newViubenchScoreCmd(), "", c.args...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v does not wrap %v", err, c.is)
			}
		})
	}
}

func TestViubenchScoreCmdWiring(t *testing.T) {
	path := writePreds(t, t.TempDir(), "p.jsonl", fullPreds())
	out, _, err := execCmd(t, newRootCmd(), "", "viubench", "score", "--pred", path)
	if err != nil || !strings.Contains(out, "62.0") {
		t.Fatalf("trainer viubench score: err %v\n%s", err, out)
	}
}
