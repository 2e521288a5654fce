package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/safetensors"
)

// validState is a state.json a run of smallConfig can resume: the warm-up
// done (30 steps of 12 samples), 2 of 4 GRPO steps of 4 prompts, so the
// cursors count 30x12 + 2x4 = 368 draws.
func validState() map[string]any {
	return map[string]any{
		"phase": "grpo", "sft_step": 30, "grpo_step": 2,
		"cursors": map[string]any{"grounding": 100, "counting": 150, "jigsaw": 118},
		"rewards": []float64{0, 0.5}, "zero_var": []float64{1, 0.5},
	}
}

// fakeCheckpoint writes a checkpoint folder runDir/checkpoints/name with the
// state st, a small model.safetensors holding w and a manifest, and points
// latest at it. It returns the folder.
func fakeCheckpoint(t *testing.T, runDir, name string, st map[string]any, w []float32) string {
	t.Helper()
	dir := filepath.Join(runDir, ckptDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = safetensors.WriteFloat32Map(filepath.Join(dir, "model.safetensors"), safetensors.F32, map[string]safetensors.Float32Tensor{
		"model.embed_tokens.weight": {Shape: []int64{int64(len(w))}, Data: w},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, ckptDir, latestFile), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestResumeRefusesBadState: --resume checks the checkpoint before any work
// and refuses a bad one with an error naming the file and the field.
func TestResumeRefusesBadState(t *testing.T) {
	outside := t.TempDir() // a folder outside the run directory
	cases := []struct {
		name  string
		edit  func(t *testing.T, st map[string]any, runDir string)
		wants []string // in the error, besides the run directory
	}{
		{"negative cursor", func(_ *testing.T, st map[string]any, _ string) { st["cursors"].(map[string]any)["grounding"] = -7 }, []string{"state.json", `"cursors"`, "grounding: -7 is negative"}},
		{"cursor out of range", func(_ *testing.T, st map[string]any, _ string) { st["cursors"].(map[string]any)["jigsaw"] = 10_000 }, []string{"state.json", `"cursors"`, "jigsaw: 10000, with the others more samples than the 368"}},
		{"unknown cursor", func(_ *testing.T, st map[string]any, _ string) { st["cursors"].(map[string]any)["audio"] = 0 }, []string{"state.json", `"cursors"`, `"audio"`}},
		{"negative grpo_step", func(_ *testing.T, st map[string]any, _ string) { st["grpo_step"] = -5 }, []string{"state.json", `"grpo_step"`, "-5 is negative"}},
		{"negative sft_step", func(_ *testing.T, st map[string]any, _ string) { st["sft_step"] = -1 }, []string{"state.json", `"sft_step"`, "negative"}},
		{"grpo_step beyond the config", func(_ *testing.T, st map[string]any, _ string) {
			st["grpo_step"], st["rewards"], st["zero_var"] = 9, make([]float64, 9), make([]float64, 9)
		}, []string{"state.json", `"grpo_step"`, "beyond the config's grpo.steps 4"}},
		{"sft_step beyond the config", func(_ *testing.T, st map[string]any, _ string) {
			st["phase"], st["sft_step"], st["grpo_step"], st["rewards"], st["zero_var"] = "sft", 31, 0, nil, nil
		}, []string{"state.json", `"sft_step"`, "beyond the config's sft.steps 30"}},
		{"unknown phase", func(_ *testing.T, st map[string]any, _ string) { st["phase"] = "bogus" }, []string{"state.json", `"phase"`, `"bogus"`}},
		{"rewards of other steps", func(_ *testing.T, st map[string]any, _ string) { st["rewards"] = []float64{1} }, []string{"state.json", `"rewards"`}},
		{"wrong type", func(_ *testing.T, st map[string]any, _ string) { st["grpo_step"] = "two" }, []string{"state.json", "grpo_step"}},
		{"latest outside the run", func(t *testing.T, _ map[string]any, runDir string) { writeLatest(t, runDir, "../../../etc") }, []string{"checkpoints/latest", `"../../../etc"`, "not a checkpoint folder"}},
		{"latest absolute", func(t *testing.T, _ map[string]any, runDir string) { writeLatest(t, runDir, outside) }, []string{"checkpoints/latest", "not a checkpoint folder"}},
		{"latest missing", func(t *testing.T, _ map[string]any, runDir string) { writeLatest(t, runDir, "1-grpo-000009") }, []string{"checkpoints/latest", "1-grpo-000009", "does not exist"}},
		{"latest a link out", func(t *testing.T, _ map[string]any, runDir string) {
			writeLatest(t, runDir, "1-grpo-000003")
			if err := os.Symlink(outside, filepath.Join(runDir, ckptDir, "1-grpo-000003")); err != nil {
				t.Fatal(err)
			}
		}, []string{"checkpoints/latest", "1-grpo-000003", "not a folder"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runDir := t.TempDir()
			st := validState()
			if c.name != "sft_step beyond the config" && c.name != "wrong type" && !strings.HasPrefix(c.name, "latest") {
				// The unedited state resumes (the check can pass).
				fakeCheckpoint(t, runDir, "1-grpo-000002", st, []float32{1, 2})
				if _, _, _, err := ReadCheckpointState(smallConfig(t, runDir)); err != nil {
					t.Fatalf("valid state refused: %v", err)
				}
			}
			c.edit(t, st, runDir)
			if !strings.HasPrefix(c.name, "latest") {
				fakeCheckpoint(t, runDir, "1-grpo-000002", st, []float32{1, 2})
			}
			_, err := Run(context.Background(), smallConfig(t, runDir), Options{Resume: true})
			if err == nil {
				t.Fatal("resumed")
			}
			t.Log(err)
			for _, w := range append(c.wants, runDir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func writeLatest(t *testing.T, runDir, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(runDir, ckptDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(runDir, ckptDir, latestFile), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestResumeRefusesDamagedCheckpoint: a flipped byte, a missing file and a
// NaN weight in the checkpoint are each refused, naming the file (and the
// tensor).
func TestResumeRefusesDamagedCheckpoint(t *testing.T) {
	nan := float32(math.NaN())
	cases := []struct {
		name  string
		w     []float32
		edit  func(dir string)
		wants []string
	}{
		{"flipped byte", []float32{1, 2, 3}, func(dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)-3] ^= 0x10
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"model.safetensors", "damaged", "sha256"}},
		{"missing file", []float32{1, 2, 3}, func(dir string) { os.Remove(filepath.Join(dir, "model.safetensors")) }, []string{"model.safetensors", "missing"}},
		{"NaN weight", []float32{1, nan, 3}, func(string) {}, []string{"model.safetensors", `tensor "model.embed_tokens.weight"`, "element 1", "non-finite"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runDir := t.TempDir()
			dir := fakeCheckpoint(t, runDir, "1-grpo-000002", validState(), c.w)
			c.edit(dir)
			_, err := Run(context.Background(), smallConfig(t, runDir), Options{Resume: true})
			if err == nil {
				t.Fatal("resumed")
			}
			t.Log(err)
			for _, w := range append(c.wants, dir) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if c.name == "NaN weight" && !errors.Is(err, ErrNonFinite) {
				t.Errorf("error %v is not ErrNonFinite", err)
			}
		})
	}
}

// TestRecoverInterruptedCheckpointWrite: a run directory as a kill in the
// middle of a checkpoint write leaves it resumes from a complete checkpoint,
// and the leftovers are cleaned.
func TestRecoverInterruptedCheckpointWrite(t *testing.T) {
	cases := []struct {
		name string
		// layout turns a run with a complete checkpoint 1-grpo-000002
		// (latest) into the state a kill leaves.
		layout func(t *testing.T, root string)
		// want is the checkpoint latest must lead to, with its weights.
		want []float32
	}{
		{"killed between moving the old folder aside and the new one in", func(t *testing.T, root string) {
			rename(t, filepath.Join(root, "1-grpo-000002"), filepath.Join(root, "1-grpo-000002"+asideSuffix))
			fakeCheckpoint(t, filepath.Dir(root), "1-grpo-000002", validState(), []float32{9, 9})
			rename(t, filepath.Join(root, "1-grpo-000002"), filepath.Join(root, "1-grpo-000002"+tmpSuffix))
		}, []float32{1, 2}},
		{"killed after the new folder is in, before the old is deleted", func(t *testing.T, root string) {
			rename(t, filepath.Join(root, "1-grpo-000002"), filepath.Join(root, "1-grpo-000002"+asideSuffix))
			fakeCheckpoint(t, filepath.Dir(root), "1-grpo-000002", validState(), []float32{9, 9})
		}, []float32{9, 9}},
		{"an older trainer killed between deleting the old folder and renaming the new one in", func(t *testing.T, root string) {
			os.RemoveAll(filepath.Join(root, "1-grpo-000002"))
			fakeCheckpoint(t, filepath.Dir(root), "1-grpo-000002", validState(), []float32{9, 9})
			rename(t, filepath.Join(root, "1-grpo-000002"), filepath.Join(root, "1-grpo-000002"+tmpSuffix))
		}, []float32{9, 9}},
		{"killed while writing the next checkpoint", func(t *testing.T, root string) {
			if err := os.MkdirAll(filepath.Join(root, "1-grpo-000004"+tmpSuffix), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, ".latest.tmp-123"), []byte("1-grpo-000004"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []float32{1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runDir := t.TempDir()
			root := filepath.Join(runDir, ckptDir)
			fakeCheckpoint(t, runDir, "1-grpo-000002", validState(), []float32{1, 2})
			c.layout(t, root)
			// final/ of an interrupted write, too.
			for _, d := range []string{"final", "final" + tmpSuffix, "final" + asideSuffix} {
				if err := os.MkdirAll(filepath.Join(runDir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := recoverCheckpoints(runDir, t.Logf); err != nil {
				t.Fatal(err)
			}
			dir, _, hasManifest, err := ReadCheckpointState(smallConfig(t, runDir))
			if err != nil || !hasManifest {
				t.Fatalf("resume after the kill: %v (manifest %v)", err, hasManifest)
			}
			f, err := safetensors.Read(filepath.Join(dir, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			w, _, err := f.Float32("model.embed_tokens.weight")
			if err != nil || w[0] != c.want[0] {
				t.Fatalf("resumes from weights %v (%v), want %v", w, err, c.want)
			}
			ents, _ := os.ReadDir(root)
			for _, e := range ents {
				if e.Name() != latestFile && e.Name() != "1-grpo-000002" {
					t.Errorf("left over: %s", e.Name())
				}
			}
			for _, d := range []string{"final" + tmpSuffix, "final" + asideSuffix} {
				if fileExists(filepath.Join(runDir, d)) {
					t.Errorf("left over: %s", d)
				}
			}
		})
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}
