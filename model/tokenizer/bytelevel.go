package tokenizer

import "unicode/utf8"

// byteLevel is the GPT-2 bytes-to-unicode mapping used by byte-level BPE:
// every byte is shown as one printable rune so that a byte sequence becomes
// a string without spaces or control characters. Printable Latin-1 bytes
// (0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF) map to themselves; the other 68 bytes
// map, in increasing byte order, to U+0100, U+0101, ...
type byteLevel struct {
	toRune [256]rune
	// fromRune maps a rune back to its byte; ok is false for runes that
	// are not in the mapping.
	fromRune map[rune]byte
	// order lists the bytes in the GPT-2 order (printable ranges first),
	// which is the order of the first 256 ids of GPT-2 style vocabularies.
	order [256]byte
}

// newByteLevel builds the mapping.
func newByteLevel() *byteLevel {
	bl := &byteLevel{fromRune: make(map[rune]byte, 256)}
	printable := func(b int) bool {
		return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	k := 0
	for b := 0; b < 256; b++ {
		if printable(b) {
			bl.toRune[b] = rune(b)
			bl.order[k] = byte(b)
			k++
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			bl.toRune[b] = rune(256 + n)
			bl.order[k] = byte(b)
			k++
			n++
		}
	}
	for b := 0; b < 256; b++ {
		bl.fromRune[bl.toRune[b]] = byte(b)
	}
	return bl
}

// encode returns the byte-level form of s (one rune per byte of s).
func (bl *byteLevel) encode(s string) string {
	buf := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		buf = utf8.AppendRune(buf, bl.toRune[s[i]])
	}
	return string(buf)
}

// decodeToken appends the bytes that token stands for to dst. As in the
// Hugging Face ByteLevel decoder, a token holding any rune outside the
// mapping is taken verbatim (its UTF-8 bytes).
func (bl *byteLevel) decodeToken(dst []byte, token string) []byte {
	start := len(dst)
	for _, r := range token {
		b, ok := bl.fromRune[r]
		if !ok {
			return append(dst[:start], token...)
		}
		dst = append(dst, b)
	}
	return dst
}

// lossyUTF8 converts b to a string, replacing each maximal ill-formed
// subsequence by U+FFFD, the way Rust's String::from_utf8_lossy (used by
// the Hugging Face decoders) does: a truncated but otherwise valid prefix of
// a multi-byte sequence becomes a single U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || w > 1 {
			out = append(out, b[i:i+w]...)
			i += w
			continue
		}
		out = append(out, "\uFFFD"...)
		i += maximalSubpart(b[i:])
	}
	return string(out)
}

// maximalSubpart returns the length (at least 1) of the maximal prefix of b
// that could begin a well-formed UTF-8 sequence, for b starting with an
// ill-formed sequence.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				return n
			}
		} else if x < 0x80 || x > 0xBF {
			return n
		}
		n++
	}
	return n
}
