package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// VideoPreprocessorFile is the video processor's settings of a Qwen3-VL
// folder; when present it is read instead of PreprocessorFile.
const VideoPreprocessorFile = "video_preprocessor_config.json"

// Processor holds the pixel normalisation of a model folder's processor
// settings (preprocessor_config.json): pixels are scaled to [0,1] and
// normalised per channel as (x - Mean) / Std.
type Processor struct {
	Mean, Std [3]float64
	// File is the settings file the values came from.
	File string
}

// processorJSON is the part of a Hugging Face processor config that
// changes how this project prepares pixels.
type processorJSON struct {
	DoRescale         *bool     `json:"do_rescale"`
	RescaleFactor     *float64  `json:"rescale_factor"`
	DoNormalize       *bool     `json:"do_normalize"`
	ImageMean         []float64 `json:"image_mean"`
	ImageStd          []float64 `json:"image_std"`
	PatchSize         *int      `json:"patch_size"`
	TemporalPatchSize *int      `json:"temporal_patch_size"`
	MergeSize         *int      `json:"merge_size"`
}

// LoadProcessor reads the processor settings of a model folder: the video
// processor's file when the folder has one, else preprocessor_config.json.
// A folder with neither gives nil (the architecture's defaults, ImageNorm).
// Patch sizes must agree with c's vision config; settings this project
// does not implement (another rescale factor) are an error naming the file
// and the key.
func LoadProcessor(dir string, c Config) (*Processor, error) {
	var path string
	for _, name := range []string{VideoPreprocessorFile, PreprocessorFile} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			path = p
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var pj processorJSON
	if err := json.Unmarshal(raw, &pj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%s: %s: %s", path, key, fmt.Sprintf(format, a...))
	}
	v := c.VisionConfig
	for _, s := range []struct {
		key  string
		got  *int
		want int
	}{{"patch_size", pj.PatchSize, v.PatchSize}, {"temporal_patch_size", pj.TemporalPatchSize, v.TemporalPatchSize}, {"merge_size", pj.MergeSize, v.SpatialMergeSize}} {
		if s.got != nil && *s.got != s.want {
			return nil, bad(s.key, "%d, but config.json's vision_config has %d", *s.got, s.want)
		}
	}
	if pj.DoRescale != nil && !*pj.DoRescale {
		return nil, bad("do_rescale", "false is not supported (pixels are always scaled by 1/255)")
	}
	if f := pj.RescaleFactor; f != nil && math.Abs(*f-1.0/255) > 1e-9 {
		return nil, bad("rescale_factor", "%g is not supported (1/255)", *f)
	}
	p := &Processor{File: path}
	p.Mean, p.Std = c.ImageNorm()
	if pj.DoNormalize != nil && !*pj.DoNormalize {
		p.Mean, p.Std = [3]float64{}, [3]float64{1, 1, 1}
		return p, nil
	}
	if pj.ImageMean != nil {
		if len(pj.ImageMean) != 3 {
			return nil, bad("image_mean", "%v: want 3 values", pj.ImageMean)
		}
		copy(p.Mean[:], pj.ImageMean)
	}
	if pj.ImageStd != nil {
		if len(pj.ImageStd) != 3 {
			return nil, bad("image_std", "%v: want 3 values", pj.ImageStd)
		}
		copy(p.Std[:], pj.ImageStd)
	}
	for i, s := range p.Std {
		if !(s > 0) || math.IsInf(s, 0) || math.IsNaN(p.Mean[i]) || math.IsInf(p.Mean[i], 0) {
			return nil, bad("image_std", "channel %d: mean %g, std %g: want a finite mean and a positive std", i, p.Mean[i], s)
		}
	}
	return p, nil
}
