package tokenizer

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// tinyT returns the embedded tiny tokenizer.
func tinyT(tb testing.TB) *Tokenizer {
	tb.Helper()
	tk, err := Tiny()
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

// smallJSON trains a small tokenizer with extra added tokens and returns
// its tokenizer.json as a generic map for editing.
func smallJSON(t *testing.T, added ...AddedToken) map[string]any {
	t.Helper()
	tk, err := Train([]string{"hello world, hello there; the world says hello"}, 270, []string{"<s>"})
	if err != nil {
		t.Fatal(err)
	}
	for k, a := range added {
		a.ID = 270 + k
		tk.added = append(tk.added, a)
	}
	data, err := tk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func parseMap(t *testing.T, m map[string]any) (*Tokenizer, error) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return Parse(data)
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name        string
		edit        func(m map[string]any)
		unsupported bool
	}{
		{"wordpiece", func(m map[string]any) { m["model"].(map[string]any)["type"] = "WordPiece" }, true},
		{"no model", func(m map[string]any) { delete(m, "model") }, false},
		{"no vocab", func(m map[string]any) { delete(m["model"].(map[string]any), "vocab") }, false},
		{"dropout", func(m map[string]any) { m["model"].(map[string]any)["dropout"] = 0.1 }, true},
		{"suffix", func(m map[string]any) { m["model"].(map[string]any)["end_of_word_suffix"] = "</w>" }, true},
		{"byte fallback", func(m map[string]any) { m["model"].(map[string]any)["byte_fallback"] = true }, true},
		{"normalizer", func(m map[string]any) { m["normalizer"] = map[string]any{"type": "Lowercase"} }, true},
		{"no pre-tokenizer", func(m map[string]any) { m["pre_tokenizer"] = nil }, true},
		{"other regex", func(m map[string]any) {
			m["pre_tokenizer"].(map[string]any)["pretokenizers"].([]any)[0].(map[string]any)["pattern"] = map[string]any{"Regex": `\w+`}
		}, true},
		{"prefix space", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "ByteLevel", "add_prefix_space": true}
		}, true},
		{"metaspace", func(m map[string]any) { m["pre_tokenizer"] = map[string]any{"type": "Metaspace"} }, true},
		{"decoder", func(m map[string]any) { m["decoder"] = map[string]any{"type": "WordPiece"} }, true},
		{"no decoder", func(m map[string]any) { m["decoder"] = nil }, true},
		{"merge not in vocab", func(m map[string]any) {
			mm := m["model"].(map[string]any)
			mm["merges"] = append(mm["merges"].([]any), []any{"zzz", "q"})
		}, false},
		{"merged token not in vocab", func(m map[string]any) {
			mm := m["model"].(map[string]any)
			mm["merges"] = append(mm["merges"].([]any), []any{"Q", "Z"})
		}, false},
		{"bad merge string", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{"a b c"} }, false},
		{"bad merge pair", func(m map[string]any) { m["model"].(map[string]any)["merges"] = []any{[]any{"a"}} }, false},
		{"shared id", func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]any)["extra"] = 3 }, false},
		{"added id clash", func(m map[string]any) { m["added_tokens"].([]any)[0].(map[string]any)["id"] = 5 }, false},
		{"negative id", func(m map[string]any) { m["model"].(map[string]any)["vocab"].(map[string]any)["extra"] = -1 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := smallJSON(t)
			c.edit(m)
			_, err := parseMap(t, m)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrUnsupported) != c.unsupported {
				t.Errorf("errors.Is(ErrUnsupported) = %v for %v", !c.unsupported, err)
			}
		})
	}
	if _, err := Parse([]byte("{")); err == nil {
		t.Error("truncated JSON parsed")
	}
}

func TestParseMergeFormats(t *testing.T) {
	m := smallJSON(t)
	pairs, err := parseMap(t, m)
	if err != nil {
		t.Fatal(err)
	}
	mm := m["model"].(map[string]any)
	var legacy []any
	for _, p := range mm["merges"].([]any) {
		pp := p.([]any)
		legacy = append(legacy, pp[0].(string)+" "+pp[1].(string))
	}
	mm["merges"] = legacy
	old, err := parseMap(t, m)
	if err != nil {
		t.Fatal(err)
	}
	text := "hello world, the world says hello there"
	if a, b := pairs.Encode(text), old.Encode(text); !slices.Equal(a, b) || len(a) >= len(text)/2 {
		t.Errorf("pair merges %v, string merges %v", a, b)
	}
}

// TestAddedTokenOptions checks lstrip, rstrip, single_word and normalized
// added tokens.
func TestAddedTokenOptions(t *testing.T) {
	m := smallJSON(t,
		AddedToken{Content: "<l>", LStrip: true},
		AddedToken{Content: "<r>", RStrip: true},
		AddedToken{Content: "hello", SingleWord: true},
		AddedToken{Content: "é", Normalized: true},
		AddedToken{Content: "<s>x"},
	)
	m["normalizer"] = map[string]any{"type": "NFC"}
	tk, err := parseMap(t, m)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) int {
		i, ok := tk.TokenID(s)
		if !ok {
			t.Fatalf("no token %q", s)
		}
		return i
	}
	plain := func(s string) []int { return tk.m.encodeWord(nil, s) }
	cat := func(parts ...[]int) []int {
		var out []int
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		in   string
		want []int
	}{
		{"a  <l>b", cat(plain("a"), []int{id("<l>")}, plain("b"))},
		{"a<r>  b", cat(plain("a"), []int{id("<r>")}, plain("b"))},
		{"hello world", cat([]int{id("hello")}, plain(" world"))},
		{"say hello", cat(plain("say"), plain(" "), []int{id("hello")})},
		{"helloworld", plain("helloworld")},
		{"e\u0301", []int{id("é")}},
		{"<s>x<s>", []int{id("<s>x"), id("<s>")}},
	}
	for _, c := range cases {
		if got := tk.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := tk.Decode(tk.Encode("a<r>  b")); got != "a<r>b" {
		t.Errorf("rstrip decode = %q", got)
	}
}

func TestLoad(t *testing.T) {
	data, err := tinyT(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path} {
		tk, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if tk.VocabSize() != TinyVocabSize {
			t.Errorf("Load(%s): VocabSize %d", p, tk.VocabSize())
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Load(missing) = %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"model": {"type": "Unigram"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !errors.Is(err, ErrUnsupported) {
		t.Errorf("Load(bad) = %v", err)
	}
}

func TestTinyTokens(t *testing.T) {
	tk := tinyT(t)
	for id := 0; id < tk.VocabSize(); id++ {
		tok, ok := tk.Token(id)
		if !ok {
			t.Fatalf("no token %d", id)
		}
		if back, ok := tk.TokenID(tok); !ok || back != id {
			t.Fatalf("TokenID(Token(%d)=%q) = %d, %v", id, tok, back, ok)
		}
	}
	if _, ok := tk.Token(-1); ok {
		t.Error("Token(-1) found")
	}
	if _, ok := tk.Token(tk.VocabSize()); ok {
		t.Error("Token(VocabSize) found")
	}
	if _, ok := tk.TokenID("no such token"); ok {
		t.Error("TokenID found a token that does not exist")
	}
	// Digits stay single tokens; frequent prompt words are one token.
	for d := '0'; d <= '9'; d++ {
		if ids := tk.Encode(string(d)); len(ids) != 1 {
			t.Errorf("digit %c: %v", d, ids)
		}
	}
	if got := tk.Encode("315264"); len(got) != 6 {
		t.Errorf("315264 gave %d tokens", len(got))
	}
	for _, w := range []string{" video", " segment", " frames", "assistant", " seconds"} {
		if ids := tk.Encode(w); len(ids) != 1 {
			t.Errorf("%q is %d tokens, want 1", w, len(ids))
		}
	}
	ids := tk.Encode("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>3,0,2<|im_end|>")
	specials := tk.Specials()
	if ids[0] != specials[ImStart] || ids[len(ids)-1] != specials[ImEnd] {
		t.Errorf("specials not recognised: %v", ids)
	}
	if got := tk.DecodeSkipSpecial(ids); got != "user\n3,0,2" {
		t.Errorf("DecodeSkipSpecial = %q", got)
	}
	// A response cut inside a character decodes with U+FFFD.
	e := tk.Encode("é")
	if len(e) != 2 {
		t.Fatalf("é is %d tokens, want 2 bytes", len(e))
	}
	if got := tk.Decode(e[:1]); got != "\uFFFD" {
		t.Errorf("half a character decodes to %q", got)
	}
	if got := tk.Decode([]int{-5, 1 << 20}); got != "" {
		t.Errorf("unknown ids decode to %q", got)
	}
}

// TestBPEScanHeap checks that the two merge loops agree, on the tiny
// tokenizer and (when installed) the real Qwen3 one.
func TestBPEScanHeap(t *testing.T) {
	models := []*model{tinyT(t).m}
	if tk, err := Load("../../third_party/tokenizer-qwen3/package/models/tokenizer.json"); err == nil {
		models = append(models, tk.m)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	words := []string{"hello", "segment", strings.Repeat("a", 200), strings.Repeat(" ", 100), strings.Repeat("ab", 90)}
	alphabet := "aeinrstlo vdgpx"
	for range 300 {
		b := make([]byte, 1+rng.IntN(80))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		words = append(words, string(b))
	}
	for _, m := range models {
		for _, w := range words {
			a := m.mergeScan(m.initial(w))
			b := m.mergeHeap(m.initial(w))
			if !slices.Equal(a, b) {
				t.Fatalf("%q: scan %v, heap %v", w, a, b)
			}
		}
	}
}

// initial returns the byte ids of word.
func (m *model) initial(word string) []int32 {
	out := make([]int32, len(word))
	for i := range out {
		out[i] = m.byteID[word[i]]
	}
	return out
}

// TestConcurrentEncode encodes from several goroutines (the word cache is
// shared); run with -race.
func TestConcurrentEncode(t *testing.T) {
	tk := tinyT(t)
	text := "In one segment of the video the frames were blurred. 14.5-26.2"
	want := tk.Encode(text)
	done := make(chan []int)
	for range 4 {
		go func() { done <- tk.Encode(text) }()
	}
	for range 4 {
		if got := <-done; !slices.Equal(got, want) {
			t.Fatalf("concurrent Encode = %v, want %v", got, want)
		}
	}
}

// FuzzRoundTrip checks Decode(Encode(s)) == s on the tiny tokenizer (no
// normalizer) for valid UTF-8, special tokens included.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "hello world", "<|im_start|>user\n3,0,2<|im_end|>", "   \n\t", "你好 😀 e\u0301", "'S 'll 14.5"} {
		f.Add(s)
	}
	tk := tinyT(f)
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		ids := tk.Encode(s)
		if got := tk.Decode(ids); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q (ids %v)", s, got, ids)
		}
		for _, id := range ids {
			if id < 0 || id >= tk.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
	})
}

// FuzzParse feeds arbitrary bytes to Parse: no panic, and whatever parses
// marshals and parses again to the same encoding.
func FuzzParse(f *testing.F) {
	f.Add(tinyJSON)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0},"merges":[]},"pre_tokenizer":{"type":"ByteLevel"},"decoder":{"type":"ByteLevel"}}`))
	f.Add([]byte(`{"model":{"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"ByteLevel","use_regex":false},"decoder":{"type":"ByteLevel"},"added_tokens":[{"id":3,"content":"<x>"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse(data)
		if err != nil {
			return
		}
		out, err := tk.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("marshalled tokenizer does not parse: %v", err)
		}
		const text = "ab <x> hello 12"
		if !slices.Equal(tk.Encode(text), back.Encode(text)) {
			t.Fatal("encoding changed across Marshal/Parse")
		}
	})
}
