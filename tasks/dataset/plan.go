package dataset

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/videossr/videossr-go/tasks"
)

// Job is one sample to make.
type Job struct {
	// Input and Spec index Plan.Inputs and Plan.Specs.
	Input, Spec int
	// Index numbers the sample within its (video, spec) for gen, within its
	// spec for VIUBench.
	Index int
	// Donor is the input that lends frames to the swap perturbation (-1:
	// none).
	Donor int
	// ID names the sample; Seed seeds its random stream. Both derive from
	// the plan seed, the input id, the spec key and the index.
	ID   string
	Seed uint64
}

// Plan is the full list of samples a build makes, and the settings that
// decide their bytes.
type Plan struct {
	// Kind is "gen" or "viubench"; Split is written into every sample.
	Kind  string `json:"kind"`
	Split string `json:"split"`
	// Seed is the run seed every sample seed derives from.
	Seed uint64 `json:"seed"`
	// Sampling says how frames are taken from the videos.
	Sampling tasks.SamplingConfig `json:"sampling"`
	// Specs are the kinds of samples made.
	Specs []tasks.TaskSpec `json:"specs"`
	// PerInput (gen) or PerSpec (VIUBench) is the number of samples.
	PerInput int `json:"per_input,omitempty"`
	PerSpec  int `json:"per_spec,omitempty"`
	// Inputs is the full, unsharded input list; Jobs only the shard's.
	Inputs []Input `json:"-"`
	Jobs   []Job   `json:"-"`
	// Shard is the part of Inputs the jobs cover (zero value: all).
	Shard Shard `json:"-"`
}

// sampleID derives a sample's id and seed.
func sampleID(seed uint64, inputID, key string, index int) (string, uint64) {
	h := sha256.New()
	fmt.Fprintf(h, "videossr/v1\x00%d\x00%s\x00%s\x00%d", seed, inputID, key, index)
	sum := h.Sum(nil)
	return hex.EncodeToString(sum[:12]), binary.LittleEndian.Uint64(sum[24:])
}

// donorFor picks, deterministically, another input to lend frames.
func donorFor(inputs int, self int, seed uint64) int {
	if inputs < 2 {
		return -1
	}
	return (self + 1 + int(seed%uint64(inputs-1))) % inputs
}

func checkSpecs(sampling tasks.SamplingConfig, specs []tasks.TaskSpec) error {
	if len(specs) == 0 {
		return errors.New("plan: no tasks")
	}
	errs := []error{sampling.Validate()}
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Key(), err))
			continue
		}
		switch s.Task {
		case tasks.Grounding:
			if s.Grounding.MaxLen > sampling.Frames {
				errs = append(errs, fmt.Errorf("%s: grounding.max_len %d exceeds sampling.frames %d", s.Key(), s.Grounding.MaxLen, sampling.Frames))
			}
		case tasks.Jigsaw:
			if sampling.Frames%s.Jigsaw.Clips != 0 {
				errs = append(errs, fmt.Errorf("%s: jigsaw.clips %d does not divide sampling.frames %d", s.Key(), s.Jigsaw.Clips, sampling.Frames))
			}
		}
	}
	return errors.Join(errs...)
}

// PlanGen plans `trainer gen`: perInput samples of every spec for every
// input of the shard. The ids do not depend on the shard, so shards merge
// into exactly the unsharded dataset.
func PlanGen(inputs []Input, specs []tasks.TaskSpec, perInput int, seed uint64, sampling tasks.SamplingConfig, shard Shard) (*Plan, error) {
	if perInput < 1 {
		return nil, fmt.Errorf("plan: per-video count %d, want at least 1", perInput)
	}
	if err := checkSpecs(sampling, specs); err != nil {
		return nil, err
	}
	if shard.Count < 1 {
		shard = Shard{Index: 0, Count: 1}
	}
	p := &Plan{Kind: "gen", Split: "train", Seed: seed, Sampling: sampling, Specs: specs, PerInput: perInput, Inputs: inputs, Shard: shard}
	for ii, in := range inputs {
		if !shard.Has(in.ID) {
			continue
		}
		for si, s := range specs {
			for k := range perInput {
				id, sd := sampleID(seed, in.ID, s.Key(), k)
				donor := -1
				if s.NeedsDonor() {
					donor = donorFor(len(inputs), ii, sd)
				}
				p.Jobs = append(p.Jobs, Job{Input: ii, Spec: si, Index: k, Donor: donor, ID: id, Seed: sd})
			}
		}
	}
	return p, nil
}

// PlanViubench plans VIUBench: perSpec samples of every spec, spread over
// the inputs (each spec walks its own seeded shuffle of the inputs, round
// robin).
func PlanViubench(inputs []Input, specs []tasks.TaskSpec, perSpec int, seed uint64, sampling tasks.SamplingConfig) (*Plan, error) {
	if perSpec < 1 {
		return nil, fmt.Errorf("plan: per-subtype count %d, want at least 1", perSpec)
	}
	if len(inputs) == 0 {
		return nil, errors.New("plan: no usable videos")
	}
	if err := checkSpecs(sampling, specs); err != nil {
		return nil, err
	}
	p := &Plan{Kind: "viubench", Split: "test", Seed: seed, Sampling: sampling, Specs: specs, PerSpec: perSpec, Inputs: inputs}
	for si, s := range specs {
		rng := tasks.NewRand(seed ^ (0x5851f42d4c957f2d * uint64(si+1)))
		order := rng.Perm(len(inputs))
		for k := range perSpec {
			ii := order[k%len(inputs)]
			id, sd := sampleID(seed, inputs[ii].ID, s.Key(), k)
			donor := -1
			if s.NeedsDonor() {
				donor = donorFor(len(inputs), ii, sd)
			}
			p.Jobs = append(p.Jobs, Job{Input: ii, Spec: si, Index: k, Donor: donor, ID: id, Seed: sd})
		}
	}
	return p, nil
}
