package tokenizer

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Train learns a byte-level BPE tokenizer from corpus, deterministically:
// the 256 byte tokens (ids 0..255 in GPT-2 order), then one token per merge
// until the vocabulary, the specials included, has vocabSize tokens; the
// specials get the last ids, in the given order. Texts are pre-tokenized
// with the Qwen pattern, and specials written in them are not split. Each
// step merges the most frequent adjacent pair (ties: the smallest pair of
// ids), skipping pairs whose text is already a token so that every token
// comes from a single merge. The result has no normalizer, so Decode
// inverts Encode for every valid UTF-8 text.
//
// It returns an error when vocabSize leaves no room for the byte tokens and
// specials, or when the corpus has too few distinct pairs to fill it.
func Train(corpus []string, vocabSize int, specials []string) (*Tokenizer, error) {
	target := vocabSize - len(specials)
	if target < 256 {
		return nil, fmt.Errorf("training tokenizer: vocab size %d leaves %d ids for the 256 byte tokens", vocabSize, target)
	}
	added := make([]AddedToken, len(specials))
	seen := map[string]bool{}
	for k, s := range specials {
		if s == "" || seen[s] {
			return nil, fmt.Errorf("training tokenizer: special token %d %q is empty or repeated", k, s)
		}
		seen[s] = true
		added[k] = AddedToken{ID: target + k, Content: s, Special: true}
	}
	bl := newByteLevel()
	sp := splitter{kind: splitQwen, maxDigits: 1}

	// Distinct pre-tokenized words with their counts, in sorted order.
	counts := map[string]int{}
	mt := newMatcher(added)
	for _, text := range corpus {
		mt.split(text, func(seg string, id int) {
			if id < 0 {
				sp.split(seg, func(w string) { counts[w]++ })
			}
		})
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Strings(words)

	toks := make([]string, 256, target)
	vocab := make(map[string]int, target)
	var byteID [256]int32
	for k, b := range bl.order {
		toks[k] = string(bl.toRune[b])
		vocab[toks[k]] = k
		byteID[b] = int32(k)
	}
	syms := make([][]int32, len(words))
	freq := make([]int, len(words))
	for k, w := range words {
		freq[k] = counts[w]
		syms[k] = make([]int32, len(w))
		for i := 0; i < len(w); i++ {
			syms[k][i] = byteID[w[i]]
		}
	}

	var merges [][2]string
	pairs := map[uint64]int{}
	for len(toks) < target {
		clear(pairs)
		for k, s := range syms {
			for i := 0; i+1 < len(s); i++ {
				pairs[pairKey(s[i], s[i+1])] += freq[k]
			}
		}
		var best uint64
		bestCount := 0
		for key, c := range pairs {
			a, b := int32(key>>32), int32(uint32(key))
			if _, exists := vocab[toks[a]+toks[b]]; exists {
				continue
			}
			if c > bestCount || (c == bestCount && key < best) {
				best, bestCount = key, c
			}
		}
		if bestCount == 0 {
			return nil, fmt.Errorf("training tokenizer: the corpus gives only %d of the %d BPE tokens", len(toks), target)
		}
		a, b := int32(best>>32), int32(uint32(best))
		id := int32(len(toks))
		toks = append(toks, toks[a]+toks[b])
		vocab[toks[id]] = int(id)
		merges = append(merges, [2]string{toks[a], toks[b]})
		for k, s := range syms {
			out := s[:0]
			for i := 0; i < len(s); i++ {
				if i+1 < len(s) && s[i] == a && s[i+1] == b {
					out = append(out, id)
					i++
					continue
				}
				out = append(out, s[i])
			}
			syms[k] = out
		}
	}

	byteLevelRaw := json.RawMessage(`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`)
	pattern, err := json.Marshal(QwenPattern)
	if err != nil {
		return nil, fmt.Errorf("training tokenizer: %w", err)
	}
	file := fileSections{
		version:       json.RawMessage(`"1.0"`),
		preTokenizer:  json.RawMessage(`{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + string(pattern) + `},"behavior":"Isolated","invert":false},` + string(byteLevelRaw) + `]}`),
		postProcessor: byteLevelRaw,
		decoder:       byteLevelRaw,
		fuseUnk:       json.RawMessage("false"),
		modelTy:       json.RawMessage(`"BPE"`),
	}
	t, err := build(vocab, merges, added, false, sp, false, file)
	if err != nil {
		return nil, fmt.Errorf("training tokenizer: %w", err)
	}
	return t, nil
}
