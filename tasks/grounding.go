package tasks

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/videossr/videossr-go/tasks/perturb"
)

// checkPerturbation validates one perturbation name.
func checkPerturbation(name string) error {
	if _, err := perturb.Parse(name); err != nil {
		return fmt.Errorf("perturbation %q: %w", name, err)
	}
	return nil
}

// GenerateGrounding draws a perturbation from cfg.Perturbations, a segment
// length t uniform on cfg.MinLen..cfg.MaxLen and a start uniform over the
// valid starts, and applies the perturbation to that segment only. The
// answer is "S-E" in seconds with one decimal: S = start/fps,
// E = (start+t)/fps. src is not modified.
func GenerateGrounding(src Source, cfg GroundingConfig, rng *rand.Rand) (*Generated, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkSource(src, cfg.MaxLen); err != nil {
		return nil, err
	}
	name := cfg.Perturbations[rng.IntN(len(cfg.Perturbations))]
	kind, err := perturb.Parse(name)
	if err != nil {
		return nil, fmt.Errorf("grounding: %w", err)
	}
	n := len(src.Frames)
	t := uniformInt(rng, cfg.MinLen, cfg.MaxLen)
	start := rng.IntN(n - t + 1)
	frames, params, err := perturb.Apply(kind, perturb.Input{Frames: src.Frames, Start: start, Length: t, Donor: src.Donor}, rng)
	if err != nil {
		return nil, fmt.Errorf("grounding: apply %s to frames %d..%d: %w", kind, start, start+t-1, err)
	}
	if len(frames) != n {
		return nil, fmt.Errorf("grounding: perturbation %s returned %d frames, want %d", kind, len(frames), n)
	}
	var rawParams json.RawMessage
	if len(params) > 0 {
		if rawParams, err = json.Marshal(params); err != nil {
			return nil, fmt.Errorf("grounding: encode %s parameters: %w", kind, err)
		}
	}
	meta := baseMeta(src)
	gm := &GroundingMeta{Start: start, Length: t, FPS: src.FPS, Perturbation: string(kind), Params: rawParams}
	if kind == perturb.Swap {
		gm.Donor = src.DonorID
	}
	meta.Grounding = gm
	return &Generated{
		DataSource: Grounding,
		Subtype:    "grounding_" + string(kind),
		Question:   GroundingQuestion(perturb.Describe(kind)),
		Answer:     GroundingAnswer(start, t, src.FPS),
		Meta:       meta,
		Frames:     frames,
	}, nil
}

// GroundingAnswer formats the interval of a segment of t frames starting at
// frame start, at the given sampling fps: "S-E" with one decimal each.
func GroundingAnswer(start, t int, fps float64) string {
	return fmt.Sprintf("%.1f-%.1f", float64(start)/fps, float64(start+t)/fps)
}

// NeedsDonor reports whether a perturbation takes frames from another video.
func NeedsDonor(name string) bool { return name == string(perturb.Swap) }
