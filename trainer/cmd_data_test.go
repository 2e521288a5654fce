package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks/dataset"
)

func TestDataCheck(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"f/00.jpg", "f/01.jpg"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("jpeg"), 0o644)
	}
	good := `{"id":"g1","data_source":"grounding","prompt":[{"role":"user","content":"<video>\nWhen?"}],"frames":["f/00.jpg","f/01.jpg"],"fps":2,"answer":"0.5 - 1.0"}
{"data_source":"mytask","prompt":[{"role":"user","content":"<video> Say hi."}],"videos":[{"video":["f/00.jpg"],"sample_fps":1}],"reward_model":{"ground_truth":"hi"}}
{"data_source":"temporal_jigsaw","prompt":[{"role":"user","content":"Clip 1: <video>\nClip 2: <video>\nOrder?"}],"videos":[{"video":["f/00.jpg"],"sample_fps":1},{"video":["f/01.jpg"],"sample_fps":1}],"reward_model":{"ground_truth":"21"}}
`
	os.WriteFile(filepath.Join(dir, "good.jsonl"), []byte(good), 0o644)
	out, _, err := execCmd(t, newRootCmd(), "", "data", "check", filepath.Join(dir, "*.jsonl"), "--source", "mytask", "--source-alias", "temporal_jigsaw=jigsaw")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "good.jsonl: 3 rows (mixed layout); per data source: grounding 1, jigsaw 1, mytask 1") || !strings.Contains(out, "ok: 3 samples in 1 files, 2 frame files checked") {
		t.Errorf("output:\n%s", out)
	}

	// Without the plug-in's name and the alias, and with a missing frame.
	bad := strings.Replace(good, "f/01.jpg", "f/02.jpg", 1)
	os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(bad), 0o644)
	out, _, err = execCmd(t, newRootCmd(), "", "data", "check", filepath.Join(dir, "bad.jsonl"))
	if !errors.Is(err, dataset.ErrBadTrainingData) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"bad.jsonl: line 1: field frames[0][1]: frame file " + filepath.Join(dir, "f", "02.jpg") + " does not exist",
		`bad.jsonl: line 2: field data_source: reward: unknown data source "mytask"`,
		`bad.jsonl: line 3: field data_source: reward: unknown data source "temporal_jigsaw"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.Contains(out, "0 of 3 rows usable") {
		t.Errorf("output:\n%s", out)
	}
	if _, _, err := execCmd(t, newRootCmd(), "", "data", "check", "--source-alias", "x", filepath.Join(dir, "good.jsonl")); err == nil {
		t.Error("bad alias accepted")
	}
}
