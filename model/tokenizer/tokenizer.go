// Package tokenizer is a byte-level BPE tokenizer that reads and writes
// Hugging Face tokenizer.json files and gives the same token ids as
// Hugging Face tokenizers for the Qwen2/Qwen3 family: added and special
// tokens matched first (leftmost, longest), the NFC normalizer, the Qwen
// pre-tokenizer regular expression (implemented by hand, since Go's regexp
// lacks look-ahead), the GPT-2 bytes-to-unicode mapping and merges applied
// by rank.
//
// It also holds the project's tiny tokenizer (Tiny), trained by Train on
// the task prompts, and the Qwen chat template (ChatTemplate).
//
// A Tokenizer is immutable after construction and safe for concurrent use.
package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/text/unicode/norm"
)

// ErrUnsupported is wrapped by the errors of Parse for tokenizer.json
// features this package does not implement.
var ErrUnsupported = errors.New("unsupported tokenizer feature")

// FileName is the name of the tokenizer file inside a model directory.
const FileName = "tokenizer.json"

// model is the BPE vocabulary and merges.
type model struct {
	vocab          map[string]int
	merges         map[uint64]merge
	mergeList      [][2]string // in rank order, for Marshal
	byteID         [256]int32  // id of each single-byte token, -1 if none
	bl             *byteLevel
	ignoreMerges   bool
	sharedMergeIDs bool // some token is produced by several merge rules
	cache          *wordCache
}

// Tokenizer is a byte-level BPE tokenizer.
type Tokenizer struct {
	m     *model
	added []AddedToken // sorted by id
	// rawMatch finds the added tokens matched on the raw text, normMatch
	// those matched on the normalised text.
	rawMatch, normMatch *matcher
	addedID             map[string]int
	special             map[int]bool
	nfc                 bool
	split               splitter
	vocabSize           int
	// Decoding table: the bytes of token id are
	// pieceData[pieceOff[id]:pieceOff[id+1]]; present[id] is false for
	// ids without a token.
	pieceOff  []int32
	pieceData []byte
	present   []bool
	tokens    []string // id -> token text
	file      fileSections
}

// Load reads a tokenizer.json file, or the tokenizer.json inside the
// directory path.
func Load(path string) (*Tokenizer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("loading tokenizer: %w", err)
	}
	if fi.IsDir() {
		path = filepath.Join(path, FileName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading tokenizer: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("loading tokenizer %s: %w", path, err)
	}
	return t, nil
}

// build finishes a tokenizer from its parts: the model (vocab, merges), the
// added tokens, normalizer and pre-tokenizer settings. It checks that the
// merges and ids are consistent.
func build(vocab map[string]int, merges [][2]string, added []AddedToken, nfc bool, sp splitter, ignoreMerges bool, file fileSections) (*Tokenizer, error) {
	bl := newByteLevel()
	m := &model{
		vocab:        vocab,
		merges:       make(map[uint64]merge, len(merges)),
		mergeList:    merges,
		bl:           bl,
		ignoreMerges: ignoreMerges,
		cache:        newWordCache(cacheCapacity),
	}
	maxID := -1
	for tok, id := range vocab {
		if id < 0 || id > 1<<30 {
			return nil, fmt.Errorf("vocab token %q has invalid id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	for b := 0; b < 256; b++ {
		m.byteID[b] = -1
		if id, ok := vocab[string(bl.toRune[b])]; ok {
			m.byteID[b] = int32(id)
		}
	}
	producers := make(map[int32]int, len(merges))
	for rank, mg := range merges {
		a, okA := vocab[mg[0]]
		b, okB := vocab[mg[1]]
		if !okA || !okB {
			return nil, fmt.Errorf("merge %d (%q %q) uses a token that is not in the vocab", rank, mg[0], mg[1])
		}
		id, ok := vocab[mg[0]+mg[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q) makes %q, which is not in the vocab", rank, mg[0], mg[1], mg[0]+mg[1])
		}
		key := pairKey(int32(a), int32(b))
		if _, dup := m.merges[key]; dup {
			continue // the first (lowest) rank wins, as in Hugging Face
		}
		m.merges[key] = merge{rank: int32(rank), id: int32(id)}
		producers[int32(id)]++
		if producers[int32(id)] > 1 {
			m.sharedMergeIDs = true
		}
	}

	t := &Tokenizer{
		m:       m,
		addedID: make(map[string]int, len(added)),
		special: make(map[int]bool),
		nfc:     nfc,
		split:   sp,
		file:    file,
	}
	t.added = append([]AddedToken(nil), added...)
	sort.SliceStable(t.added, func(i, j int) bool { return t.added[i].ID < t.added[j].ID })
	byID := make(map[int]string, len(vocab))
	for tok, id := range vocab {
		if prev, dup := byID[id]; dup {
			return nil, fmt.Errorf("vocab tokens %q and %q share id %d", prev, tok, id)
		}
		byID[id] = tok
	}
	var raw, normd []AddedToken
	for _, a := range t.added {
		if a.Content == "" {
			return nil, fmt.Errorf("added token %d has empty content", a.ID)
		}
		if a.ID < 0 || a.ID > 1<<30 {
			return nil, fmt.Errorf("added token %q has invalid id %d", a.Content, a.ID)
		}
		if tok, ok := byID[a.ID]; ok && tok != a.Content {
			return nil, fmt.Errorf("added token %q has id %d, which the vocab gives to %q", a.Content, a.ID, tok)
		}
		if _, dup := t.addedID[a.Content]; dup {
			return nil, fmt.Errorf("added token %q is listed twice", a.Content)
		}
		t.addedID[a.Content] = a.ID
		byID[a.ID] = a.Content
		maxID = max(maxID, a.ID)
		if a.Special {
			t.special[a.ID] = true
		}
		if a.Normalized && nfc {
			normd = append(normd, a)
		} else {
			raw = append(raw, a)
		}
	}
	t.rawMatch, t.normMatch = newMatcher(raw), newMatcher(normd)
	t.vocabSize = maxID + 1

	t.tokens = make([]string, t.vocabSize)
	t.present = make([]bool, t.vocabSize)
	t.pieceOff = make([]int32, t.vocabSize+1)
	for id := 0; id < t.vocabSize; id++ {
		t.pieceOff[id] = int32(len(t.pieceData))
		tok, ok := byID[id]
		if !ok {
			continue
		}
		t.tokens[id], t.present[id] = tok, true
		t.pieceData = bl.decodeToken(t.pieceData, tok)
	}
	t.pieceOff[t.vocabSize] = int32(len(t.pieceData))
	return t, nil
}

// Encode returns the token ids of text. No special tokens are added; added
// and special tokens written literally in text (e.g. "<|im_start|>") are
// recognised, the longest first, and mapped to their ids.
func (t *Tokenizer) Encode(text string) []int {
	ids := make([]int, 0, len(text)/3+4)
	t.rawMatch.split(text, func(seg string, id int) {
		if id >= 0 {
			ids = append(ids, id)
			return
		}
		if t.nfc {
			seg = norm.NFC.String(seg)
		}
		t.normMatch.split(seg, func(seg string, id int) {
			if id >= 0 {
				ids = append(ids, id)
				return
			}
			t.split.split(seg, func(piece string) {
				ids = t.m.encodeWord(ids, piece)
			})
		})
	})
	return ids
}

// Decode returns the text of ids, special tokens included. Ids without a
// token are skipped; byte sequences that are not valid UTF-8 (a response
// cut inside a character) become U+FFFD.
func (t *Tokenizer) Decode(ids []int) string { return t.decode(ids, false) }

// DecodeSkipSpecial is Decode without the special tokens (those marked
// "special" in the added tokens, e.g. <|im_end|>).
func (t *Tokenizer) DecodeSkipSpecial(ids []int) string { return t.decode(ids, true) }

func (t *Tokenizer) decode(ids []int, skipSpecial bool) string {
	n := 0
	for _, id := range ids {
		if id >= 0 && id < t.vocabSize {
			n += int(t.pieceOff[id+1] - t.pieceOff[id])
		}
	}
	buf := make([]byte, 0, n)
	for _, id := range ids {
		if id < 0 || id >= t.vocabSize || !t.present[id] || (skipSpecial && t.special[id]) {
			continue
		}
		buf = append(buf, t.pieceData[t.pieceOff[id]:t.pieceOff[id+1]]...)
	}
	return lossyUTF8(buf)
}

// TokenID returns the id of a token given in its vocabulary form (byte-level
// text such as "Ġthe", or an added token such as "<|im_end|>").
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if id, ok := t.addedID[tok]; ok {
		return id, true
	}
	id, ok := t.m.vocab[tok]
	return id, ok
}

// Token returns the vocabulary form of the token with the given id.
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= t.vocabSize || !t.present[id] {
		return "", false
	}
	return t.tokens[id], true
}

// VocabSize returns the largest token id plus one, over the vocabulary and
// the added tokens: the number of rows an embedding table needs.
func (t *Tokenizer) VocabSize() int { return t.vocabSize }

// Specials returns the special added tokens (content to id).
func (t *Tokenizer) Specials() map[string]int {
	out := make(map[string]int)
	for _, a := range t.added {
		if a.Special {
			out[a.Content] = a.ID
		}
	}
	return out
}

// AddedTokens returns a copy of the added tokens, sorted by id.
func (t *Tokenizer) AddedTokens() []AddedToken { return append([]AddedToken(nil), t.added...) }

// IsSpecial reports whether id is a special added token.
func (t *Tokenizer) IsSpecial(id int) bool { return t.special[id] }

// Pieces returns the pre-tokenized pieces of text in byte-level form (as
// BPE sees them, e.g. "Ġworld"), leaving out the added tokens: a debugging
// aid for prompts that tokenize unexpectedly.
func (t *Tokenizer) Pieces(text string) []string {
	var out []string
	t.rawMatch.split(text, func(seg string, id int) {
		if id >= 0 {
			return
		}
		if t.nfc {
			seg = norm.NFC.String(seg)
		}
		t.normMatch.split(seg, func(seg string, id int) {
			if id < 0 {
				t.split.split(seg, func(piece string) { out = append(out, t.m.bl.encode(piece)) })
			}
		})
	})
	return out
}
