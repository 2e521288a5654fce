package reward

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// isDigit reports whether c is an ASCII decimal digit.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// pySpace reports whether r is white space as the reference's regular
// expressions see it (Python's \s on text, str.isspace): Go's
// unicode.IsSpace plus the four ASCII information separators U+001C..U+001F.
func pySpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }

// trimPySpace trims pySpace white space from both ends of s.
func trimPySpace(s string) string { return strings.TrimFunc(s, pySpace) }

// decimalValue returns the value of a decimal digit: an ASCII digit or any
// other Unicode decimal digit (category Nd, what Python's \d matches and
// float() reads, e.g. fullwidth "１" or Arabic-Indic "١"). Every Nd block
// is a run of ten code points from zero to nine, so the value is the
// offset in the block modulo 10.
func decimalValue(r rune) (int, bool) {
	if r < utf8.RuneSelf {
		if isDigit(byte(r)) {
			return int(r - '0'), true
		}
		return 0, false
	}
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

// parseDecimalNumber parses a number written only with decimal digits (see
// decimalValue) and at most one dot, holding at least one digit: "12",
// "012", "12.5", "12.", ".5", "１２". It is the reference's `[\d.]+` group
// read by Python's float(). Signs, exponents, underscores, spaces and
// values that overflow float64 are rejected (Python would give inf there;
// no real interval is that long).
func parseDecimalNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	ascii := true
	digits, dots := 0, 0
	for _, r := range s {
		switch {
		case r == '.':
			dots++
		case r < utf8.RuneSelf && isDigit(byte(r)):
			digits++
		default:
			if _, ok := decimalValue(r); !ok {
				return 0, false
			}
			digits++
			ascii = false
		}
	}
	if digits == 0 || dots > 1 {
		return 0, false
	}
	if !ascii {
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r == '.' {
				b = append(b, '.')
				continue
			}
			v, _ := decimalValue(r)
			b = append(b, byte('0'+v))
		}
		s = string(b)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !finite(v) {
		return 0, false
	}
	return v, true
}

// parseInterval parses s as the reference's grounding answer pattern
// `^\s*([\d.]+)\s*-\s*([\d.]+)\s*$` (spec section 6): two numbers in the
// parseDecimalNumber form separated by a dash, with optional white space
// (pySpace) around the dash and around the whole. It does not check the
// order of the two numbers.
func parseInterval(s string) (start, end float64, ok bool) {
	a, b, found := strings.Cut(trimPySpace(s), "-")
	if !found {
		return 0, 0, false
	}
	start, ok = parseDecimalNumber(strings.TrimRightFunc(a, pySpace))
	if !ok {
		return 0, 0, false
	}
	end, ok = parseDecimalNumber(strings.TrimLeftFunc(b, pySpace))
	if !ok {
		return 0, 0, false
	}
	return start, end, true
}

// parseOrderedInterval is parseInterval that also requires start <= end.
func parseOrderedInterval(s string) (start, end float64, ok bool) {
	start, end, ok = parseInterval(s)
	if !ok || start > end {
		return 0, 0, false
	}
	return start, end, true
}
