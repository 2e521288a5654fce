package tokenizer

import (
	"testing"
	"unicode"
)

func TestByteLevelMapping(t *testing.T) {
	bl := newByteLevel()
	seen := map[rune]bool{}
	for b := 0; b < 256; b++ {
		r := bl.toRune[b]
		if seen[r] {
			t.Fatalf("rune %q used twice", r)
		}
		seen[r] = true
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			t.Errorf("byte %#x maps to non-printable or space rune %U", b, r)
		}
		if back, ok := bl.fromRune[r]; !ok || int(back) != b {
			t.Errorf("fromRune(%U) = %#x, %v, want %#x", r, back, ok, b)
		}
	}
	// Known GPT-2 values: space is Ġ, newline Ċ, byte 0 Ā; the order
	// starts with '!' and puts byte 0 at position 188.
	for b, want := range map[byte]rune{' ': 'Ġ', '\n': 'Ċ', 0: 'Ā', 'a': 'a', 0xAD: 'Ń'} {
		if got := bl.toRune[b]; got != want {
			t.Errorf("toRune[%#x] = %q, want %q", b, got, want)
		}
	}
	if bl.order[0] != '!' || bl.order[188] != 0 || bl.order[255] != 0xAD {
		t.Errorf("order: [0]=%#x [188]=%#x [255]=%#x", bl.order[0], bl.order[188], bl.order[255])
	}
	if got := bl.encode("a b\n"); got != "aĠbĊ" {
		t.Errorf("encode = %q", got)
	}
	if got := string(bl.decodeToken(nil, "ĠhelloĊ")); got != " hello\n" {
		t.Errorf("decodeToken = %q", got)
	}
	// A token with a rune outside the mapping is taken verbatim.
	if got := string(bl.decodeToken([]byte("x"), "a b")); got != "xa b" {
		t.Errorf("decodeToken verbatim = %q", got)
	}
}

// TestLossyUTF8 checks the replacement of ill-formed sequences against
// Rust's String::from_utf8_lossy (one U+FFFD per maximal subpart).
func TestLossyUTF8(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\xffb", "a\uFFFDb"},
		{"\xe2\x82", "\uFFFD"},                 // truncated 3-byte sequence
		{"\xe2\x82x", "\uFFFDx"},               // truncated then ASCII
		{"\xf0\x9f\x98", "\uFFFD"},             // truncated 4-byte sequence
		{"\xf0\x9f\x98\x80", "😀"},              // complete
		{"\xc0\x80", "\uFFFD\uFFFD"},           // overlong lead
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"}, // surrogate
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"}, // overlong 3-byte
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\x80\x80", "\uFFFD\uFFFD"},
		{"é\xc3", "é\uFFFD"},
	}
	for _, c := range cases {
		if got := lossyUTF8([]byte(c.in)); got != c.want {
			t.Errorf("lossyUTF8(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
