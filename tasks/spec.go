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
	// Prompts is the wording of the question and the system message
	// (data.prompts); nil is DefaultPrompts.
	Prompts *Prompts `json:"prompts,omitempty"`
}

// WithPrompts returns a copy of specs whose Prompts is p (nil: the
// default wording).
func WithPrompts(specs []TaskSpec, p *Prompts) []TaskSpec {
	out := make([]TaskSpec, len(specs))
	for i, s := range specs {
		s.Prompts = p
		out[i] = s
	}
	return out
}

// prompts returns the spec's wording.
func (s TaskSpec) prompts() *Prompts {
	if s.Prompts != nil {
		return s.Prompts
	}
	p := DefaultPrompts()
	return &p
}

// Messages returns the chat messages of a sample of this spec: the
// spec's system message and the user message for question with numVideos
// video inputs (see Prompts.Messages).
func (s TaskSpec) Messages(question string, numVideos int, clips bool) []Message {
	return s.prompts().Messages(question, numVideos, clips)
}

// Key returns the name that identifies samples of this spec in ids: the
// subtype label if set, else the task name.
func (s TaskSpec) Key() string {
	if s.Subtype != "" {
		return s.Subtype
	}
	return string(s.Task)
}

// Validate checks the settings the spec's task uses, and its prompt
// templates when it has its own.
func (s TaskSpec) Validate() error {
	if s.Prompts != nil {
		if err := s.Prompts.Validate(); err != nil {
			return fmt.Errorf("task spec %s: %w", s.Key(), err)
		}
	}
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

// Generate runs the spec's generator on src, applies the subtype label and
// words the question with the spec's Prompts.
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
	if s.Prompts != nil {
		if g.Question, err = s.Prompts.Question(g); err != nil {
			return nil, err
		}
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
