// Package tasks generates the VideoSSR pretext samples (anomaly grounding,
// object counting, temporal jigsaw) from sampled video frames, builds
// VIUBench, and defines the one sample schema every other part of the
// project reads (Sample, one JSONL row).
//
// The generators are pure functions of (frames, config, rng): the same
// frames, configuration and seed always give the same answer, metadata and
// output frames. Writing the frames to disk is a separate step (WriteSample).
package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// DataSource names a pretext task. The same strings are used by the
// generators, the dataset files and the reward dispatcher.
type DataSource string

// The three pretext tasks.
const (
	Grounding DataSource = "grounding"
	Counting  DataSource = "counting"
	Jigsaw    DataSource = "jigsaw"
)

// AllDataSources lists the pretext tasks in their canonical order.
func AllDataSources() []DataSource { return []DataSource{Grounding, Counting, Jigsaw} }

// ParseDataSource parses a task name ("grounding", "counting", "jigsaw").
func ParseDataSource(name string) (DataSource, error) {
	switch DataSource(name) {
	case Grounding, Counting, Jigsaw:
		return DataSource(name), nil
	}
	return "", fmt.Errorf("unknown task %q (want grounding, counting or jigsaw)", name)
}

// Message is one chat message of a prompt.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// FrameList holds the frame file paths of a sample: one list for a single
// video input (grounding, counting), or one list per clip in presented
// order (jigsaw). It marshals to a JSON array of strings, or to an array of
// arrays of strings when Clips is set.
type FrameList struct {
	// Flat is the frame list of a single-video sample.
	Flat []string
	// Clips holds one frame list per video input (jigsaw); when non-nil it
	// takes precedence over Flat.
	Clips [][]string
}

// Videos returns the frame lists one per video input.
func (l FrameList) Videos() [][]string {
	if l.Clips != nil {
		return l.Clips
	}
	return [][]string{l.Flat}
}

// All returns every frame path in order (clips concatenated).
func (l FrameList) All() []string {
	if l.Clips == nil {
		return l.Flat
	}
	var out []string
	for _, c := range l.Clips {
		out = append(out, c...)
	}
	return out
}

// MarshalJSON implements json.Marshaler.
func (l FrameList) MarshalJSON() ([]byte, error) {
	if l.Clips != nil {
		return json.Marshal(l.Clips)
	}
	if l.Flat == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(l.Flat)
}

// UnmarshalJSON implements json.Unmarshaler: it accepts an array of strings
// or an array of arrays of strings.
func (l *FrameList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("frames: want an array: %w", err)
	}
	*l = FrameList{}
	if len(raw) == 0 {
		l.Flat = []string{}
		return nil
	}
	if first := bytes.TrimSpace(raw[0]); len(first) > 0 && first[0] == '[' {
		clips := make([][]string, len(raw))
		for i, r := range raw {
			if err := json.Unmarshal(r, &clips[i]); err != nil {
				return fmt.Errorf("frames: clip %d: %w", i+1, err)
			}
		}
		l.Clips = clips
		return nil
	}
	flat := make([]string, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &flat[i]); err != nil {
			return fmt.Errorf("frames: entry %d: %w", i, err)
		}
	}
	l.Flat = flat
	return nil
}

// Sample is one generated question, the unit of every dataset file (one
// JSONL row). Frame paths are relative to the dataset directory.
type Sample struct {
	// ID is deterministic: a hash of the seed, the video id, the subtype and
	// the index.
	ID string `json:"id"`
	// DataSource is the task: grounding, counting or jigsaw.
	DataSource DataSource `json:"data_source"`
	// Subtype refines the task, e.g. grounding_mirror, counting_hard, jigsaw_6.
	Subtype string `json:"subtype"`
	// Split is "train" or "test".
	Split string `json:"split"`
	// Index numbers the samples of one (video, subtype) for gen, or of one
	// subtype for VIUBench.
	Index int `json:"index"`
	// Video is the source video path as given on the command line.
	Video string `json:"video"`
	// VideoID is the stable name of the source video (relative path).
	VideoID string `json:"video_id"`
	// Frames lists the frame files (per clip for jigsaw, presented order).
	Frames FrameList `json:"frames"`
	// FPS is the sampling rate of the frames: frames / source duration.
	FPS float64 `json:"fps"`
	// MaxPixels and MinPixels are the pixel budget the frames were sized to.
	MaxPixels int `json:"max_pixels"`
	MinPixels int `json:"min_pixels"`
	// Prompt is the chat: system message, then the user message holding one
	// <video> placeholder per video input.
	Prompt []Message `json:"prompt"`
	// Question is the user question without the video placeholders.
	Question string `json:"question"`
	// Answer is the ground truth string the reward compares against.
	Answer string `json:"answer"`
	// Meta records how the sample was drawn.
	Meta Meta `json:"meta"`
}

// Meta records everything drawn to make a sample, enough to re-derive its
// answer.
type Meta struct {
	// Seed is the seed of the sample's random stream.
	Seed uint64 `json:"seed"`
	// NumFrames is the number of sampled frames the sample was made from.
	NumFrames int `json:"num_frames"`
	// Width and Height are the size of the sampled frames.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Grounding, Counting and Jigsaw hold the task-specific draws.
	Grounding *GroundingMeta `json:"grounding,omitempty"`
	Counting  *CountingMeta  `json:"counting,omitempty"`
	Jigsaw    *JigsawMeta    `json:"jigsaw,omitempty"`
}

// GroundingMeta records an anomaly-grounding draw.
type GroundingMeta struct {
	// Start is the first perturbed frame (0-based); Length the segment length.
	Start  int `json:"start"`
	Length int `json:"length"`
	// FPS is the sampling fps used for the answer's timestamps.
	FPS float64 `json:"fps"`
	// Perturbation is the perturbation kind; Params its drawn parameters.
	Perturbation string          `json:"perturbation"`
	Params       json.RawMessage `json:"params,omitempty"`
	// Donor is the video id the swap perturbation took frames from.
	Donor string `json:"donor,omitempty"`
}

// CountingMeta records an object-counting draw.
type CountingMeta struct {
	// Counts is the number of visible instances per class, in class order
	// (circle, square, triangle).
	Counts []int `json:"counts"`
	// Classes names the classes in the order of Counts.
	Classes []string `json:"classes"`
	// FramesPerClass lists, per class, the frames the class was drawn on.
	FramesPerClass [][]int `json:"frames_per_class"`
	// Instances lists every drawn instance.
	Instances []PlacedShape `json:"instances"`
	// Dropped counts instances that could not be placed without overlap and
	// were left out (the counts do not include them).
	Dropped int `json:"dropped"`
}

// PlacedShape is one drawn shape instance.
type PlacedShape struct {
	Frame    int     `json:"frame"`
	Class    string  `json:"class"`
	CX       float64 `json:"cx"`
	CY       float64 `json:"cy"`
	Size     float64 `json:"size"`
	AngleDeg float64 `json:"angle_deg"`
	RGB      [3]int  `json:"rgb"`
}

// JigsawMeta records a temporal-jigsaw draw.
type JigsawMeta struct {
	// Clips is the number of clips; ClipLen the frames per clip.
	Clips   int `json:"clips"`
	ClipLen int `json:"clip_len"`
	// Presented[p] is the chronological (0-based) clip shown at position p.
	Presented []int `json:"presented"`
}
