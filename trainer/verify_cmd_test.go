package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/trainer/grpo"
)

// TestEvalExportRefuseDamagedCheckpoints: eval and export check a model
// folder before using it: a flipped byte against its manifest, and NaN
// weights, are errors naming the file (and the tensor).
func TestEvalExportRefuseDamagedCheckpoints(t *testing.T) {
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good")
	if _, _, err := execCmd(t, newRootCmd(), "", "export", "--out", good, "--external-data-threshold", "-1"); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(good, model.ONNXDir)) // a model folder, as in a checkpoint
	if err := grpo.WriteManifest(good); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(good, model.WeightsFile)
	store, err := params.Load(weights)
	if err != nil {
		t.Fatal(err)
	}
	nanName := store.Names()[3]

	flipped := copyDir(t, good, filepath.Join(tmp, "flipped"))
	p := filepath.Join(flipped, model.WeightsFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-5] ^= 0x01 // a bit of the last weight: still finite
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}

	nan := copyDir(t, good, filepath.Join(tmp, "nan"))
	prm, _ := store.Get(nanName)
	prm.Data[7] = float32(math.NaN())
	if err := store.Save(filepath.Join(nan, model.WeightsFile), nil); err != nil {
		t.Fatal(err)
	}
	if err := grpo.WriteManifest(nan); err != nil { // checksums agree: only the values are bad
		t.Fatal(err)
	}

	data := filepath.Join(tmp, "data.jsonl") // never read
	for _, c := range []struct {
		dir   string
		wants []string
	}{
		{flipped, []string{p, "damaged", "sha256"}},
		{nan, []string{filepath.Join(nan, model.WeightsFile), `tensor "` + nanName + `"`, "element 7", "non-finite"}},
	} {
		for _, args := range [][]string{
			{"eval", "--checkpoint", c.dir, "--data", data},
			{"export", "--checkpoint", c.dir, "--out", filepath.Join(tmp, "out")},
		} {
			_, _, err := execCmd(t, newRootCmd(), "", args...)
			if err == nil {
				t.Fatalf("%v: accepted", args)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: error %q does not mention %q", args, err, w)
				}
			}
		}
	}
	// The intact folder exports (the checks pass on good files).
	if _, _, err := execCmd(t, newRootCmd(), "", "export", "--checkpoint", good, "--out", filepath.Join(tmp, "out")); err != nil {
		t.Fatal(err)
	}
}

// copyDir copies the plain files of from into a new folder to.
func copyDir(t *testing.T, from, to string) string {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}
