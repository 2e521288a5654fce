package model

import (
	"context"
	"fmt"

	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// decodeBinding is a preallocated run of the static-cache decode graph
// (ort.Binding): the parameters and the cache buffers are bound once, and
// each step only writes the new tokens, positions and attention bias in
// place. It is reused while its key holds.
type decodeBinding struct {
	b   *ort.Binding
	key bindingKey
}

// bindingKey is what a decode binding was made over: the parameter store,
// the batch shape and the first element of every cache buffer.
type bindingKey struct {
	store    *params.Store
	B, slots int
	buffers  []any
}

func (k bindingKey) equal(o bindingKey) bool {
	if k.store != o.store || k.B != o.B || k.slots != o.slots || len(k.buffers) != len(o.buffers) {
		return false
	}
	for i := range k.buffers {
		if k.buffers[i] != o.buffers[i] {
			return false
		}
	}
	return true
}

// bindings holds a Policy's bound runs; views (WithStore) share it.
type bindings struct {
	decode *decodeBinding
}

func (bs *bindings) close() error {
	if bs == nil || bs.decode == nil {
		return nil
	}
	err := bs.decode.b.Close()
	bs.decode = nil
	return err
}

// bindingKey identifies what a decode binding is made over.
func (p *Policy) bindingKey(B, slots int, cache KVCache) bindingKey {
	k := bindingKey{store: p.Store, B: B, slots: slots, buffers: make([]any, 0, 2*len(cache.Keys))}
	for i := range cache.Keys {
		k.buffers = append(k.buffers, dataPtr(cache.Keys[i].Data), dataPtr(cache.Values[i].Data))
	}
	return k
}

func dataPtr(d any) any {
	switch v := d.(type) {
	case []float32:
		if len(v) > 0 {
			return &v[0]
		}
	case []float64:
		if len(v) > 0 {
			return &v[0]
		}
	}
	return nil
}

// decodeStaticBound runs one static-cache decode step through a binding.
func (p *Policy) decodeStaticBound(ctx context.Context, tokens, pos []int64, valid [][]bool, cache KVCache) ([]float32, KVCache, error) {
	B, slots := len(tokens), len(valid[0])
	key := p.bindingKey(B, slots, cache)
	if p.binds.decode == nil || !p.binds.decode.key.equal(key) {
		if err := p.binds.close(); err != nil {
			return nil, KVCache{}, err
		}
		feeds := decodeCacheFeeds(p.float, tokens, pos, valid, cache)
		s, err := p.prepare(GraphDecodeStatic, feeds)
		if err != nil {
			return nil, KVCache{}, err
		}
		kvh, hd := int64(p.Config.NumKeyValueHeads), int64(p.Config.HeadDim())
		outs := map[string][]int64{OutLogits: {int64(B), int64(p.Config.VocabSize)}}
		for i := range cache.Keys {
			outs[PresentKey(i)] = []int64{int64(B), kvh, 1, hd}
			outs[PresentValue(i)] = []int64{int64(B), kvh, 1, hd}
		}
		b, err := s.Bind(feeds, outs)
		if err != nil {
			return nil, KVCache{}, fmt.Errorf("policy %s: %w", GraphDecodeStatic, err)
		}
		p.binds.decode = &decodeBinding{b: b, key: key}
	} else if err := p.writeDecodeInputs(p.binds.decode.b, tokens, pos, valid); err != nil {
		return nil, KVCache{}, err
	}
	b := p.binds.decode.b
	p.runs[GraphDecodeStatic]++
	if err := b.Run(ctx); err != nil {
		return nil, KVCache{}, fmt.Errorf("policy %s: %w", GraphDecodeStatic, err)
	}
	out := map[string]ort.Tensor{}
	for _, name := range []string{OutLogits} {
		t, _ := b.OutputTensor(name)
		out[name] = t
	}
	for i := range cache.Keys {
		out[PresentKey(i)], _ = b.OutputTensor(PresentKey(i))
		out[PresentValue(i)], _ = b.OutputTensor(PresentValue(i))
	}
	return p.logitsAndCache(out)
}

// writeDecodeInputs writes a step's tokens, positions and attention bias
// into a decode binding's input buffers.
func (p *Policy) writeDecodeInputs(b *ort.Binding, tokens, pos []int64, valid [][]bool) error {
	ids, ok1 := b.Input(InInputIDs).([]int64)
	ps, ok2 := b.Input(InPositionIDs).([]int64)
	if !ok1 || !ok2 || len(ids) != len(tokens) || len(ps) != 3*len(pos) {
		return fmt.Errorf("policy %s: bound inputs do not match the step", GraphDecodeStatic)
	}
	copy(ids, tokens)
	for a := 0; a < 3; a++ {
		copy(ps[a*len(pos):], pos)
	}
	bias := CausalBias(valid, 1)
	switch d := b.Input(InAttnBias).(type) {
	case []float32:
		if len(d) != len(bias) {
			return fmt.Errorf("policy %s: bias of %d values for a binding of %d", GraphDecodeStatic, len(bias), len(d))
		}
		for i, v := range bias {
			d[i] = float32(v)
		}
	case []float64:
		copy(d, bias)
	default:
		return fmt.Errorf("policy %s: unsupported bias buffer %T", GraphDecodeStatic, d)
	}
	return nil
}
