package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
)

// RolloutsDir is the folder of a run directory that holds the rollout
// logs, one file per logged step: rollouts/step-000012.jsonl.
const RolloutsDir = "rollouts"

// RolloutGroup is one prompt of a training step with its G sampled
// responses: one line of a rollout log.
type RolloutGroup struct {
	// Step is the training step the responses were sampled at.
	Step int `json:"step"`
	// SampleID, DataSource and Subtype identify the sample.
	SampleID   string `json:"sample_id"`
	DataSource string `json:"data_source"`
	Subtype    string `json:"subtype,omitempty"`
	// Prompt is the prompt text (the user message, video placeholders
	// included).
	Prompt string `json:"prompt"`
	// Answer is the ground truth the rewards compared against.
	Answer string `json:"answer"`
	// Responses are the group's samples in the order they were drawn.
	Responses []RolloutResponse `json:"responses"`
}

// RolloutResponse is one sampled response of a group.
type RolloutResponse struct {
	// Text is the decoded response.
	Text string `json:"text"`
	// Reward and Advantage are the response's reward and its GRPO
	// advantage (NaN is written as null and read back as NaN).
	Reward    Float `json:"reward"`
	Advantage Float `json:"advantage"`
	// Tokens is the response length in tokens.
	Tokens int `json:"tokens"`
	// Finish says why sampling stopped ("eos", "length"); may be empty.
	Finish string `json:"finish,omitempty"`
}

// Float is a float64 that is written as JSON null when it is NaN or
// infinite, and read back from null as NaN.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// RolloutPath returns the rollout log of a step in a run directory:
// runDir/rollouts/step-XXXXXX.jsonl (six digits, more when needed).
func RolloutPath(runDir string, step int) string {
	return filepath.Join(runDir, RolloutsDir, fmt.Sprintf("step-%06d.jsonl", step))
}

// RolloutLog writes the rollout logs of a run every Every steps
// (logging.rollouts_every); Every <= 0 disables it.
type RolloutLog struct {
	// RunDir is the run directory; files go to RunDir/rollouts/.
	RunDir string
	// Every is the step interval.
	Every int
}

// Due reports whether step's rollouts are to be written: every Every
// steps (steps Every, 2*Every, ...).
func (l RolloutLog) Due(step int) bool {
	return l.Every > 0 && step > 0 && step%l.Every == 0
}

// Write writes the groups of a step as RolloutPath(RunDir, step), one
// group per line, atomically (a resumed run that logs the step again
// replaces the file). The groups' Step fields are set to step. It returns
// the file's path.
func (l RolloutLog) Write(step int, groups []RolloutGroup) (string, error) {
	p := RolloutPath(l.RunDir, step)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("rollouts: %w", err)
	}
	err := writeAtomic(p, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := range groups {
			g := groups[i]
			g.Step = step
			if g.Responses == nil {
				g.Responses = []RolloutResponse{}
			}
			if err := enc.Encode(&g); err != nil {
				return fmt.Errorf("group %d (%s): %w", i, g.SampleID, err)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("rollouts: %w", err)
	}
	return p, nil
}

// ReadRollouts reads a rollout log. Blank lines are skipped; any other
// line that does not parse is an error naming file:line.
func ReadRollouts(path string) ([]RolloutGroup, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rollouts: %w", err)
	}
	var out []RolloutGroup
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), len(data)+1)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var g RolloutGroup
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&g); err != nil {
			return nil, fmt.Errorf("rollouts: %s:%d: %w", path, line, err)
		}
		out = append(out, g)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("rollouts: %s: %w", path, err)
	}
	return out, nil
}

// rolloutName matches a rollout log's file name.
func rolloutName() *regexp.Regexp { return regexp.MustCompile(`^step-(\d+)\.jsonl$`) }

// IsRolloutFile reports whether a file name is a rollout log's
// (step-XXXXXX.jsonl).
func IsRolloutFile(name string) bool { return rolloutName().MatchString(filepath.Base(name)) }

// RolloutFile is one rollout log of a run.
type RolloutFile struct {
	Step int
	Path string
}

// ListRollouts returns the rollout logs of a run directory sorted by
// step; a run without any gives none and no error.
func ListRollouts(runDir string) ([]RolloutFile, error) {
	entries, err := os.ReadDir(filepath.Join(runDir, RolloutsDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rollouts: %w", err)
	}
	re := rolloutName()
	var out []RolloutFile
	for _, e := range entries {
		m := re.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		step, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		out = append(out, RolloutFile{Step: step, Path: filepath.Join(runDir, RolloutsDir, e.Name())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}
