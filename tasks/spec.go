package tasks

import (
	"fmt"
	"math/rand/v2"
)

// TaskSpec is one kind of sample to make: a task, its generator settings,
// and optionally the subtype label written to the samples.
type TaskSpec struct {
	// Subtype, when set, replaces the generator's own subtype label (e.g.
	// counting_hard for VIUBench); empty keeps it (grounding_<kind>,
	// counting, jigsaw_<n>).
	Subtype string `json:"subtype,omitempty"`
	// Task selects the generator.
	Task DataSource `json:"task"`
	// Grounding, Counting and Jigsaw are the settings; only the one of Task
	// is used.
	Grounding GroundingConfig `json:"grounding"`
	Counting  CountingConfig  `json:"counting"`
	Jigsaw    JigsawConfig    `json:"jigsaw"`
}

// Key returns the name that identifies samples of this spec in ids: the
// subtype label if set, else the task name.
func (s TaskSpec) Key() string {
	if s.Subtype != "" {
		return s.Subtype
	}
	return string(s.Task)
}

// Validate checks the settings the spec's task uses.
func (s TaskSpec) Validate() error {
	switch s.Task {
	case Grounding:
		return s.Grounding.Validate()
	case Counting:
		return s.Counting.Validate()
	case Jigsaw:
		return s.Jigsaw.Validate()
	}
	return fmt.Errorf("task spec: unknown task %q", s.Task)
}

// NeedsDonor reports whether samples of this spec may need frames of a
// second video (the swap perturbation).
func (s TaskSpec) NeedsDonor() bool {
	if s.Task != Grounding {
		return false
	}
	for _, p := range s.Grounding.Perturbations {
		if NeedsDonor(p) {
			return true
		}
	}
	return false
}

// Generate runs the spec's generator on src and applies the subtype label.
func (s TaskSpec) Generate(src Source, rng *rand.Rand) (*Generated, error) {
	var (
		g   *Generated
		err error
	)
	switch s.Task {
	case Grounding:
		g, err = GenerateGrounding(src, s.Grounding, rng)
	case Counting:
		g, err = GenerateCounting(src, s.Counting, rng)
	case Jigsaw:
		g, err = GenerateJigsaw(src, s.Jigsaw, rng)
	default:
		return nil, fmt.Errorf("task spec: unknown task %q", s.Task)
	}
	if err != nil {
		return nil, err
	}
	if s.Subtype != "" {
		g.Subtype = s.Subtype
	}
	return g, nil
}

// GenSpecs returns the specs of `trainer gen` for the given tasks.
func GenSpecs(cfg GenConfig, tasks []DataSource) []TaskSpec {
	out := make([]TaskSpec, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, TaskSpec{Task: t, Grounding: cfg.Grounding, Counting: cfg.Counting, Jigsaw: cfg.Jigsaw})
	}
	return out
}
