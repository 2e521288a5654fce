package reward

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// The nine VIUBench subtypes (spec section 7), in the column order of the
// paper's Table 1.
const (
	SubtypeCountingEasy         = "counting_easy"
	SubtypeCountingHard         = "counting_hard"
	SubtypeGroundingChannelSwap = "grounding_channel_swap"
	SubtypeGroundingRotate180   = "grounding_rotate180"
	SubtypeGroundingZoomOut     = "grounding_zoom_out"
	SubtypeGroundingMirror      = "grounding_mirror"
	SubtypeGroundingShuffle     = "grounding_shuffle"
	SubtypeJigsawEasy           = "jigsaw_easy"
	SubtypeJigsawHard           = "jigsaw_hard"
)

// numSubtypes is the number of VIUBench subtypes.
const numSubtypes = 9

// ErrUnknownSubtype is wrapped by the errors for a VIUBench subtype name
// that is not one of VIUBenchSubtypes.
var ErrUnknownSubtype = errors.New("unknown VIUBench subtype")

// VIUBenchSubtypes returns the nine subtype names in Table 1 column order.
func VIUBenchSubtypes() []string {
	return []string{
		SubtypeCountingEasy, SubtypeCountingHard,
		SubtypeGroundingChannelSwap, SubtypeGroundingRotate180, SubtypeGroundingZoomOut,
		SubtypeGroundingMirror, SubtypeGroundingShuffle,
		SubtypeJigsawEasy, SubtypeJigsawHard,
	}
}

// subtypeIndex returns the column of a subtype, or an error wrapping
// ErrUnknownSubtype.
func subtypeIndex(subtype string) (int, error) {
	for i, s := range VIUBenchSubtypes() {
		if s == subtype {
			return i, nil
		}
	}
	return -1, fmt.Errorf("reward: %w %q (valid: %s)", ErrUnknownSubtype, subtype, strings.Join(VIUBenchSubtypes(), ", "))
}

// VIUBenchScore scores one VIUBench answer, in [0,1], following the paper's
// scoring (spec section 7):
//
//   - counting_*: the fraction of the three classes counted exactly; the
//     response is read as in Counting (every run of digits; not exactly
//     three runs scores 0), so it gives 0, 1/3, 2/3 or 1.
//   - grounding_*: the IoU of the first "number - number" in the response
//     (FirstInterval, lenient on the surrounding text as in the paper's
//     evaluation) with the answer "S-E"; no interval scores 0.
//   - jigsaw_*: 1 when the trimmed response is exactly the answer's clip
//     order, else 0 (no separators or other text allowed).
//
// Errors wrap ErrUnknownSubtype, or ErrBadGroundTruth when the answer does
// not have the subtype's form.
func VIUBenchScore(subtype, response, answer string) (float64, error) {
	if _, err := subtypeIndex(subtype); err != nil {
		return 0, err
	}
	switch {
	case strings.HasPrefix(subtype, "counting_"):
		if err := ValidateGroundTruth(SourceCounting, answer); err != nil {
			return 0, fmt.Errorf("%s: %w", subtype, err)
		}
		return float64(exactCounts(response, answer)) / numClasses, nil
	case strings.HasPrefix(subtype, "grounding_"):
		s, err := EvalGroundingIoU(response, answer)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", subtype, err)
		}
		return s, nil
	default: // jigsaw_*
		if err := ValidateGroundTruth(SourceJigsaw, answer); err != nil {
			return 0, fmt.Errorf("%s: %w", subtype, err)
		}
		return StrictJigsaw(response, answer), nil
	}
}

// SubtypeResult is one subtype's score in a VIUBenchReport.
type SubtypeResult struct {
	// Subtype is the subtype name (see VIUBenchSubtypes).
	Subtype string
	// N is the number of questions scored; 0 means the subtype is missing.
	N int
	// Mean is the mean score of those questions, in [0,1] (0 when N is 0).
	Mean float64
}

// VIUBenchReport is the VIUBench result of one model or run: one
// SubtypeResult per subtype and the overall score.
type VIUBenchReport struct {
	// Name labels the row in tables (model or run name).
	Name string
	// Subtypes holds the nine subtypes in VIUBenchSubtypes order, present
	// or not.
	Subtypes []SubtypeResult
	// Overall is the unweighted mean of the subtype means, in [0,1] (the
	// paper reports it x100). When some subtypes have no questions it is
	// the mean over the present ones only (see Complete); 0 when none is.
	Overall float64
}

// Present returns the number of subtypes with at least one question.
func (r VIUBenchReport) Present() int {
	n := 0
	for _, s := range r.Subtypes {
		if s.N > 0 {
			n++
		}
	}
	return n
}

// Complete reports whether all nine subtypes have questions, so that
// Overall is the paper's overall score.
func (r VIUBenchReport) Complete() bool { return r.Present() == numSubtypes }

// Missing returns the subtypes without questions, in column order.
func (r VIUBenchReport) Missing() []string {
	var out []string
	for _, s := range r.Subtypes {
		if s.N == 0 {
			out = append(out, s.Subtype)
		}
	}
	return out
}

// Total returns the number of questions over all subtypes.
func (r VIUBenchReport) Total() int {
	n := 0
	for _, s := range r.Subtypes {
		n += s.N
	}
	return n
}

// Result returns the result of one subtype; ok is false for an unknown
// name.
func (r VIUBenchReport) Result(subtype string) (res SubtypeResult, ok bool) {
	for _, s := range r.Subtypes {
		if s.Subtype == subtype {
			return s, true
		}
	}
	return SubtypeResult{}, false
}

// VIUBenchAccumulator gathers per-question VIUBench scores into a
// VIUBenchReport. The zero value is ready to use.
type VIUBenchAccumulator struct {
	sum [numSubtypes]float64
	n   [numSubtypes]int
}

// Add records the score of one question of a subtype. The score must be a
// number in [0,1]; an unknown subtype gives an error wrapping
// ErrUnknownSubtype.
func (a *VIUBenchAccumulator) Add(subtype string, score float64) error {
	i, err := subtypeIndex(subtype)
	if err != nil {
		return err
	}
	if math.IsNaN(score) || score < 0 || score > 1 {
		return fmt.Errorf("reward: VIUBench score %v for %s is outside [0,1]", score, subtype)
	}
	a.sum[i] += score
	a.n[i]++
	return nil
}

// Report returns the report of the scores added so far, labelled name.
func (a *VIUBenchAccumulator) Report(name string) VIUBenchReport {
	r := VIUBenchReport{Name: name, Subtypes: make([]SubtypeResult, numSubtypes)}
	total, present := 0.0, 0
	for i, s := range VIUBenchSubtypes() {
		r.Subtypes[i] = SubtypeResult{Subtype: s, N: a.n[i]}
		if a.n[i] > 0 {
			m := a.sum[i] / float64(a.n[i])
			r.Subtypes[i].Mean = m
			total += m
			present++
		}
	}
	if present > 0 {
		r.Overall = total / float64(present)
	}
	return r
}
