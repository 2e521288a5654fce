package tasks

import (
	"errors"
	"fmt"
)

// SamplingConfig says how frames are taken from a video before any task
// sees them (spec section 2).
type SamplingConfig struct {
	// Frames is the number of frames sampled per video (48).
	Frames int `mapstructure:"frames" yaml:"frames"`
	// StartFrac and EndFrac bound the sampled span as fractions of the
	// duration (0.05 and 0.95).
	StartFrac float64 `mapstructure:"start_frac" yaml:"start_frac"`
	EndFrac   float64 `mapstructure:"end_frac" yaml:"end_frac"`
	// MaxPixels and MinPixels bound the pixels per frame, aspect kept
	// (256x256 and 128x128 for training).
	MaxPixels int `mapstructure:"max_pixels" yaml:"max_pixels"`
	MinPixels int `mapstructure:"min_pixels" yaml:"min_pixels"`
	// JPEGQuality is the quality (1..100) of the written frames.
	JPEGQuality int `mapstructure:"jpeg_quality" yaml:"jpeg_quality"`
}

// DefaultSamplingConfig returns the training sampling settings.
func DefaultSamplingConfig() SamplingConfig {
	return SamplingConfig{Frames: 48, StartFrac: 0.05, EndFrac: 0.95, MaxPixels: 256 * 256, MinPixels: 128 * 128, JPEGQuality: 90}
}

// Validate checks the sampling settings.
func (c SamplingConfig) Validate() error {
	var errs []error
	if c.Frames < 2 {
		errs = append(errs, fmt.Errorf("sampling.frames: %d, want at least 2", c.Frames))
	}
	if c.StartFrac < 0 || c.StartFrac >= 1 {
		errs = append(errs, fmt.Errorf("sampling.start_frac: %g, want 0 <= start_frac < 1", c.StartFrac))
	}
	if c.EndFrac <= c.StartFrac || c.EndFrac > 1 {
		errs = append(errs, fmt.Errorf("sampling.end_frac: %g, want start_frac < end_frac <= 1", c.EndFrac))
	}
	if c.MaxPixels < 1 {
		errs = append(errs, fmt.Errorf("sampling.max_pixels: %d, want at least 1", c.MaxPixels))
	}
	if c.MinPixels < 0 || c.MinPixels > c.MaxPixels {
		errs = append(errs, fmt.Errorf("sampling.min_pixels: %d, want 0 <= min_pixels <= max_pixels (%d)", c.MinPixels, c.MaxPixels))
	}
	if c.JPEGQuality < 1 || c.JPEGQuality > 100 {
		errs = append(errs, fmt.Errorf("sampling.jpeg_quality: %d, want 1..100", c.JPEGQuality))
	}
	return errors.Join(errs...)
}

// GroundingConfig holds the anomaly-grounding knobs (spec section 3).
type GroundingConfig struct {
	// MinLen and MaxLen bound the perturbed segment length in frames; the
	// length is uniform on MinLen..MaxLen.
	MinLen int `mapstructure:"min_len" yaml:"min_len"`
	MaxLen int `mapstructure:"max_len" yaml:"max_len"`
	// Perturbations is the pool one perturbation is drawn from, uniformly.
	Perturbations []string `mapstructure:"perturbations" yaml:"perturbations"`
}

// TrainingPerturbations are the four perturbations of the training mix.
func TrainingPerturbations() []string {
	return []string{"channel_swap", "rotate180", "zoom_out", "mirror"}
}

// DefaultGroundingConfig returns the paper's grounding settings.
func DefaultGroundingConfig() GroundingConfig {
	return GroundingConfig{MinLen: 8, MaxLen: 16, Perturbations: TrainingPerturbations()}
}

// Validate checks the grounding settings (the perturbation names are
// checked against the perturbation package).
func (c GroundingConfig) Validate() error {
	var errs []error
	if c.MinLen < 1 {
		errs = append(errs, fmt.Errorf("grounding.min_len: %d, want at least 1", c.MinLen))
	}
	if c.MaxLen < c.MinLen {
		errs = append(errs, fmt.Errorf("grounding.max_len: %d, want at least min_len (%d)", c.MaxLen, c.MinLen))
	}
	if len(c.Perturbations) == 0 {
		errs = append(errs, errors.New("grounding.perturbations: empty, want at least one perturbation"))
	}
	for i, p := range c.Perturbations {
		if err := checkPerturbation(p); err != nil {
			errs = append(errs, fmt.Errorf("grounding.perturbations[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// CountingConfig holds the object-counting knobs (spec section 4).
type CountingConfig struct {
	// Classes is how many shape classes are used (1..3, in the order
	// circle, square, triangle).
	Classes int `mapstructure:"classes" yaml:"classes"`
	// MaxFramesPerClass (F): each class is drawn on 1..F frames.
	MaxFramesPerClass int `mapstructure:"max_frames_per_class" yaml:"max_frames_per_class"`
	// MaxInstances (I): each chosen frame gets 1..I instances.
	MaxInstances int `mapstructure:"max_instances" yaml:"max_instances"`
	// MinFrameGap: frames of the same class are strictly more than
	// MinFrameGap frames apart.
	MinFrameGap int `mapstructure:"min_frame_gap" yaml:"min_frame_gap"`
	// SizeMin and SizeMax bound the side/diameter as a fraction of min(w,h).
	SizeMin float64 `mapstructure:"size_min" yaml:"size_min"`
	SizeMax float64 `mapstructure:"size_max" yaml:"size_max"`
	// ColorMin and ColorMax bound each RGB channel of a shape.
	ColorMin int `mapstructure:"color_min" yaml:"color_min"`
	ColorMax int `mapstructure:"color_max" yaml:"color_max"`
	// CentralFrac is the central fraction of the frame (per axis) that
	// holds the centres; MarginFactor x size is kept from its edges.
	CentralFrac  float64 `mapstructure:"central_frac" yaml:"central_frac"`
	MarginFactor float64 `mapstructure:"margin_factor" yaml:"margin_factor"`
	// Tries is the number of positions tried per instance size before the
	// size is shrunk (and, at SizeMin, before the instance is dropped).
	Tries int `mapstructure:"tries" yaml:"tries"`
	// ShrinkFactor multiplies the size after Tries failed positions (it
	// never goes below SizeMin).
	ShrinkFactor float64 `mapstructure:"shrink_factor" yaml:"shrink_factor"`
	// FrameTries bounds the rejection sampling of the frames of one class.
	FrameTries int `mapstructure:"frame_tries" yaml:"frame_tries"`
}

// DefaultCountingConfig returns the paper's counting settings (the
// VIUBench "easy" level).
func DefaultCountingConfig() CountingConfig {
	return CountingConfig{
		Classes: 3, MaxFramesPerClass: 3, MaxInstances: 3, MinFrameGap: 8,
		SizeMin: 0.2, SizeMax: 0.4, ColorMin: 50, ColorMax: 255,
		CentralFrac: 0.7, MarginFactor: 0.75, Tries: 20, ShrinkFactor: 0.85, FrameTries: 1000,
	}
}

// Validate checks the counting settings.
func (c CountingConfig) Validate() error {
	var errs []error
	if c.Classes < 1 || c.Classes > 3 {
		errs = append(errs, fmt.Errorf("counting.classes: %d, want 1..3", c.Classes))
	}
	if c.MaxFramesPerClass < 1 {
		errs = append(errs, fmt.Errorf("counting.max_frames_per_class: %d, want at least 1", c.MaxFramesPerClass))
	}
	if c.MaxInstances < 1 {
		errs = append(errs, fmt.Errorf("counting.max_instances: %d, want at least 1", c.MaxInstances))
	}
	if c.MinFrameGap < 0 {
		errs = append(errs, fmt.Errorf("counting.min_frame_gap: %d, want at least 0", c.MinFrameGap))
	}
	if c.SizeMin <= 0 || c.SizeMin > 1 {
		errs = append(errs, fmt.Errorf("counting.size_min: %g, want 0 < size_min <= 1", c.SizeMin))
	}
	if c.SizeMax < c.SizeMin || c.SizeMax > 1 {
		errs = append(errs, fmt.Errorf("counting.size_max: %g, want size_min <= size_max <= 1", c.SizeMax))
	}
	if c.ColorMin < 0 || c.ColorMin > 255 {
		errs = append(errs, fmt.Errorf("counting.color_min: %d, want 0..255", c.ColorMin))
	}
	if c.ColorMax < c.ColorMin || c.ColorMax > 255 {
		errs = append(errs, fmt.Errorf("counting.color_max: %d, want color_min..255", c.ColorMax))
	}
	if c.CentralFrac <= 0 || c.CentralFrac > 1 {
		errs = append(errs, fmt.Errorf("counting.central_frac: %g, want 0 < central_frac <= 1", c.CentralFrac))
	}
	if c.MarginFactor < 0 {
		errs = append(errs, fmt.Errorf("counting.margin_factor: %g, want at least 0", c.MarginFactor))
	} else if c.MarginFactor*c.SizeMax >= c.CentralFrac/2 {
		errs = append(errs, fmt.Errorf("counting.margin_factor: %g x size_max %g leaves no room inside central_frac %g", c.MarginFactor, c.SizeMax, c.CentralFrac))
	}
	if c.Tries < 1 {
		errs = append(errs, fmt.Errorf("counting.tries: %d, want at least 1", c.Tries))
	}
	if c.ShrinkFactor <= 0 || c.ShrinkFactor >= 1 {
		errs = append(errs, fmt.Errorf("counting.shrink_factor: %g, want 0 < shrink_factor < 1", c.ShrinkFactor))
	}
	if c.FrameTries < 1 {
		errs = append(errs, fmt.Errorf("counting.frame_tries: %d, want at least 1", c.FrameTries))
	}
	return errors.Join(errs...)
}

// JigsawConfig holds the temporal-jigsaw knobs (spec section 5).
type JigsawConfig struct {
	// Clips is the number of equal clips the frames are cut into (2..9; the
	// frame count must be a multiple of it).
	Clips int `mapstructure:"clips" yaml:"clips"`
}

// DefaultJigsawConfig returns the training jigsaw settings (6 clips).
func DefaultJigsawConfig() JigsawConfig { return JigsawConfig{Clips: 6} }

// Validate checks the jigsaw settings.
func (c JigsawConfig) Validate() error {
	if c.Clips < 2 || c.Clips > 9 {
		return fmt.Errorf("jigsaw.clips: %d, want 2..9 (the answer has one digit per clip)", c.Clips)
	}
	return nil
}

// GenConfig gathers every generator knob; it is what `trainer gen
// --config` reads.
type GenConfig struct {
	Sampling  SamplingConfig  `mapstructure:"sampling" yaml:"sampling"`
	Grounding GroundingConfig `mapstructure:"grounding" yaml:"grounding"`
	Counting  CountingConfig  `mapstructure:"counting" yaml:"counting"`
	Jigsaw    JigsawConfig    `mapstructure:"jigsaw" yaml:"jigsaw"`
}

// DefaultGenConfig returns the training data settings of the paper.
func DefaultGenConfig() GenConfig {
	return GenConfig{
		Sampling:  DefaultSamplingConfig(),
		Grounding: DefaultGroundingConfig(),
		Counting:  DefaultCountingConfig(),
		Jigsaw:    DefaultJigsawConfig(),
	}
}

// Validate checks every section and the constraints between them.
func (c GenConfig) Validate() error {
	errs := []error{c.Sampling.Validate(), c.Grounding.Validate(), c.Counting.Validate(), c.Jigsaw.Validate()}
	if c.Grounding.MaxLen > c.Sampling.Frames {
		errs = append(errs, fmt.Errorf("grounding.max_len: %d exceeds sampling.frames (%d)", c.Grounding.MaxLen, c.Sampling.Frames))
	}
	if c.Jigsaw.Clips >= 2 && c.Sampling.Frames%c.Jigsaw.Clips != 0 {
		errs = append(errs, fmt.Errorf("jigsaw.clips: %d does not divide sampling.frames (%d)", c.Jigsaw.Clips, c.Sampling.Frames))
	}
	return errors.Join(errs...)
}
