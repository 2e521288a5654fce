package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/tokenizer"
)

// TestExportCmdFreshAndCheckpoint exports a fresh tiny model, then exports
// again from that folder as a checkpoint: the weights come back bit-exact,
// the tokenizer file is carried over, and the loss settings of the config
// reach io.json.
func TestExportCmdFreshAndCheckpoint(t *testing.T) {
	tmp := t.TempDir()
	first := filepath.Join(tmp, "first")
	out, _, err := execCmd(t, newRootCmd(), "", "export", "--out", first, "--set", "model.init_seed=5", "--set", "grpo.clip_high=0.28", "--opset", "17")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "exported qwen2_vl") {
		t.Errorf("output %q", out)
	}
	c, err := model.LoadJSON(filepath.Join(first, model.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(first)
	if err != nil {
		t.Fatalf("exported tokenizer: %v", err)
	}
	video, _ := tok.TokenID(tokenizer.VideoPad)
	eos, _ := tok.TokenID(tokenizer.ImEnd)
	if c.VocabSize != tok.VocabSize() || c.VideoTokenID != video || c.EosTokenID != eos || c.VocabSize != 1024 {
		t.Errorf("config: vocab %d, video token %d, eos %d; tokenizer: vocab %d, video %d, eos %d",
			c.VocabSize, c.VideoTokenID, c.EosTokenID, tok.VocabSize(), video, eos)
	}
	spec, err := model.LoadIOSpec(filepath.Join(first, model.ONNXDir, model.IOFile))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Opset != 17 || len(spec.Graphs) != len(model.AllGraphs()) {
		t.Fatalf("io.json: opset %d, %d graphs", spec.Opset, len(spec.Graphs))
	}
	grpo, ok := spec.Graph(model.GraphGRPO)
	if !ok || grpo.Loss == nil || grpo.Loss.ClipHigh != 0.28 || grpo.Loss.KLType != "k3" {
		t.Fatalf("grpo loss in io.json: %+v", grpo.Loss)
	}
	for _, g := range spec.Graphs {
		if _, err := os.Stat(filepath.Join(first, model.ONNXDir, g.File)); err != nil {
			t.Error(err)
		}
	}

	// The same seed gives the same weights; another seed does not.
	want, err := c.InitParams(5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := params.Load(filepath.Join(first, model.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.InitParams(6)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b *params.Store) bool {
		for _, p := range a.Params() {
			q, ok := b.Get(p.Name)
			if !ok || len(q.Data) != len(p.Data) {
				return false
			}
			for i := range p.Data {
				if p.Data[i] != q.Data[i] {
					return false
				}
			}
		}
		return a.Len() == b.Len()
	}
	if !same(got, want) || same(got, other) {
		t.Fatal("exported weights are not the fresh init of model.init_seed")
	}

	// Export again from the first folder as a checkpoint.
	tokFile := []byte(`{"model": {"type": "BPE"}}`)
	if err := os.WriteFile(filepath.Join(first, "tokenizer.json"), tokFile, 0o644); err != nil {
		t.Fatal(err)
	}
	second := filepath.Join(tmp, "second")
	if _, _, err := execCmd(t, newRootCmd(), "", "export", "--checkpoint", first, "--out", second, "--external-data-threshold", "4096"); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(filepath.Join(first, model.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(second, model.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("model.safetensors differs after a checkpoint round trip")
	}
	if gotTok, err := os.ReadFile(filepath.Join(second, "tokenizer.json")); err != nil || !bytes.Equal(gotTok, tokFile) {
		t.Errorf("tokenizer.json not carried over: %v", err)
	}
	spec2, err := model.LoadIOSpec(filepath.Join(second, model.ONNXDir, model.IOFile))
	if err != nil {
		t.Fatal(err)
	}
	if pre, _ := spec2.Graph(model.GraphPrefill); spec2.Opset != 18 || pre.ExternalData == "" {
		t.Errorf("second export: opset %d, prefill external data %q", spec2.Opset, pre.ExternalData)
	}
}

// TestExportLossIsTheTrainers: export builds its training graphs with the
// trainer's loss settings (grpo.LossConfig): with grpo.kl_coef 0 the GRPO
// graph has no KL term and takes no ref_log_probs, and model.recompute
// reaches both training graphs.
func TestExportLossIsTheTrainers(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m")
	if _, _, err := execCmd(t, newRootCmd(), "", "export", "--out", out, "--set", "grpo.kl_coef=0", "--set", "model.recompute=true"); err != nil {
		t.Fatal(err)
	}
	spec, err := model.LoadIOSpec(filepath.Join(out, model.ONNXDir, model.IOFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{model.GraphGRPO, model.GraphSFT} {
		g, ok := spec.Graph(name)
		if !ok || g.Loss == nil || !g.Loss.Recompute {
			t.Fatalf("%s: loss %+v, want recompute", name, g.Loss)
		}
		if name != model.GraphGRPO {
			continue
		}
		if g.Loss.KLType != model.KLNone {
			t.Errorf("%s: kl_type %q with kl_coef 0, want none", name, g.Loss.KLType)
		}
		for _, in := range g.Inputs {
			if in.Name == model.InRefLogProbs {
				t.Errorf("%s takes %s with kl_coef 0", name, in.Name)
			}
		}
	}
}

func TestExportCmdErrors(t *testing.T) {
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, model.ConfigFile), []byte(`{"model_type": "llama"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"export"}, "--out is required"},
		{"missing checkpoint", []string{"export", "--out", filepath.Join(tmp, "o1"), "--checkpoint", filepath.Join(tmp, "nope")}, "read model config"},
		{"unsupported checkpoint", []string{"export", "--out", filepath.Join(tmp, "o2"), "--checkpoint", bad}, "model_type"},
		{"bad opset", []string{"export", "--out", filepath.Join(tmp, "o3"), "--opset", "16"}, "opset 16 unsupported"},
		{"unknown config key", []string{"export", "--out", filepath.Join(tmp, "o4"), "--set", "model.nope=1"}, "unknown key"},
		{"hf preset without path", []string{"export", "--out", filepath.Join(tmp, "o5"), "--set", "model.preset=hf"}, "model.path"},
		{"missing tokenizer", []string{"export", "--out", filepath.Join(tmp, "o6"), "--set", "model.tokenizer=" + filepath.Join(tmp, "none.json")}, "model.tokenizer"},
		{"out is checkpoint", []string{"export", "--out", bad, "--checkpoint", bad + "/"}, "must differ"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := execCmd(t, newRootCmd(), "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// readLimits returns min_pixels and max_pixels of a folder's
// preprocessor_config.json.
func readLimits(t *testing.T, dir string) (int, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, model.PreprocessorFile))
	if err != nil {
		t.Fatal(err)
	}
	var pj struct {
		MinPixels int `json:"min_pixels"`
		MaxPixels int `json:"max_pixels"`
	}
	if err := json.Unmarshal(b, &pj); err != nil {
		t.Fatal(err)
	}
	return pj.MinPixels, pj.MaxPixels
}

// TestExportProcessorLimits: the exported preprocessor_config.json carries
// the run's frame area bounds (data.sampling for a fresh model, the
// checkpoint's own processor file otherwise), and the checkpoint's files
// are never written.
func TestExportProcessorLimits(t *testing.T) {
	tmp := t.TempDir()
	first := filepath.Join(tmp, "first")
	out, _, err := execCmd(t, newRootCmd(), "", "export", "--out", first, "--set", "data.sampling.min_pixels=1568", "--set", "data.sampling.max_pixels=6272")
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := readLimits(t, first); lo != 1568 || hi != 6272 {
		t.Fatalf("fresh export: min/max pixels %d/%d, want data.sampling's 1568/6272", lo, hi)
	}
	if !strings.Contains(out, "frame area 1568..6272 pixels (from data.sampling)") {
		t.Errorf("output %q", out)
	}

	// A checkpoint records its run's bounds; the default config (784/3136)
	// must not replace them, and the checkpoint's file stays as it was.
	ckProc := filepath.Join(first, model.PreprocessorFile)
	if err := os.WriteFile(ckProc, []byte(`{"min_pixels": 3136, "max_pixels": 50176, "patch_size": 14}`), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(ckProc)
	second := filepath.Join(tmp, "second")
	if _, _, err := execCmd(t, newRootCmd(), "", "export", "--checkpoint", first, "--out", second); err != nil {
		t.Fatal(err)
	}
	if lo, hi := readLimits(t, second); lo != 3136 || hi != 50176 {
		t.Fatalf("checkpoint export: min/max pixels %d/%d, want the checkpoint's 3136/50176", lo, hi)
	}
	if after, _ := os.ReadFile(ckProc); !bytes.Equal(before, after) {
		t.Fatalf("the checkpoint's preprocessor_config.json was rewritten:\n%s", after)
	}

	// --out reaching the checkpoint through a symbolic link is refused
	// before anything is written.
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(first, link); err != nil {
		t.Skip(err)
	}
	if _, _, err := execCmd(t, newRootCmd(), "", "export", "--checkpoint", first, "--out", link); err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Fatalf("export into the checkpoint through a link: %v", err)
	}
	if after, _ := os.ReadFile(ckProc); !bytes.Equal(before, after) {
		t.Fatal("the checkpoint's preprocessor_config.json was rewritten through a link")
	}

	// Qwen3-VL style: the video processor's size.{shortest,longest}_edge.
	if err := os.WriteFile(filepath.Join(first, model.VideoPreprocessorFile), []byte(`{"size": {"shortest_edge": 4096, "longest_edge": 65536}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if lo, hi, file, ok, err := processorLimits(first); err != nil || !ok || lo != 4096 || hi != 65536 || filepath.Base(file) != model.VideoPreprocessorFile {
		t.Errorf("video processor limits: %d %d %s %v %v", lo, hi, file, ok, err)
	}
	if err := os.WriteFile(filepath.Join(first, model.VideoPreprocessorFile), []byte(`{"min_pixels": 10, "max_pixels": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := processorLimits(first); err == nil || !strings.Contains(err.Error(), model.VideoPreprocessorFile) {
		t.Errorf("bad limits: %v", err)
	}
	// No processor file: the configuration's bounds.
	empty := t.TempDir()
	if _, _, _, ok, err := processorLimits(empty); ok || err != nil {
		t.Errorf("folder without processor file: %v %v", ok, err)
	}
}
