package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/videossr/videossr-go/model/tokenizer"
)

// TestLoadTokenizerAndTinyFor: "" and "tiny" give the embedded tokenizer, a
// folder or a tokenizer.json file gives that file's, a folder without one
// is an error; the tiny model takes its vocabulary and special token ids
// from the tokenizer.
func TestLoadTokenizerAndTinyFor(t *testing.T) {
	tiny, err := LoadTokenizer("tiny")
	if err != nil {
		t.Fatal(err)
	}
	if def, err := LoadTokenizer(""); err != nil || def.VocabSize() != tiny.VocabSize() {
		t.Fatalf("LoadTokenizer(\"\"): %v", err)
	}
	dir := t.TempDir()
	if _, err := LoadTokenizer(dir); err == nil {
		t.Fatal("a folder without tokenizer.json loaded")
	}
	b, err := tiny.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tokenizer.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{dir, filepath.Join(dir, tokenizer.FileName)} {
		tok, err := LoadTokenizer(name)
		if err != nil || tok.VocabSize() != tiny.VocabSize() {
			t.Fatalf("LoadTokenizer(%s): %v", name, err)
		}
	}
	c, err := TinyFor(tiny)
	if err != nil {
		t.Fatal(err)
	}
	eos, _ := tiny.TokenID(tokenizer.ImEnd)
	video, _ := tiny.TokenID(tokenizer.VideoPad)
	if c.VocabSize != tiny.VocabSize() || c.EosTokenID != eos || c.VideoTokenID != video {
		t.Fatalf("tiny config: vocab %d eos %d video %d; tokenizer: vocab %d eos %d video %d", c.VocabSize, c.EosTokenID, c.VideoTokenID, tiny.VocabSize(), eos, video)
	}
}
