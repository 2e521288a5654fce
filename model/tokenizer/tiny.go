package tokenizer

import (
	_ "embed"
	"fmt"
)

// tinyJSON is the project's tiny tokenizer, made by Train from the task
// prompts (regenerate with: go test ./model/tokenizer -run TestTinyGolden -update).
//
//go:embed tiny/tokenizer.json
var tinyJSON []byte

// TinyVocabSize is the vocabulary size of the tiny tokenizer, special
// tokens included.
const TinyVocabSize = 1024

// Tiny returns the project's tiny tokenizer: byte-level BPE with the Qwen
// pre-tokenizer, no normalizer, 1016 BPE tokens then the specials of
// QwenSpecials (ids 1016..1023). Each call returns a new Tokenizer.
func Tiny() (*Tokenizer, error) {
	t, err := Parse(tinyJSON)
	if err != nil {
		return nil, fmt.Errorf("embedded tiny tokenizer: %w", err)
	}
	return t, nil
}
