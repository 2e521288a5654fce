package reward

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// IoU returns the intersection over union of the intervals [a0,a1] and
// [b0,b1], in [0,1]. An interval with start > end, or any NaN or infinite
// bound, gives 0. Following the spec, when the union is below 1e-9 the
// result is 1 if the intersection is positive and 0 otherwise; in
// particular two identical zero-length intervals give 0, and intervals that
// only touch give 0.
func IoU(a0, a1, b0, b1 float64) float64 {
	if !finite(a0) || !finite(a1) || !finite(b0) || !finite(b1) || a0 > a1 || b0 > b1 {
		return 0
	}
	inter := math.Min(a1, b1) - math.Max(a0, b0)
	if math.IsInf(inter, 0) {
		// Bounds near ±MaxFloat64: halving keeps every difference finite and
		// does not change the ratio.
		return IoU(a0/2, a1/2, b0/2, b1/2)
	}
	if !(inter > 0) {
		return 0
	}
	// The intervals overlap, so their union is their span.
	union := math.Max(a1, b1) - math.Min(a0, b0)
	if math.IsInf(union, 0) {
		return IoU(a0/2, a1/2, b0/2, b1/2)
	}
	if union < unionEpsilon {
		return 1
	}
	if r := inter / union; r < 1 {
		return r
	}
	return 1
}

// MultipleChoice scores a multiple-choice response by the paper's rule: the
// first character of the output is compared with the option letter. Leading
// white space of both is skipped; answer's first character is the option
// letter, so "B" and "B. a dog" both mean option B. The comparison is
// case-sensitive: option letters are upper case, and a response starting
// with "a" is far more often the article than option A. Returns 1 or 0; an
// empty response or answer gives 0.
func MultipleChoice(response, answer string) float64 {
	r, _ := utf8.DecodeRuneInString(strings.TrimSpace(response))
	a, _ := utf8.DecodeRuneInString(strings.TrimSpace(answer))
	if r == utf8.RuneError || a == utf8.RuneError {
		return 0
	}
	return boolScore(r == a)
}

// isSpaceASCII reports whether c is white space in the sense of the
// regular-expression class \s: space, tab, newline, carriage return, form
// feed or vertical tab.
func isSpaceASCII(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// scanNumber reads a lenient number at s[i:]: digits with an optional
// fraction ("12", "12.5", "12.") or a dot and digits (".5"). It returns the
// end of the number, or i when none starts there.
func scanNumber(s string, i int) int {
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j > i {
		if j < len(s) && s[j] == '.' {
			j++
			for j < len(s) && isDigit(s[j]) {
				j++
			}
		}
		return j
	}
	if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
		j = i + 2
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		return j
	}
	return i
}

// FirstInterval finds the first "number - number" anywhere in a model's
// output, as in the paper's temporal-grounding evaluation: white space
// (spaces, tabs, newlines) is allowed on either side of the dash, and a
// number is ASCII digits with an optional fraction ("12", "12.5", "12.")
// or a fraction alone (".5"); a dot that cannot continue a number ends it,
// so "from 3.5-7.25." gives (3.5, 7.25). Numbers are whole tokens: the
// scan moves from number to number and never starts inside one. Only the
// ASCII hyphen-minus counts as the dash; "3 to 7" and "3–7" are not
// intervals. The order is not checked (IoU scores a reversed interval 0).
// A pair with a number too large for float64 is skipped; ok is false when
// no pair is found.
func FirstInterval(response string) (start, end float64, ok bool) {
	s := response
	for i := 0; i < len(s); {
		j := scanNumber(s, i)
		if j == i {
			i++
			continue
		}
		k := j
		for k < len(s) && isSpaceASCII(s[k]) {
			k++
		}
		if k < len(s) && s[k] == '-' {
			k++
			for k < len(s) && isSpaceASCII(s[k]) {
				k++
			}
			if m := scanNumber(s, k); m > k {
				a, errA := strconv.ParseFloat(s[i:j], 64)
				b, errB := strconv.ParseFloat(s[k:m], 64)
				if errA == nil && errB == nil && finite(a) && finite(b) {
					return a, b, true
				}
			}
		}
		i = j
	}
	return 0, 0, false
}

// EvalGroundingIoU is the lenient temporal-grounding score of the paper's
// evaluation: the IoU of the first interval found in the response
// (FirstInterval) with the ground truth gt, which must be "S-E" with
// start <= end (error wrapping ErrBadGroundTruth otherwise). A response
// without an interval scores 0.
func EvalGroundingIoU(response, gt string) (float64, error) {
	g0, g1, ok := parseOrderedInterval(gt)
	if !ok {
		return 0, fmtBadGT("grounding", gt, `"start-end" with start <= end`)
	}
	p0, p1, ok := FirstInterval(response)
	if !ok {
		return 0, nil
	}
	return IoU(p0, p1, g0, g1), nil
}

// GroundingStats summarises temporal-grounding IoUs: N questions, their
// mean IoU and the recall at IoU thresholds 0.3, 0.5 and 0.7 (fraction of
// questions whose IoU is at least the threshold). All are in [0,1]; all
// are 0 when N is 0.
type GroundingStats struct {
	N    int
	MIoU float64
	R03  float64
	R05  float64
	R07  float64
}

// GroundingAccumulator gathers per-question IoUs into GroundingStats. The
// zero value is ready to use.
type GroundingAccumulator struct {
	n                   int
	sum                 float64
	hit03, hit05, hit07 int
}

// Add records the IoU of one question. NaN counts as 0 and values are
// clipped to [0,1].
func (a *GroundingAccumulator) Add(iou float64) {
	switch {
	case math.IsNaN(iou) || iou < 0:
		iou = 0
	case iou > 1:
		iou = 1
	}
	a.n++
	a.sum += iou
	if iou >= 0.3 {
		a.hit03++
	}
	if iou >= 0.5 {
		a.hit05++
	}
	if iou >= 0.7 {
		a.hit07++
	}
}

// Stats returns the summary of the IoUs added so far.
func (a *GroundingAccumulator) Stats() GroundingStats {
	if a.n == 0 {
		return GroundingStats{}
	}
	n := float64(a.n)
	return GroundingStats{
		N:    a.n,
		MIoU: a.sum / n,
		R03:  float64(a.hit03) / n,
		R05:  float64(a.hit05) / n,
		R07:  float64(a.hit07) / n,
	}
}
