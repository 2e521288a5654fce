package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// AddedToken is a token of the "added_tokens" list of a tokenizer.json:
// matched in the text before pre-tokenization and never split.
type AddedToken struct {
	// ID is the token's id.
	ID int `json:"id"`
	// Content is the token's text, e.g. "<|im_start|>".
	Content string `json:"content"`
	// SingleWord makes the token match only as a whole word.
	SingleWord bool `json:"single_word"`
	// LStrip makes a match absorb the white space on its left.
	LStrip bool `json:"lstrip"`
	// RStrip makes a match absorb the white space on its right.
	RStrip bool `json:"rstrip"`
	// Normalized makes the token match the normalised text rather than the
	// raw input.
	Normalized bool `json:"normalized"`
	// Special marks a control token (skipped by DecodeSkipSpecial).
	Special bool `json:"special"`
}

// matcher finds added tokens in text, leftmost first and, at one position,
// longest first (the Aho-Corasick LeftmostLongest rule of Hugging Face
// tokenizers).
type matcher struct {
	toks    []AddedToken
	byFirst [256][]int32 // indices into toks by first byte, longest first
}

// newMatcher builds a matcher for toks; empty contents are ignored.
func newMatcher(toks []AddedToken) *matcher {
	mt := &matcher{toks: toks}
	for k, t := range toks {
		if t.Content == "" {
			continue
		}
		b := t.Content[0]
		mt.byFirst[b] = append(mt.byFirst[b], int32(k))
	}
	for b := range mt.byFirst {
		l := mt.byFirst[b]
		sort.SliceStable(l, func(i, j int) bool { return len(toks[l[i]].Content) > len(toks[l[j]].Content) })
	}
	return mt
}

// isWordRune reports whether r counts as part of a word for single_word
// tokens (Rust's char::is_alphanumeric, or '_').
func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

// split calls emit with the pieces of s in order: runs of plain text with
// id -1, and matched added tokens with their id.
func (mt *matcher) split(s string, emit func(seg string, id int)) {
	if mt == nil || len(mt.toks) == 0 {
		if s != "" {
			emit(s, -1)
		}
		return
	}
	prevEnd := 0
	for i := 0; i < len(s); {
		cands := mt.byFirst[s[i]]
		var tok *AddedToken
		for _, k := range cands {
			if strings.HasPrefix(s[i:], mt.toks[k].Content) {
				tok = &mt.toks[k]
				break
			}
		}
		if tok == nil {
			i++
			continue
		}
		start, stop := i, i+len(tok.Content)
		if tok.SingleWord {
			before, _ := utf8.DecodeLastRuneInString(s[:start])
			after, _ := utf8.DecodeRuneInString(s[stop:])
			if (start > 0 && isWordRune(before)) || (stop < len(s) && isWordRune(after)) {
				i = stop
				continue
			}
		}
		if tok.LStrip {
			for start > prevEnd {
				r, w := utf8.DecodeLastRuneInString(s[:start])
				if !unicode.IsSpace(r) {
					break
				}
				start -= w
			}
		}
		if tok.RStrip {
			for stop < len(s) {
				r, w := utf8.DecodeRuneInString(s[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += w
			}
		}
		if start > prevEnd {
			emit(s[prevEnd:start], -1)
		}
		emit(s[start:stop], tok.ID)
		prevEnd, i = stop, stop
	}
	if prevEnd < len(s) {
		emit(s[prevEnd:], -1)
	}
}
