package metrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRolloutLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := RolloutLog{RunDir: dir, Every: 5}
	for step, want := range map[int]bool{0: false, 1: false, 5: true, 7: false, 10: true} {
		if l.Due(step) != want {
			t.Errorf("Due(%d) = %v", step, !want)
		}
	}
	if (RolloutLog{RunDir: dir}).Due(5) {
		t.Error("Every 0 is due")
	}
	groups := []RolloutGroup{
		{SampleID: "a1", DataSource: "grounding", Subtype: "grounding_mirror", Prompt: "<video>\nWhen? <start>-<end>", Answer: "1.0-2.0",
			Responses: []RolloutResponse{
				{Text: "1.0 - 2.0", Reward: 1, Advantage: 1.1547, Tokens: 6, Finish: "eos"},
				{Text: "0-9", Reward: 0.111, Advantage: -0.5774, Tokens: 4, Finish: "eos"},
				{Text: "", Reward: 0, Advantage: Float(math.NaN()), Tokens: 64, Finish: "length"},
			}},
		{SampleID: "b2", DataSource: "counting", Prompt: "count", Answer: "1,2,3"},
	}
	p, err := l.Write(10, groups)
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "rollouts", "step-000010.jsonl") || !IsRolloutFile(p) {
		t.Fatalf("path %s", p)
	}
	raw, _ := os.ReadFile(p)
	if !strings.Contains(string(raw), `"prompt":"<video>\nWhen? <start>-<end>"`) || !strings.Contains(string(raw), `"advantage":null`) {
		t.Errorf("file:\n%s", raw)
	}
	got, err := ReadRollouts(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Step != 10 || got[1].Step != 10 || len(got[0].Responses) != 3 || got[1].Responses == nil {
		t.Fatalf("read back %+v", got)
	}
	r := got[0].Responses
	if r[0].Text != "1.0 - 2.0" || r[0].Reward != 1 || r[1].Advantage != -0.5774 || r[2].Tokens != 64 || r[2].Finish != "length" || !math.IsNaN(float64(r[2].Advantage)) {
		t.Errorf("responses %+v", r)
	}
	if groups[0].Step != 0 {
		t.Error("Write changed the caller's groups")
	}
	if _, err := l.Write(5, groups[:1]); err != nil {
		t.Fatal(err)
	}
	files, err := ListRollouts(dir)
	if err != nil || len(files) != 2 || files[0].Step != 5 || files[1].Step != 10 {
		t.Fatalf("ListRollouts = %+v, %v", files, err)
	}
	if files, err := ListRollouts(t.TempDir()); err != nil || files != nil {
		t.Errorf("run without rollouts: %v, %v", files, err)
	}
}

func TestReadRolloutsErrors(t *testing.T) {
	p := filepath.Join(t.TempDir(), "step-000001.jsonl")
	os.WriteFile(p, []byte("{\"step\":1,\"sample_id\":\"x\",\"responses\":[]}\n\n{\"step\":1,\"bogus\":2}\n"), 0o644)
	if _, err := ReadRollouts(p); err == nil || !strings.Contains(err.Error(), "step-000001.jsonl:3") {
		t.Fatalf("err = %v, want file:3", err)
	}
	if IsRolloutFile("data.jsonl") || !IsRolloutFile("x/step-1234567.jsonl") {
		t.Error("IsRolloutFile")
	}
}
