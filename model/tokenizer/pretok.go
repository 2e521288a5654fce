package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// The pre-tokenizer regular expressions this package implements by hand
// (Go's regexp has no look-ahead, which all of them use).
const (
	// QwenPattern is the Qwen2/Qwen3 split pattern (also that of
	// cl100k-style tokenizers), with one digit per piece.
	QwenPattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Llama3Pattern is QwenPattern with runs of up to three digits.
	Llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// GPT2Pattern is the pattern of the ByteLevel pre-tokenizer with
	// use_regex true.
	GPT2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

// splitKind selects one of the hand-written pre-tokenizer scanners.
type splitKind int

const (
	splitNone splitKind = iota // the whole text is one piece
	splitQwen                  // QwenPattern or Llama3Pattern (see maxDigits)
	splitGPT2                  // GPT2Pattern
)

// splitter cuts normalised text into the pieces that BPE encodes
// separately, producing exactly the matches of its regular expression
// (with the Hugging Face "Isolated" behaviour: every match is a piece, and
// text between matches, which these patterns never leave, would be too).
//
// Character classes follow Oniguruma, the regex engine of Hugging Face
// tokenizers: \p{L} and \p{N} are Go's unicode.L and unicode.N tables and
// \s is the Unicode White_Space property (unicode.IsSpace), which includes
// U+0085 and not U+FEFF. The case-insensitive contractions also accept
// U+017F (long s), which case-folds to 's'.
type splitter struct {
	kind      splitKind
	maxDigits int // longest \p{N} run of one piece for splitQwen (1 or 3)
}

// asciiClass caches the character class of ASCII runes.
var asciiClass = func() (c [128]uint8) {
	for r := 0; r < 128; r++ {
		switch {
		case unicode.IsLetter(rune(r)):
			c[r] = classL
		case unicode.IsNumber(rune(r)):
			c[r] = classN
		case unicode.IsSpace(rune(r)):
			c[r] = classS
		default:
			c[r] = classO
		}
	}
	return c
}()

// Character classes of the patterns: letter, number, white space, other.
const (
	classL uint8 = iota
	classN
	classS
	classO
)

// class returns the character class of r.
func class(r rune) uint8 {
	if r < 128 {
		return asciiClass[r]
	}
	switch {
	case unicode.IsLetter(r):
		return classL
	case unicode.IsNumber(r):
		return classN
	case unicode.IsSpace(r):
		return classS
	}
	return classO
}

// runeAt decodes the rune at s[i:] (i < len(s)).
func runeAt(s string, i int) (rune, int) {
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// split calls fn with each piece of s, in order. The pieces are non-empty
// and concatenate to s.
func (p splitter) split(s string, fn func(piece string)) {
	if p.kind == splitNone {
		if s != "" {
			fn(s)
		}
		return
	}
	for i := 0; i < len(s); {
		var j int
		if p.kind == splitGPT2 {
			j = p.matchGPT2(s, i)
		} else {
			j = p.matchQwen(s, i)
		}
		fn(s[i:j])
		i = j
	}
}

// contraction returns the length of the contraction suffix ('s, 't, 're,
// 've, 'm, 'll, 'd) that starts at s[i:], right after an apostrophe, or 0.
// With fold, letters match case-insensitively as in Oniguruma's (?i:).
func contraction(s string, i int, fold bool) int {
	lower := func(k int) (rune, int) {
		if k >= len(s) {
			return -1, 0
		}
		r, w := runeAt(s, k)
		if fold {
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			} else if r == 'ſ' {
				r = 's'
			}
		}
		return r, w
	}
	r, w := lower(i)
	switch r {
	case 's', 't', 'm', 'd':
		return w
	case 'r', 'v', 'l':
		want := 'e'
		if r == 'l' {
			want = 'l'
		}
		if r2, w2 := lower(i + w); r2 == want {
			return w + w2
		}
	}
	return 0
}

// letters returns the end of the run of letters starting at s[i:].
func letters(s string, i int) int {
	for i < len(s) {
		r, w := runeAt(s, i)
		if class(r) != classL {
			break
		}
		i += w
	}
	return i
}

// others returns the end of the run of "other" runes (not white space, not
// a letter, not a number) starting at s[i:].
func others(s string, i int) int {
	for i < len(s) {
		r, w := runeAt(s, i)
		if class(r) != classO {
			break
		}
		i += w
	}
	return i
}

// matchQwen returns the end of the match of QwenPattern (or Llama3Pattern)
// that starts at s[i:], following the regex alternatives in order.
func (p splitter) matchQwen(s string, i int) int {
	r0, w0 := runeAt(s, i)
	c0 := class(r0)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if r0 == '\'' {
		if n := contraction(s, i+1, true); n > 0 {
			return i + 1 + n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if c0 == classL {
		return letters(s, i+w0)
	}
	if r0 != '\r' && r0 != '\n' && c0 != classN && i+w0 < len(s) {
		if r1, w1 := runeAt(s, i+w0); class(r1) == classL {
			return letters(s, i+w0+w1)
		}
	}
	// \p{N} (or \p{N}{1,3})
	if c0 == classN {
		j := i + w0
		for n := 1; n < p.maxDigits && j < len(s); n++ {
			r, w := runeAt(s, j)
			if class(r) != classN {
				break
			}
			j += w
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	if j := optionalSpaceThenOthers(s, i, r0, c0); j > i {
		for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
			j++
		}
		return j
	}
	if c0 == classS {
		return whitespace(s, i, true)
	}
	return i + w0 // not reached: every rune is in one of the classes
}

// optionalSpaceThenOthers matches ` ?[^\s\p{L}\p{N}]+` at s[i:] (whose
// first rune is r0 of class c0) and returns its end, or i.
func optionalSpaceThenOthers(s string, i int, r0 rune, c0 uint8) int {
	if c0 == classO {
		return others(s, i)
	}
	if r0 == ' ' && i+1 < len(s) {
		if r1, _ := runeAt(s, i+1); class(r1) == classO {
			return others(s, i+1)
		}
	}
	return i
}

// whitespace matches the white-space alternatives at s[i:], which starts
// with white space: `\s*[\r\n]+` (when newlines is set), then
// `\s+(?!\S)`, then `\s+`.
func whitespace(s string, i int, newlines bool) int {
	k, lastNL, lastStart := i, -1, i
	for k < len(s) {
		r, w := runeAt(s, k)
		if class(r) != classS {
			break
		}
		if r == '\r' || r == '\n' {
			lastNL = k + w
		}
		lastStart = k
		k += w
	}
	// \s*[\r\n]+ : backtracking ends the match at the last newline of the run.
	if newlines && lastNL > 0 {
		return lastNL
	}
	// \s+(?!\S) : the whole run at the end of the text, else all but its
	// last rune, which must leave at least one.
	if k == len(s) {
		return k
	}
	if lastStart > i {
		return lastStart
	}
	// \s+
	return k
}

// matchGPT2 returns the end of the match of GPT2Pattern at s[i:].
func (p splitter) matchGPT2(s string, i int) int {
	r0, w0 := runeAt(s, i)
	c0 := class(r0)
	if r0 == '\'' {
		if n := contraction(s, i+1, false); n > 0 {
			return i + 1 + n
		}
	}
	// ` ?\p{L}+`, ` ?\p{N}+`
	start, cls := i, c0
	if r0 == ' ' && i+1 < len(s) {
		r1, _ := runeAt(s, i+1)
		if c1 := class(r1); c1 == classL || c1 == classN {
			start, cls = i+1, c1
		}
	}
	if cls == classL || cls == classN {
		j := start
		for j < len(s) {
			r, w := runeAt(s, j)
			if class(r) != cls {
				break
			}
			j += w
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+`
	if j := optionalSpaceThenOthers(s, i, r0, c0); j > i {
		return j
	}
	if c0 == classS {
		return whitespace(s, i, false)
	}
	return i + w0
}
