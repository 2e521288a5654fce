package reward

import (
	"errors"
	"fmt"
	"strings"
)

// Data source names understood by Score and Func. They are the task names
// used by the generators and the dataset files (tasks.Grounding etc.).
const (
	SourceGrounding = "grounding"
	SourceCounting  = "counting"
	SourceJigsaw    = "jigsaw"
	// StrictPrefix selects the binary exact-match variant of a task's
	// reward: "strict:grounding", "strict:counting", "strict:jigsaw".
	StrictPrefix = "strict:"
)

// ErrUnknownSource is wrapped by the errors of Score and Func for a data
// source name they do not know.
var ErrUnknownSource = errors.New("unknown data source")

// ErrBadGroundTruth is wrapped by the errors of Score, ValidateGroundTruth
// and VIUBenchScore when the ground truth does not have the task's form.
var ErrBadGroundTruth = errors.New("malformed ground truth")

// Sources returns every data source name Score accepts, smooth rewards
// first, then the strict variants.
func Sources() []string {
	return []string{
		SourceGrounding, SourceCounting, SourceJigsaw,
		StrictPrefix + SourceGrounding, StrictPrefix + SourceCounting, StrictPrefix + SourceJigsaw,
	}
}

// Func returns the reward function of a data source (see Sources). An
// unknown name gives an error wrapping ErrUnknownSource that lists the valid
// names.
func Func(dataSource string) (func(response, gt string) float64, error) {
	switch dataSource {
	case SourceGrounding:
		return Grounding, nil
	case SourceCounting:
		return Counting, nil
	case SourceJigsaw:
		return Jigsaw, nil
	case StrictPrefix + SourceGrounding:
		return StrictGrounding, nil
	case StrictPrefix + SourceCounting:
		return StrictCounting, nil
	case StrictPrefix + SourceJigsaw:
		return StrictJigsaw, nil
	}
	return nil, fmt.Errorf("reward: %w %q (valid: %s)", ErrUnknownSource, dataSource, strings.Join(Sources(), ", "))
}

// ValidateGroundTruth checks that gt has the form of the data source's
// answers: "S-E" with start <= end for grounding, "c,s,t" for counting, and
// distinct printable ASCII characters for jigsaw. Errors wrap
// ErrBadGroundTruth or ErrUnknownSource.
func ValidateGroundTruth(dataSource, gt string) error {
	task := strings.TrimPrefix(dataSource, StrictPrefix)
	var ok bool
	var want string
	switch task {
	case SourceGrounding:
		_, _, ok = parseOrderedInterval(gt)
		want = `"start-end" in seconds with start <= end, e.g. "14.5-26.2"`
	case SourceCounting:
		_, ok = parseCountsGT(gt)
		want = `"circles,squares,triangles", e.g. "3,0,2"`
	case SourceJigsaw:
		ok = validJigsawAnswer(strings.TrimSpace(gt))
		want = `a clip order of distinct characters, e.g. "315264"`
	default:
		_, err := Func(dataSource)
		return err
	}
	if !ok {
		return fmtBadGT(dataSource, gt, want)
	}
	return nil
}

// fmtBadGT builds the error for a malformed ground truth of a task.
func fmtBadGT(task, gt, want string) error {
	return fmt.Errorf("reward: %w for %s: %q (want %s)", ErrBadGroundTruth, task, gt, want)
}

// Score computes the reward of a response for a data source (see Sources),
// in [0,1]. It returns an error wrapping ErrUnknownSource for an unknown
// data source and one wrapping ErrBadGroundTruth when gt is malformed (the
// reward functions themselves return 0 for that; a bad ground truth is a
// data bug, not a model error, so Score reports it).
func Score(dataSource, response, gt string) (float64, error) {
	f, err := Func(dataSource)
	if err != nil {
		return 0, err
	}
	if err := ValidateGroundTruth(dataSource, gt); err != nil {
		return 0, err
	}
	return f(response, gt), nil
}
