package model

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadProcessor: a folder's processor settings set the pixel
// normalisation (the video processor's file first), settings that do not
// fit the model or this project are errors naming the file and the key,
// and a folder without them keeps the architecture's defaults.
func TestLoadProcessor(t *testing.T) {
	c := tinyTest()
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	if p, err := LoadProcessor(t.TempDir(), c); p != nil || err != nil {
		t.Fatalf("empty folder: %+v, %v", p, err)
	}
	custom := `{"image_mean": [0.1, 0.2, 0.3], "image_std": [0.5, 0.6, 0.7], "patch_size": 14, "merge_size": 2, "temporal_patch_size": 2, "rescale_factor": 0.00392156862745098}`
	p, err := LoadProcessor(write(t, map[string]string{PreprocessorFile: custom}), c)
	if err != nil || p.Mean != [3]float64{0.1, 0.2, 0.3} || p.Std != [3]float64{0.5, 0.6, 0.7} {
		t.Fatalf("custom settings: %+v, %v", p, err)
	}
	// The normalisation reaches the patches: a mid-grey frame gives
	// (128/255 - mean) / std in every channel's columns.
	cc := c
	cc.Processor = p
	f := cc.VisionConfig.PatchSize * cc.VisionConfig.SpatialMergeSize
	frame := make([]byte, 3*f*f)
	for i := range frame {
		frame[i] = 128
	}
	vi, err := cc.Patchify([][]byte{frame, frame}, f, f)
	if err != nil {
		t.Fatal(err)
	}
	per := len(vi.Patches) / (vi.Grid.GT * vi.Grid.GH * vi.Grid.GW) / 3
	for ch := 0; ch < 3; ch++ {
		want := (128.0/255 - p.Mean[ch]) / p.Std[ch]
		if got := float64(vi.Patches[ch*per]); math.Abs(got-want) > 1e-5 {
			t.Fatalf("channel %d patch value %g, want %g", ch, got, want)
		}
	}
	both := write(t, map[string]string{PreprocessorFile: custom, VideoPreprocessorFile: `{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}`})
	if p, err := LoadProcessor(both, c); err != nil || p.Std != [3]float64{0.25, 0.25, 0.25} || !strings.HasSuffix(p.File, VideoPreprocessorFile) {
		t.Fatalf("video processor settings not preferred: %+v, %v", p, err)
	}
	if p, err := LoadProcessor(write(t, map[string]string{PreprocessorFile: `{"do_normalize": false}`}), c); err != nil || p.Mean != [3]float64{} || p.Std != [3]float64{1, 1, 1} {
		t.Fatalf("do_normalize false: %+v, %v", p, err)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"patch_size": 16}`, "patch_size: 16, but config.json's vision_config has 14"},
		{`{"merge_size": 4}`, "merge_size"},
		{`{"rescale_factor": 0.0078125}`, "rescale_factor"},
		{`{"do_rescale": false}`, "do_rescale"},
		{`{"image_std": [0.5, 0, 0.5]}`, "image_std"},
		{`{"image_mean": [0.5, 0.5]}`, "image_mean"},
		{`{"image_mean": `, PreprocessorFile},
	} {
		_, err := LoadProcessor(write(t, map[string]string{PreprocessorFile: tc.body}), c)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), PreprocessorFile) {
			t.Errorf("%s: error %v, want one naming %s and %q", tc.body, err, PreprocessorFile, tc.want)
		}
	}
}

// TestProcessorExportRoundTrip: an exported folder's processor settings
// load back with the model, and a folder with bad ones fails to load.
func TestProcessorExportRoundTrip(t *testing.T) {
	c := tinyTest()
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Export(context.Background(), dir, c, store, ExportOptions{Graphs: []string{GraphVision}}); err != nil {
		t.Fatal(err)
	}
	lc, _, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	mean, std := c.ImageNorm()
	if lc.Processor == nil || lc.Processor.Mean != mean || lc.Processor.Std != std {
		t.Fatalf("loaded processor %+v, want CLIP %v %v", lc.Processor, mean, std)
	}
	if err := os.WriteFile(filepath.Join(dir, PreprocessorFile), []byte(`{"temporal_patch_size": 4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadHF(dir); err == nil || !strings.Contains(err.Error(), "temporal_patch_size") {
		t.Fatalf("bad processor settings: %v", err)
	}
}
