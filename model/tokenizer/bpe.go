package tokenizer

import (
	"container/heap"
	"strings"
	"sync"
)

// merge is the result of merging one pair of adjacent symbols.
type merge struct {
	rank int32 // position in the merges list: lower merges first
	id   int32 // vocabulary id of the merged token
}

// pairKey packs two symbol ids into a map key.
func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// heapThreshold is the word length (in bytes) from which bpe uses a
// priority queue instead of rescanning the pairs after every merge.
const heapThreshold = 48

// bpe appends to dst the ids of word (raw bytes) after applying the merges
// by rank, the lowest rank first and, among equal ranks, the leftmost pair
// first, as Hugging Face tokenizers' BPE does. Bytes without a vocabulary
// id are dropped, as there (no unknown token in byte-level models).
func (m *model) bpe(dst []int, word string) []int {
	if len(word) == 1 {
		if id := m.byteID[word[0]]; id >= 0 {
			dst = append(dst, int(id))
		}
		return dst
	}
	syms := make([]int32, 0, len(word))
	for i := 0; i < len(word); i++ {
		if id := m.byteID[word[i]]; id >= 0 {
			syms = append(syms, id)
		}
	}
	if len(syms) < heapThreshold && !m.sharedMergeIDs {
		syms = m.mergeScan(syms)
	} else {
		syms = m.mergeHeap(syms)
	}
	for _, id := range syms {
		dst = append(dst, int(id))
	}
	return dst
}

// mergeScan merges syms in place by rescanning all adjacent pairs after
// each merge; quadratic, fastest for short words. It gives the same result
// as mergeHeap when every merged token comes from a single merge rule
// (otherwise bpe always uses mergeHeap).
func (m *model) mergeScan(syms []int32) []int32 {
	for len(syms) > 1 {
		best, bestAt := merge{rank: -1}, -1
		for i := 0; i+1 < len(syms); i++ {
			if mg, ok := m.merges[pairKey(syms[i], syms[i+1])]; ok && (bestAt < 0 || mg.rank < best.rank) {
				best, bestAt = mg, i
			}
		}
		if bestAt < 0 {
			break
		}
		syms[bestAt] = best.id
		syms = append(syms[:bestAt+1], syms[bestAt+2:]...)
	}
	return syms
}

// candidate is a possible merge of the symbol at pos with its right
// neighbour, queued by (rank, pos).
type candidate struct {
	rank, pos   int32
	left, right int32 // the pair's symbol ids when queued, to detect staleness
	id          int32
}

type candidateHeap []candidate

func (h candidateHeap) Len() int { return len(h) }
func (h candidateHeap) Less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}
func (h candidateHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candidateHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *candidateHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeHeap merges syms with a priority queue over a linked list of
// symbols: O(n log n) for long words (runs of spaces, long letter runs).
func (m *model) mergeHeap(syms []int32) []int32 {
	n := len(syms)
	next := make([]int32, n)
	prev := make([]int32, n)
	alive := make([]bool, n)
	for i := range syms {
		next[i], prev[i], alive[i] = int32(i+1), int32(i-1), true
	}
	next[n-1] = -1
	h := make(candidateHeap, 0, n)
	push := func(i int32) {
		j := next[i]
		if j < 0 {
			return
		}
		if mg, ok := m.merges[pairKey(syms[i], syms[j])]; ok {
			heap.Push(&h, candidate{rank: mg.rank, pos: i, left: syms[i], right: syms[j], id: mg.id})
		}
	}
	for i := 0; i+1 < n; i++ {
		if mg, ok := m.merges[pairKey(syms[i], syms[i+1])]; ok {
			h = append(h, candidate{rank: mg.rank, pos: int32(i), left: syms[i], right: syms[i+1], id: mg.id})
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		c := heap.Pop(&h).(candidate)
		i := c.pos
		j := next[i]
		if !alive[i] || j < 0 {
			continue
		}
		// As in Hugging Face's BPE: the queued merge still applies if the
		// pair now at pos merges into the same token.
		if syms[i] != c.left || syms[j] != c.right {
			if mg, ok := m.merges[pairKey(syms[i], syms[j])]; !ok || mg.id != c.id {
				continue
			}
		}
		syms[i] = c.id
		alive[j] = false
		next[i] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = i
		}
		if p := prev[i]; p >= 0 {
			push(p)
		}
		push(i)
	}
	out := syms[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, syms[i])
	}
	return out
}

// wordCache remembers the ids of recently encoded words. It stops adding
// entries once full, as Hugging Face's BPE cache does; it is safe for
// concurrent use.
type wordCache struct {
	mu  sync.RWMutex
	m   map[string][]int32
	cap int
}

// Cache limits: entries, and the longest word (bytes) worth caching.
const (
	cacheCapacity = 10000
	cacheMaxWord  = 256
)

func newWordCache(capacity int) *wordCache {
	return &wordCache{m: make(map[string][]int32), cap: capacity}
}

func (c *wordCache) get(word string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[word]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(word string, ids []int32) {
	c.mu.Lock()
	if len(c.m) < c.cap {
		// Clone: word points into the caller's text, which the cache
		// must not keep alive.
		c.m[strings.Clone(word)] = ids
	}
	c.mu.Unlock()
}

// encodeWord appends the ids of one pre-tokenized piece (raw bytes).
func (m *model) encodeWord(dst []int, word string) []int {
	if len(word) == 1 {
		return m.bpe(dst, word)
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[m.bl.encode(word)]; ok {
			return append(dst, id)
		}
	}
	if len(word) > cacheMaxWord {
		return m.bpe(dst, word)
	}
	if ids, ok := m.cache.get(word); ok {
		for _, id := range ids {
			dst = append(dst, int(id))
		}
		return dst
	}
	start := len(dst)
	dst = m.bpe(dst, word)
	ids := make([]int32, len(dst)-start)
	for k, id := range dst[start:] {
		ids[k] = int32(id)
	}
	m.cache.put(word, ids)
	return dst
}
