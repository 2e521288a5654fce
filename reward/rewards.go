package reward

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// unionEpsilon is the union below which two intervals count as zero-length
// (spec section 6): their IoU is then 1 if they intersect and 0 otherwise.
const unionEpsilon = 1e-9

// countEpsilon keeps the counting reward finite when a true count is 0.
const countEpsilon = 1e-9

// numClasses is the number of shape classes of the counting task (circle,
// square, triangle).
const numClasses = 3

// Grounding is the anomaly-grounding reward: the IoU of the predicted and
// the true interval, in [0,1].
//
// The response must match the reference's pattern
// `^\s*([\d.]+)\s*-\s*([\d.]+)\s*$` (spec section 6): two numbers
// separated by a dash, with optional white space around the dash and
// around the whole ("10-20", "10 - 20", " 12.5 -30 \n"), and nothing else:
// no unit, no other text. White space and digits are what Python's \s and
// \d match (Unicode white space including U+001C..U+001F; any Unicode
// decimal digit, so "１０-２０" reads as 10-20, as the reference's float()
// reads it). A number is decimal digits with at most one dot and at least
// one digit: "12", "012", "12.5", "12." and ".5" are accepted; signs
// ("-3", "+3"), exponents ("1e3"), underscores, commas and a second dot are
// not, nor numbers too large for float64. The start must not exceed the
// end. Any violation gives 0. The ground truth gt has the same form; a
// malformed gt also gives 0 (Score reports it as an error instead).
//
// IoU follows the spec exactly (see IoU): when the union is below 1e-9 the
// reward is 1 if the intersection is positive and 0 otherwise, so two
// identical zero-length intervals such as "5-5" and "5-5" score 0.
func Grounding(response, gt string) float64 {
	p0, p1, ok := parseOrderedInterval(response)
	if !ok {
		return 0
	}
	g0, g1, ok := parseOrderedInterval(gt)
	if !ok {
		return 0
	}
	return IoU(p0, p1, g0, g1)
}

// StrictGrounding is the binary variant of Grounding: 1 when the response
// parses as Grounding requires (white space around the dash allowed) and both of its numbers equal those
// of gt (as parsed numbers, so "12.50-20" matches "12.5-20.0"), else 0.
// Unlike Grounding it gives 1 for identical zero-length intervals.
func StrictGrounding(response, gt string) float64 {
	p0, p1, ok := parseOrderedInterval(response)
	if !ok {
		return 0
	}
	g0, g1, ok := parseOrderedInterval(gt)
	if !ok {
		return 0
	}
	if p0 == g0 && p1 == g1 {
		return 1
	}
	return 0
}

// digitRuns collects the maximal runs of decimal digits in s (ASCII or
// any other Unicode decimal digit, as Python's \d+ finds them; see
// decimalValue) into out, in order, and returns how many runs s holds,
// counting at most numClasses+1 (a return of numClasses+1 means "more than
// numClasses"). Runs too long for float64 are +Inf.
func digitRuns(s string, out *[numClasses]float64) int {
	n := 0
	var buf []byte
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if _, ok := decimalValue(r); !ok {
			i += size
			continue
		}
		if n == numClasses {
			return numClasses + 1
		}
		buf = buf[:0]
		for i < len(s) {
			r, size := rune(s[i]), 1
			if r >= utf8.RuneSelf {
				r, size = utf8.DecodeRuneInString(s[i:])
			}
			v, ok := decimalValue(r)
			if !ok {
				break
			}
			buf = append(buf, byte('0'+v))
			i += size
		}
		// A run of digits always parses; on overflow ParseFloat returns
		// +Inf with ErrRange, which is the value wanted here.
		out[n], _ = strconv.ParseFloat(string(buf), 64)
		n++
	}
	return n
}

// parseCountsGT parses a counting ground truth "c,s,t": exactly three
// comma-separated non-negative integers written with ASCII digits, spaces
// allowed around each.
func parseCountsGT(gt string) ([numClasses]float64, bool) {
	var out [numClasses]float64
	rest := gt
	for k := range numClasses {
		field := rest
		if k < numClasses-1 {
			var found bool
			field, rest, found = strings.Cut(rest, ",")
			if !found {
				return out, false
			}
		}
		field = strings.TrimSpace(field)
		if field == "" {
			return out, false
		}
		for i := 0; i < len(field); i++ {
			if !isDigit(field[i]) {
				return out, false
			}
		}
		v, err := strconv.ParseFloat(field, 64)
		if err != nil || !finite(v) {
			return out, false
		}
		out[k] = v
	}
	return out, true
}

// Counting is the object-counting reward, in [0,1]. Every maximal run of
// decimal digits in the response (Python's \d+: ASCII or other Unicode
// decimal digits) is a count (so signs, decimal points and
// words are ignored: "-3" reads as 3, "1.5" as two counts 1 and 5); when
// there are not exactly three runs the reward is 0. Otherwise it is the mean
// over circles, squares and triangles of max(0, 1 - |pred-gt| / (gt+1e-9)):
// a class whose true count is 0 gets credit only for predicting exactly 0.
// gt is "c,s,t"; a malformed gt gives 0.
func Counting(response, gt string) float64 {
	want, ok := parseCountsGT(gt)
	if !ok {
		return 0
	}
	var got [numClasses]float64
	if digitRuns(response, &got) != numClasses {
		return 0
	}
	sum := 0.0
	for k := range numClasses {
		diff := got[k] - want[k]
		if diff < 0 {
			diff = -diff
		}
		// got may be +Inf: the term is then -Inf and clipped to 0.
		if term := 1 - diff/(want[k]+countEpsilon); term > 0 {
			sum += term
		}
	}
	return sum / numClasses
}

// StrictCounting is the binary variant of Counting: 1 when the response
// holds exactly three runs of digits and all three equal the true counts
// (leading zeros allowed: "03" is 3), else 0.
func StrictCounting(response, gt string) float64 {
	return boolScore(exactCounts(response, gt) == numClasses)
}

// exactCounts returns how many of the three classes the response counts
// exactly (0 when the response does not hold exactly three runs of digits
// or gt is malformed).
func exactCounts(response, gt string) int {
	want, ok := parseCountsGT(gt)
	if !ok {
		return 0
	}
	var got [numClasses]float64
	if digitRuns(response, &got) != numClasses {
		return 0
	}
	n := 0
	for k := range numClasses {
		if got[k] == want[k] {
			n++
		}
	}
	return n
}

// validJigsawAnswer reports whether g (already trimmed) is a usable jigsaw
// answer: non-empty, printable ASCII without spaces, no character twice.
func validJigsawAnswer(g string) bool {
	if g == "" || len(g) > 128 {
		return false
	}
	var seen [128]bool
	for i := 0; i < len(g); i++ {
		c := g[i]
		if c <= ' ' || c >= 127 || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// Jigsaw is the temporal-jigsaw reward, in [0,1]. The trimmed response must
// be a permutation of the characters of the answer gt (same length, same
// characters, each once; no separators), else 0. With E the sum over clips
// of |position in the response - position in gt|, the reward is
// 1 - E/floor(n*n/2), where floor(n*n/2) is the error of the reversed order
// (18 for n=6, 32 for n=8), so the reversed order scores 0. For n=1 the only
// permutation scores 1. A malformed gt (empty, repeated or non-printable
// characters, more than 128 characters) gives 0.
func Jigsaw(response, gt string) float64 {
	r := strings.TrimSpace(response)
	g := strings.TrimSpace(gt)
	n := len(g)
	if len(r) != n || !validJigsawAnswer(g) {
		return 0
	}
	var posG [128]int // 1 + position in g; 0 = absent
	for i := 0; i < n; i++ {
		posG[g[i]] = i + 1
	}
	var seen [128]bool
	e := 0
	for i := 0; i < n; i++ {
		c := r[i]
		if c >= 128 || posG[c] == 0 || seen[c] {
			return 0
		}
		seen[c] = true
		d := i - (posG[c] - 1)
		if d < 0 {
			d = -d
		}
		e += d
	}
	maxE := n * n / 2
	if maxE == 0 {
		return 1
	}
	return 1 - float64(e)/float64(maxE)
}

// StrictJigsaw is the binary variant of Jigsaw: 1 when the trimmed response
// is identical to the trimmed answer (and the answer is well formed), else 0.
func StrictJigsaw(response, gt string) float64 {
	g := strings.TrimSpace(gt)
	return boolScore(validJigsawAnswer(g) && strings.TrimSpace(response) == g)
}

// boolScore maps true to 1 and false to 0.
func boolScore(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
