package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/reward"
)

// execCmd runs a cobra command with in-memory stdin, stdout and stderr.
func execCmd(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

// decodeLines parses every output line as a JSON object.
func decodeLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var rows []map[string]any
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q is not a JSON object: %v", l, err)
		}
		rows = append(rows, m)
	}
	return rows
}

func TestScoreCmd(t *testing.T) {
	in := strings.Join([]string{
		`{"id":7,"data_source":"grounding","response":"15-25","ground_truth":"10-20","meta":{"a": [1, 2]}}`,
		``,
		`{"data_source":"counting","response":"circles: 3, squares: 1, triangles: 2","ground_truth":"3,1,2"}`,
		`{"score":99,"data_source":"jigsaw","response":"213456","ground_truth":"123456"}`,
		`{"data_source":"strict:jigsaw","response":"213456","reward_model":{"style":"rule","ground_truth":"123456"}}`,
		`{"data_source":"counting","response":"2,1,2","answer":"3,1,2"}` + "\r",
		`{"data_source":"grounding","response":"<b>10-20</b> & more","ground_truth":"10-20"}`,
	}, "\n")
	out, errOut, err := execCmd(t, newScoreCmd(), in)
	if err != nil {
		t.Fatalf("score: %v\nstderr: %s", err, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("got %d output rows, want 6:\n%s", len(lines), out)
	}
	// Field order and values are preserved; score goes last, or replaces an
	// existing score in place.
	if want := `{"id":7,"data_source":"grounding","response":"15-25","ground_truth":"10-20","meta":{"a":[1,2]},"score":0.3333333333333333}`; lines[0] != want {
		t.Errorf("row 1:\n got %s\nwant %s", lines[0], want)
	}
	if !strings.HasPrefix(lines[2], `{"score":0.888`) {
		t.Errorf("existing score not replaced in place: %s", lines[2])
	}
	if !strings.Contains(lines[5], `"response":"<b>10-20</b> & more"`) {
		t.Errorf("HTML characters were escaped: %s", lines[5])
	}
	rows := decodeLines(t, out)
	want := []float64{1.0 / 3, 1, 1 - 2.0/18, 0, (1 - 1/(3+1e-9) + 2) / 3, 0}
	for i, r := range rows {
		s, ok := r["score"].(float64)
		if !ok || math.Abs(s-want[i]) > 1e-12 {
			t.Errorf("row %d score = %v, want %v", i+1, r["score"], want[i])
		}
	}
	for _, w := range []string{"data_source", "grounding", "counting", "strict:jigsaw", "all", "scored 6 rows, 0 bad"} {
		if !strings.Contains(errOut, w) {
			t.Errorf("summary lacks %q:\n%s", w, errOut)
		}
	}
}

func TestScoreCmdBadRows(t *testing.T) {
	cases := []struct {
		name, in string
		wants    []string
		is       error
	}{
		{"invalid JSON", "{\"data_source\":\"jigsaw\",\"response\":\"1\",\"ground_truth\":\"1\"}\n\n{not json}\n", []string{"stdin line 3", "invalid JSON"}, nil},
		{"truncated JSON", `{"data_source":"jigsaw","response":"1"`, []string{"stdin line 1", "invalid JSON"}, nil},
		{"not an object", `[1,2,3]`, []string{"line 1", "want a JSON object"}, nil},
		{"two objects on a line", `{"a":1} {"b":2}`, []string{"line 1", "data after the JSON object"}, nil},
		{"unknown data source", `{"data_source":"jigsaw_6","response":"1","ground_truth":"1"}`, []string{"line 1", `"jigsaw_6"`, "strict:grounding"}, reward.ErrUnknownSource},
		{"missing response", `{"data_source":"jigsaw","ground_truth":"1"}`, []string{"line 1", `missing field "response"`}, nil},
		{"missing data source", `{"response":"1","ground_truth":"1"}`, []string{`missing field "data_source"`}, nil},
		{"missing ground truth", `{"data_source":"jigsaw","response":"1"}`, []string{`missing field "ground_truth"`}, nil},
		{"number ground truth", `{"data_source":"jigsaw","response":"1","ground_truth":1}`, []string{`"ground_truth" must be a string`}, nil},
		{"null response", `{"data_source":"jigsaw","response":null,"ground_truth":"1"}`, []string{`"response" must be a string`}, nil},
		{"malformed ground truth", `{"data_source":"counting","response":"1,2,3","ground_truth":"1,2"}`, []string{"line 1", "malformed ground truth"}, reward.ErrBadGroundTruth},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := execCmd(t, newScoreCmd(), c.in)
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

func TestScoreCmdSkipBad(t *testing.T) {
	in := strings.Join([]string{
		`{"data_source":"jigsaw","response":"123","ground_truth":"123"}`,
		`{oops`,
		`{"id":"x","data_source":"nope","response":"1","ground_truth":"1"}`,
		`{"data_source":"jigsaw","response":"321","ground_truth":"123"}`,
	}, "\n") + "\n"
	out, errOut, err := execCmd(t, newScoreCmd(), in, "--skip-bad")
	if err != nil {
		t.Fatalf("score --skip-bad: %v", err)
	}
	rows := decodeLines(t, out)
	if len(rows) != 4 {
		t.Fatalf("got %d rows, want 4:\n%s", len(rows), out)
	}
	if rows[0]["score"] != 1.0 || rows[3]["score"] != 0.0 {
		t.Errorf("good rows scored %v and %v, want 1 and 0", rows[0]["score"], rows[3]["score"])
	}
	if rows[1]["line"] != 2.0 || rows[1]["raw"] != "{oops" || !strings.Contains(rows[1]["error"].(string), "invalid JSON") {
		t.Errorf("invalid JSON row = %v", rows[1])
	}
	if rows[2]["id"] != "x" || rows[2]["data_source"] != "nope" || !strings.Contains(rows[2]["error"].(string), "unknown data source") {
		t.Errorf("unknown data source row = %v", rows[2])
	}
	if _, has := rows[2]["score"]; has {
		t.Errorf("bad row got a score: %v", rows[2])
	}
	if !strings.Contains(errOut, "scored 2 rows, 2 bad") {
		t.Errorf("summary: %s", errOut)
	}
}

func TestScoreCmdLongLine(t *testing.T) {
	resp := strings.Repeat("x", 300_000) + " 3,1,2"
	row, _ := json.Marshal(map[string]string{"data_source": "counting", "response": resp, "ground_truth": "3,1,2"})
	out, _, err := execCmd(t, newScoreCmd(), string(row)) // no final newline
	if err != nil {
		t.Fatal(err)
	}
	rows := decodeLines(t, out)
	if len(rows) != 1 || rows[0]["score"] != 1.0 {
		t.Fatalf("long row not scored 1: %d rows", len(rows))
	}
}

func TestScoreCmdEmptyInput(t *testing.T) {
	out, errOut, err := execCmd(t, newScoreCmd(), "\n\n")
	if err != nil || out != "" || !strings.Contains(errOut, "scored 0 rows, 0 bad") {
		t.Fatalf("empty input: out %q, stderr %q, err %v", out, errOut, err)
	}
}

func TestScoreCmdWiring(t *testing.T) {
	out, _, err := execCmd(t, newRootCmd(), `{"data_source":"jigsaw","response":"12","ground_truth":"12"}`, "score")
	if err != nil || !strings.Contains(out, `"score":1`) {
		t.Fatalf("trainer score: out %q, err %v", out, err)
	}
	help, _, err := execCmd(t, newScoreCmd(), "", "--help")
	if err != nil || !strings.Contains(help, "--skip-bad") || !strings.Contains(help, "strict:grounding") {
		t.Fatalf("help: %v\n%s", err, help)
	}
}
