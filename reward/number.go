package reward

import (
	"math"
	"strconv"
	"strings"
)

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseStrictNumber parses a number written only with ASCII digits and at
// most one dot, holding at least one digit: "12", "012", "12.5", "12.",
// ".5". Signs, exponents, underscores, spaces and values that overflow
// float64 are rejected.
func parseStrictNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			digits++
		case c == '.':
			dots++
		default:
			return 0, false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(v) {
		return 0, false
	}
	return v, true
}

// parseStrictInterval parses s (already trimmed) as exactly
// "number-number" with no spaces, in the parseStrictNumber form. It does
// not check the order of the two numbers.
func parseStrictInterval(s string) (start, end float64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found {
		return 0, 0, false
	}
	start, ok = parseStrictNumber(a)
	if !ok {
		return 0, 0, false
	}
	end, ok = parseStrictNumber(b)
	if !ok {
		return 0, 0, false
	}
	return start, end, true
}

// parseOrderedInterval is parseStrictInterval on the trimmed text that also
// requires start <= end.
func parseOrderedInterval(s string) (start, end float64, ok bool) {
	start, end, ok = parseStrictInterval(strings.TrimSpace(s))
	if !ok || start > end {
		return 0, 0, false
	}
	return start, end, true
}
