package model

import (
	"context"
	"errors"
	"fmt"

	"github.com/videossr/videossr-go/model/ort"
)

// DevicePrefill is a prefilled prompt batch whose KV cache stays in the
// device memory of a resident Policy, ready to be turned into decode
// buffers (Decoder). Close it once the decoder is made.
type DevicePrefill struct {
	p       *Policy
	present map[string]*ort.Value // PastKey/PastValue(i) -> [P,kv_heads,L,head_dim]
	valid   *ort.Value            // [P,L] prompt validity
	// P and L are the prompts and their (padded) length.
	P, L int
}

// PrefillResident is Prefill for a resident policy whose cache stays on
// the device: the per-prompt inputs and the vision embeddings are copied
// in, the attention bias is made on the device, and only the logits of the
// last position [P*V] come back.
func (p *Policy) PrefillResident(ctx context.Context, pb *PromptBatch, embeds ort.Tensor) ([]float32, *DevicePrefill, error) {
	if p.res == nil {
		return nil, nil, fmt.Errorf("policy: PrefillResident needs a device-resident policy (PolicyOptions.Device)")
	}
	feeds := pb.Feeds(p.float)
	feeds[InVisionEmbeds] = embeds
	out, err := p.runDeviceOutputs(ctx, GraphPrefill, feeds, pb.Valid)
	if err != nil {
		return nil, nil, err
	}
	pf := &DevicePrefill{p: p, present: map[string]*ort.Value{}, P: pb.B, L: pb.L}
	for i := 0; i < p.Config.NumHiddenLayers; i++ {
		pf.present[PastKey(i)], pf.present[PastValue(i)] = out[PresentKey(i)], out[PresentValue(i)]
	}
	lv := out[OutLogits]
	defer lv.Close()
	lt, err := p.res.mem.Download(ort.KindLogits, lv)
	if err == nil {
		pf.valid, err = p.res.mem.Upload(ort.KindCache, FloatTensor(p.float, []int64{int64(pb.B), int64(pb.L)}, validFloats(pb.Valid)))
	}
	if err != nil {
		pf.Close()
		return nil, nil, fmt.Errorf("policy %s: %w", GraphPrefill, err)
	}
	logits, err := toFloat32(lt)
	if err != nil {
		pf.Close()
		return nil, nil, err
	}
	return logits, pf, nil
}

func validFloats(valid [][]bool) []float64 {
	var v []float64
	for _, row := range valid {
		for _, ok := range row {
			v = append(v, boolFloat(ok))
		}
	}
	return v
}

// Close releases the prefill's cache.
func (pf *DevicePrefill) Close() error {
	for _, v := range pf.present {
		v.Close()
	}
	pf.present = nil
	if pf.valid != nil {
		pf.valid.Close()
		pf.valid = nil
	}
	return nil
}

// Decoder makes the decode buffers of a rollout on the device: row r of
// the batch continues prompt rows[r] (a prompt's cache is repeated for its
// group), and each row has L + maxNew cache slots. Nothing but the row
// indices crosses.
func (pf *DevicePrefill) Decoder(ctx context.Context, rows []int, maxNew int) (*DeviceDecoder, error) {
	p := pf.p
	if pf.present == nil || p.res == nil {
		return nil, fmt.Errorf("policy: decoder of a closed prefill or policy")
	}
	if len(rows) == 0 || maxNew < 1 {
		return nil, fmt.Errorf("policy: decoder of %d rows with %d new tokens", len(rows), maxNew)
	}
	for _, r := range rows {
		if r < 0 || r >= pf.P {
			return nil, fmt.Errorf("policy: decoder row of prompt %d (batch of %d)", r, pf.P)
		}
	}
	d := &DeviceDecoder{p: p, L: pf.L, C: pf.L + maxNew, slot: pf.L}
	cache, valid, err := p.selectCache(ctx, pf.present, pf.valid, rows, maxNew)
	if err != nil {
		return nil, err
	}
	d.cache, d.valid, d.B = cache, valid, len(rows)
	if d.db, err = p.newDevBinding(GraphDecodeResident); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.bindState(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// selectCache runs the cache_select graph: rows of the source caches with
// pad empty slots appended, into new device buffers.
func (p *Policy) selectCache(ctx context.Context, src map[string]*ort.Value, valid *ort.Value, rows []int, pad int) (map[string]*ort.Value, *ort.Value, error) {
	db, err := p.newDevBinding(GraphCacheSelect)
	if err != nil {
		return nil, nil, err
	}
	defer db.close() // drops the binding's references to the sources
	idx := make([]int64, len(rows))
	for i, r := range rows {
		idx[i] = int64(r)
	}
	if err := p.feed(db, ort.KindCache, InCacheRows, Int64Tensor([]int64{int64(len(rows))}, idx)); err != nil {
		return nil, nil, err
	}
	if err := p.feed(db, ort.KindCache, InCachePads, Int64Tensor([]int64{4}, []int64{0, 0, int64(pad), 0})); err != nil {
		return nil, nil, err
	}
	if err := db.b.BindInput(InPromptValid, valid); err != nil {
		return nil, nil, err
	}
	out := map[string]*ort.Value{}
	fail := func(err error) (map[string]*ort.Value, *ort.Value, error) {
		closeValues(out)
		return nil, nil, fmt.Errorf("policy %s: %w", GraphCacheSelect, err)
	}
	for i := 0; i < p.Config.NumHiddenLayers; i++ {
		for _, name := range []string{PastKey(i), PastValue(i)} {
			s := src[name]
			if err := db.b.BindInput(name, s); err != nil {
				return fail(err)
			}
			shape := s.Shape()
			shape[0], shape[2] = int64(len(rows)), shape[2]+int64(pad)
			v, err := p.res.mem.Alloc(ort.KindCache, s.DType(), shape)
			if err != nil {
				return fail(err)
			}
			out[name] = v
			outName := CacheKey(i)
			if name == PastValue(i) {
				outName = CacheValue(i)
			}
			if err := db.b.BindOutput(outName, v); err != nil {
				return fail(err)
			}
		}
	}
	vs := valid.Shape()
	nv, err := p.res.mem.Alloc(ort.KindCache, valid.DType(), []int64{int64(len(rows)), vs[1]})
	if err != nil {
		return fail(err)
	}
	if err := db.b.BindOutput(OutCacheValid, nv); err != nil {
		nv.Close()
		return fail(err)
	}
	p.runs[GraphCacheSelect]++
	if err := db.b.Run(ctx); err != nil {
		nv.Close()
		return fail(err)
	}
	return out, nv, nil
}

// DeviceDecoder decodes a batch over KV-cache buffers that stay on the
// device for the whole rollout (the decode_resident graph, bound once): a
// Step sends the rows' new tokens, their positions and the slot in
// (2B+1 int64) and brings back the B*V logits; Keep drops finished rows on
// the device. Close releases the buffers.
type DeviceDecoder struct {
	p     *Policy
	db    *devBinding
	cache map[string]*ort.Value // PastKey/PastValue(i) -> [B,kv_heads,C,head_dim]
	valid *ort.Value            // [B,L]
	// B rows, C slots of which the first L hold the prompt; slot is the
	// next one to write.
	B, C, L, slot int
	logits        []float32
}

// bindState binds the cache buffers (as inputs and, updated in place, as
// outputs) and the prompt validity.
func (d *DeviceDecoder) bindState() error {
	for i := 0; i < d.p.Config.NumHiddenLayers; i++ {
		for _, pair := range [][2]string{{PastKey(i), PresentKey(i)}, {PastValue(i), PresentValue(i)}} {
			v := d.cache[pair[0]]
			if err := d.db.b.BindInput(pair[0], v); err != nil {
				return err
			}
			if err := d.db.b.BindOutput(pair[1], v); err != nil {
				return err
			}
		}
	}
	return d.db.b.BindInput(InPromptValid, d.valid)
}

// Rows is the number of rows being decoded.
func (d *DeviceDecoder) Rows() int { return d.B }

// Step runs one decode step: tokens [B] at positions pos [B] go into the
// next cache slot; it returns the logits [B*V], valid until the next Step.
func (d *DeviceDecoder) Step(ctx context.Context, tokens, pos []int64) ([]float32, error) {
	p := d.p
	if d.db == nil || p.res == nil {
		return nil, fmt.Errorf("policy %s: decoder or policy closed", GraphDecodeResident)
	}
	if len(tokens) != d.B || len(pos) != d.B {
		return nil, fmt.Errorf("policy %s: %d tokens and %d positions for %d rows", GraphDecodeResident, len(tokens), len(pos), d.B)
	}
	if d.slot >= d.C {
		return nil, fmt.Errorf("policy %s: all %d cache slots are used", GraphDecodeResident, d.C)
	}
	B := int64(d.B)
	if err := p.feed(d.db, ort.KindActivations, InInputIDs, Int64Tensor([]int64{B, 1}, tokens)); err != nil {
		return nil, err
	}
	if err := p.feed(d.db, ort.KindActivations, InDecodePositions, Int64Tensor([]int64{B}, pos)); err != nil {
		return nil, err
	}
	if err := p.feed(d.db, ort.KindCache, InDecodeSlot, Int64Tensor([]int64{1}, []int64{int64(d.slot)})); err != nil {
		return nil, err
	}
	V := int64(p.Config.VocabSize)
	out, err := p.buffer(d.db, ort.KindLogits, OutLogits, ort.DType(p.float), []int64{B, V}, false)
	if err != nil {
		return nil, err
	}
	p.runs[GraphDecodeResident]++
	if err := d.db.b.Run(ctx); err != nil {
		return nil, fmt.Errorf("policy %s: %w", GraphDecodeResident, err)
	}
	d.slot++
	if out.DType() == ort.Float32 {
		if len(d.logits) != int(B*V) {
			d.logits = make([]float32, B*V)
		}
		if err := p.res.mem.CopyOut(ort.KindLogits, ort.Tensor{Shape: []int64{B, V}, Data: d.logits}, out); err != nil {
			return nil, err
		}
		return d.logits, nil
	}
	t, err := p.res.mem.Download(ort.KindLogits, out)
	if err != nil {
		return nil, err
	}
	return toFloat32(t)
}

// Keep keeps the rows keep (indices into the current rows, in order) and
// drops the others, on the device.
func (d *DeviceDecoder) Keep(ctx context.Context, keep []int) error {
	if d.db == nil || d.p.res == nil {
		return fmt.Errorf("policy %s: decoder or policy closed", GraphDecodeResident)
	}
	if len(keep) == d.B {
		return nil
	}
	cache, valid, err := d.p.selectCache(ctx, d.cache, d.valid, keep, 0)
	if err != nil {
		return err
	}
	closeValues(d.cache)
	d.valid.Close()
	d.cache, d.valid, d.B = cache, valid, len(keep)
	return d.bindState()
}

// Close releases the decoder's buffers and binding. Idempotent.
func (d *DeviceDecoder) Close() error {
	var errs []error
	if d.db != nil {
		errs = append(errs, d.db.close())
		d.db = nil
	}
	closeValues(d.cache)
	d.cache = nil
	if d.valid != nil {
		d.valid.Close()
		d.valid = nil
	}
	return errors.Join(errs...)
}
