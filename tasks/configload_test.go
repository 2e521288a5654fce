package tasks

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadGenConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	base := DefaultGenConfig()
	cfg, err := LoadGenConfig(write("ok.yaml", `
sampling:
  max_pixels: 50000
grounding:
  min_len: 10
  perturbations: [shuffle, invert]
counting:
  max_instances: 4
jigsaw:
  clips: 8
`), base)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sampling.MaxPixels != 50000 || cfg.Sampling.Frames != 48 || cfg.Grounding.MinLen != 10 || cfg.Grounding.MaxLen != 16 ||
		!slices.Equal(cfg.Grounding.Perturbations, []string{"shuffle", "invert"}) || cfg.Counting.MaxInstances != 4 ||
		cfg.Counting.MaxFramesPerClass != 3 || cfg.Jigsaw.Clips != 8 {
		t.Fatalf("loaded %+v", cfg)
	}
	if !slices.Equal(base.Grounding.Perturbations, TrainingPerturbations()) {
		t.Fatal("loading changed the base config's list")
	}
	for name, c := range map[string]struct{ text, want string }{
		"unknown key":   {"counting:\n  max_instance: 4\n", "max_instance"},
		"bad value":     {"jigsaw:\n  clips: 7\n", "jigsaw.clips"},
		"bad kind":      {"grounding:\n  perturbations: [wobble]\n", "wobble"},
		"not yaml":      {"grounding: [\n", "config"},
		"wrong section": {"sampler:\n  frames: 3\n", "sampler"},
	} {
		if _, err := LoadGenConfig(write(strings.ReplaceAll(name, " ", "_")+".yaml", c.text), base); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, c.want)
		}
	}
	if _, err := LoadGenConfig(filepath.Join(dir, "missing.yaml"), base); err == nil {
		t.Error("missing file accepted")
	}
}
