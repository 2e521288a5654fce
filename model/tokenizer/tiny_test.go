package tokenizer_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model/tokenizer"
)

// TestTinyGolden retrains the tiny tokenizer from the task prompts and
// requires tiny/tokenizer.json (embedded by Tiny) to be exactly the result;
// -update rewrites the file.
func TestTinyGolden(t *testing.T) {
	corpus, err := tinyCorpus()
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Train(corpus, tokenizer.TinyVocabSize, tokenizer.QwenSpecials())
	if err != nil {
		t.Fatal(err)
	}
	data, err := tk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("tiny", "tokenizer.json")
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("%s is out of date with Train and the task prompts: run go test ./model/tokenizer -run TestTinyGolden -update", path)
	}
	tiny, err := tokenizer.Tiny()
	if err != nil {
		t.Fatal(err)
	}
	if got := tiny.VocabSize(); got != tokenizer.TinyVocabSize {
		t.Errorf("tiny VocabSize = %d, want %d", got, tokenizer.TinyVocabSize)
	}
	for k, s := range tokenizer.QwenSpecials() {
		want := tokenizer.TinyVocabSize - len(tokenizer.QwenSpecials()) + k
		if id, ok := tiny.TokenID(s); !ok || id != want || !tiny.IsSpecial(id) {
			t.Errorf("tiny TokenID(%q) = %d, %v (special %v), want %d", s, id, ok, tiny.IsSpecial(id), want)
		}
	}
	for _, text := range corpus {
		if a, b := tk.Encode(text), tiny.Encode(text); !slices.Equal(a, b) {
			t.Fatalf("trained and embedded tokenizers differ on %q", text)
		}
	}
}
