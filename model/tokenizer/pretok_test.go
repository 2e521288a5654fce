package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// pieces splits s with p and returns the pieces.
func (p splitter) pieces(s string) []string {
	var out []string
	p.split(s, func(piece string) { out = append(out, piece) })
	return out
}

func TestSplitQwen(t *testing.T) {
	p := splitter{kind: splitQwen, maxDigits: 1}
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello world", []string{"Hello", " world"}},
		{"I'm he's THEY'RE we'Ll", []string{"I", "'m", " he", "'s", " THEY", "'RE", " we", "'Ll"}},
		{"'sx 'l", []string{"'s", "x", " '", "l"}},
		{"'hello", []string{"'hello"}},
		{"12345", []string{"1", "2", "3", "4", "5"}},
		{"a1b", []string{"a", "1", "b"}},
		{"14.5-26.2", []string{"1", "4", ".", "5", "-", "2", "6", ".", "2"}},
		{"   hello", []string{"  ", " hello"}},
		{"hi   ", []string{"hi", "   "}},
		{"a   !", []string{"a", "  ", " !"}},
		{"\thello", []string{"\thello"}},
		{"\nhello", []string{"\n", "hello"}},
		{"x\n\n  y", []string{"x", "\n\n", " ", " y"}},
		{"x \n \n  y", []string{"x", " \n \n", " ", " y"}},
		{"!!\n\nx", []string{"!!\n\n", "x"}},
		{" ?!\r\n", []string{" ?!\r\n"}},
		{"a\r\nb", []string{"a", "\r\n", "b"}},
		{"你好，世界", []string{"你好", "，世界"}},
		{"café", []string{"café"}},
		{"e\u0301", []string{"e", "\u0301"}}, // a combining mark is not \p{L}
		{"😀😀 x", []string{"😀😀", " x"}},
		{"a\u00a0b", []string{"a", "\u00a0b"}},
		{"a\u200bb", []string{"a", "\u200bb"}}, // U+200B is not white space
		{"a\u0085\u0085b", []string{"a", "\u0085", "\u0085b"}},
		{"'ſ", []string{"'ſ"}}, // long s folds to s in (?i:'s)
		{"<|im_start|>", []string{"<|", "im", "_start", "|>"}},
	}
	for _, c := range cases {
		if got := p.pieces(c.in); !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitLlama3Digits(t *testing.T) {
	p := splitter{kind: splitQwen, maxDigits: 3}
	if got, want := p.pieces("1234567 ab"), []string{"123", "456", "7", " ab"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSplitGPT2(t *testing.T) {
	p := splitter{kind: splitGPT2}
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'm THEY'RE", []string{"I", "'m", " THEY", "'", "RE"}},
		{"abc 123 4x", []string{"abc", " 123", " 4", "x"}},
		{"a  b", []string{"a", " ", " b"}},
		{"\thello", []string{"\t", "hello"}},
		{"x\n\ny", []string{"x", "\n", "\n", "y"}},
		{"!!\n", []string{"!!", "\n"}},
		{" !?", []string{" !?"}},
	}
	for _, c := range cases {
		if got := p.pieces(c.in); !slices.Equal(got, c.want) {
			t.Errorf("split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitNone(t *testing.T) {
	p := splitter{kind: splitNone}
	if got := p.pieces("a b\nc"); !slices.Equal(got, []string{"a b\nc"}) {
		t.Errorf("got %q", got)
	}
	if got := p.pieces(""); got != nil {
		t.Errorf("empty text gave %q", got)
	}
}

// FuzzSplit checks the splitters' invariants on any input: non-empty
// pieces that concatenate to the text, and whole runes for valid UTF-8.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "Hello world", " \n\t x", "I'm 12", "你好 😀", "\xff\xfe a", "a\r\n\r\nb", "''s'"} {
		f.Add(s)
	}
	splitters := []splitter{{kind: splitQwen, maxDigits: 1}, {kind: splitQwen, maxDigits: 3}, {kind: splitGPT2}}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range splitters {
			var b strings.Builder
			p.split(s, func(piece string) {
				if piece == "" {
					t.Fatalf("%v: empty piece in %q", p, s)
				}
				if utf8.ValidString(s) && !utf8.ValidString(piece) {
					t.Fatalf("%v: piece %q cuts a rune of %q", p, piece, s)
				}
				b.WriteString(piece)
			})
			if b.String() != s {
				t.Fatalf("%v: pieces of %q concatenate to %q", p, s, b.String())
			}
		}
	})
}
