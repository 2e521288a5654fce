// Package rollout generates groups of responses from the policy: each
// prompt's videos are encoded once and its prompt prefilled once, the
// prompt's KV cache is shared by the G samples of its group, and the group
// is decoded as one batch with per-row positions, ragged stopping and a
// seeded random stream per row. It also turns task samples into model
// inputs (chat template, video placeholders, patches).
package rollout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
)

// Model is what the engine needs of the policy (model.Policy implements it).
type Model interface {
	Encode(ctx context.Context, vb *model.VisionBatch) (ort.Tensor, error)
	Prefill(ctx context.Context, pb *model.PromptBatch, embeds ort.Tensor) ([]float32, model.KVCache, error)
	Decode(ctx context.Context, tokens, pos []int64, valid [][]bool, cache model.KVCache) ([]float32, model.KVCache, error)
}

var _ Model = (*model.Policy)(nil)

// StaticDecoder is a Model that can also decode over fixed-size cache
// buffers (model.Policy with its decode_static graph loaded); the engine
// then never copies the cache during decoding.
type StaticDecoder interface {
	Loaded(graph string) bool
	DecodeStatic(ctx context.Context, tokens, pos []int64, valid [][]bool, cache model.KVCache) ([]float32, model.KVCache, error)
}

// ResidentModel is a Model whose parameters live on a device
// (model.Policy with PolicyOptions.Device): the engine then keeps the KV
// cache on that device for the whole rollout, so a decode step sends the
// rows' tokens and positions and brings back their logits.
type ResidentModel interface {
	Resident() bool
	PrefillResident(ctx context.Context, pb *model.PromptBatch, embeds ort.Tensor) ([]float32, *model.DevicePrefill, error)
}

var _ ResidentModel = (*model.Policy)(nil)

// Decoder turns response tokens into text (the tokenizer implements it).
type Decoder interface {
	DecodeSkipSpecial(ids []int) string
}

// Prompt is one tokenised prompt with its videos, in the order of its
// video-pad runs. All videos of one prompt share one frame size.
type Prompt struct {
	IDs    []int
	Videos []model.VisionInput
}

// Finish reasons of a sample.
const (
	FinishStop   = "stop"   // a stop token or stop string ended it
	FinishLength = "length" // it reached MaxNewTokens
)

// Sample is one generated response.
type Sample struct {
	Prompt   int       // index of its prompt
	Row      int       // index within its group
	Tokens   []int     // response token ids (a final stop token included)
	LogProbs []float64 // per-token sampling log-probs (log softmax of logits/T)
	Text     string    // decoded response (special tokens skipped, cut at a stop string)
	Finish   string

	textSet bool // Text was cut at a stop string
}

// Stats counts the work of one Generate call.
type Stats struct {
	Prompts, Rows         int
	VisionRuns            int
	PrefillRows           int // prompts prefilled (once each, whatever G is)
	PrefillTokens         int // prompt tokens prefilled (padding excluded)
	DecodeSteps           int
	DecodeTokens          int // tokens generated
	Vision, Prefill, Gen  time.Duration
	PrefillTPS, DecodeTPS float64
}

// Engine generates responses with a Model.
type Engine struct {
	model Model
	cfg   model.Config
	dec   Decoder
	pad   int
}

// NewEngine returns an engine over m for model config c; dec decodes
// responses (nil leaves Text empty) and pad is the padding token id.
func NewEngine(m Model, c model.Config, dec Decoder, pad int) *Engine {
	return &Engine{model: m, cfg: c, dec: dec, pad: pad}
}

// Generate samples g responses for each prompt. Row r of prompt i draws
// from the random stream (seed, i*g+r), so a call is reproducible. Context
// cancellation stops it between decode steps.
func (e *Engine) Generate(ctx context.Context, prompts []Prompt, g int, s Sampling, seed uint64) ([]Sample, Stats, error) {
	return e.generate(ctx, prompts, nil, g, s, seed)
}

// GenerateChunks is Generate over consecutive chunks of at most chunk
// prompts (chunk <= 0: all at once), so the KV cache holds chunk x g rows
// instead of len(prompts) x g. Every row keeps the random stream it has in
// one Generate call, and samples are numbered by their prompt's index in
// prompts; the statistics add up over the chunks.
func (e *Engine) GenerateChunks(ctx context.Context, prompts []Prompt, g int, s Sampling, seed uint64, chunk int) ([]Sample, Stats, error) {
	if chunk <= 0 || chunk >= len(prompts) {
		return e.Generate(ctx, prompts, g, s, seed)
	}
	var all []Sample
	var st Stats
	for lo := 0; lo < len(prompts); lo += chunk {
		hi := min(lo+chunk, len(prompts))
		out, cs, err := e.generate(ctx, prompts[lo:hi], indexRange(lo, hi), g, s, seed)
		if err != nil {
			return nil, st, err
		}
		all = append(all, out...)
		st.add(cs)
	}
	st.rates()
	return all, st, nil
}

// add accumulates the counts and durations of another call.
func (st *Stats) add(o Stats) {
	st.Prompts += o.Prompts
	st.Rows += o.Rows
	st.VisionRuns += o.VisionRuns
	st.PrefillRows += o.PrefillRows
	st.PrefillTokens += o.PrefillTokens
	st.DecodeSteps += o.DecodeSteps
	st.DecodeTokens += o.DecodeTokens
	st.Vision += o.Vision
	st.Prefill += o.Prefill
	st.Gen += o.Gen
}

// rates sets the throughputs from the counts and durations.
func (st *Stats) rates() {
	if st.Prefill > 0 {
		st.PrefillTPS = float64(st.PrefillTokens) / st.Prefill.Seconds()
	}
	if st.Gen > 0 {
		st.DecodeTPS = float64(st.DecodeTokens) / st.Gen.Seconds()
	}
}

// indexRange is lo, lo+1, ..., hi-1.
func indexRange(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// generate is Generate for prompts whose indices in the whole batch are
// index (nil: 0, 1, ...): their samples' Prompt and random streams are
// those of their index, wherever they are rolled out.
func (e *Engine) generate(ctx context.Context, prompts []Prompt, index []int, g int, s Sampling, seed uint64) ([]Sample, Stats, error) {
	var st Stats
	if len(prompts) == 0 || g < 1 {
		return nil, st, fmt.Errorf("rollout: %d prompts with group size %d", len(prompts), g)
	}
	if err := s.Validate(); err != nil {
		return nil, st, err
	}
	if index == nil {
		index = indexRange(0, len(prompts))
	} else if len(index) != len(prompts) {
		return nil, st, fmt.Errorf("rollout: %d prompt indices for %d prompts", len(index), len(prompts))
	}
	st.Prompts, st.Rows = len(prompts), len(prompts)*g

	// 1-2. Vision once per prompt, prefill once per prompt.
	pre, err := e.prefill(ctx, prompts, &st)
	if err != nil {
		return nil, st, err
	}
	if pre.dev != nil {
		defer pre.dev.Close()
	}
	logits, cache, pb := pre.logits, pre.cache, pre.pb

	// 3. Share each prompt's cache with its g rows.
	t0 := time.Now()
	V := e.cfg.VocabSize
	n := len(prompts) * g
	rowOf := make([]int, n) // cache row (prompt) of each sample
	for r := range rowOf {
		rowOf[r] = r / g
	}
	if pre.dev == nil {
		if cache, err = selectRows(cache, rowOf); err != nil {
			return nil, st, err
		}
	}
	out := make([]Sample, n)
	rngs := make([]*rand.Rand, n)
	valid := make([][]bool, n)
	pos := make([]int64, n)
	stop := map[int]bool{e.cfg.EosTokenID: true}
	for _, t := range s.StopTokens {
		stop[t] = true
	}
	sp := newSampler(s)
	active := make([]int, 0, n) // sample index of each live cache row
	for r := 0; r < n; r++ {
		i := r / g
		out[r] = Sample{Prompt: index[i], Row: r % g}
		rngs[r] = rand.New(rand.NewPCG(seed, uint64(index[i]*g+r%g)))
		valid[r] = append(make([]bool, 0, len(pb.Valid[i])+s.MaxNewTokens), pb.Valid[i]...)
		pos[r] = pb.Next[i]
		if e.emit(&out[r], sp, logits[i*V:(i+1)*V], rngs[r], stop, s) {
			active = append(active, r)
		}
	}
	// Drop rows that finished on their first token.
	if len(active) < n && pre.dev == nil {
		if cache, err = selectRows(cache, active); err != nil {
			return nil, st, err
		}
	}

	// 4. Batched decode of the live rows.
	if pre.dev != nil {
		err = e.decodeResident(ctx, pre.dev, out, active, rowOf, pos, rngs, sp, stop, s, &st)
	} else if sd, ok := e.model.(StaticDecoder); ok && sd.Loaded(model.GraphDecodeStatic) {
		err = e.decodeStatic(ctx, sd, out, active, cache, valid, pos, rngs, sp, stop, s, &st)
	} else {
		err = e.decodeGrowing(ctx, out, active, cache, valid, pos, rngs, sp, stop, s, &st)
	}
	if err != nil {
		return nil, st, err
	}
	st.Gen = time.Since(t0)
	for r := range out {
		st.DecodeTokens += len(out[r].Tokens)
		if e.dec != nil && !out[r].textSet {
			out[r].Text = e.dec.DecodeSkipSpecial(out[r].Tokens)
		}
	}
	st.rates()
	return out, st, nil
}

// emit samples the next token of s from logits and reports whether the
// sample goes on.
func (e *Engine) emit(smp *Sample, sp *sampler, logits []float32, rng *rand.Rand, stop map[int]bool, s Sampling) bool {
	tok, lp := sp.draw(logits, rng)
	smp.Tokens = append(smp.Tokens, tok)
	smp.LogProbs = append(smp.LogProbs, lp)
	if stop[tok] {
		smp.Finish = FinishStop
		return false
	}
	if len(s.StopStrings) > 0 && e.dec != nil {
		text := e.dec.DecodeSkipSpecial(smp.Tokens)
		for _, ss := range s.StopStrings {
			if k := strings.Index(text, ss); ss != "" && k >= 0 {
				smp.Text, smp.textSet = text[:k], true
				smp.Finish = FinishStop
				return false
			}
		}
	}
	if len(smp.Tokens) >= s.MaxNewTokens {
		smp.Finish = FinishLength
		return false
	}
	return true
}

// prefilled is a prefilled prompt batch: the last-position logits and the
// KV cache, in host memory or (resident model) on the device.
type prefilled struct {
	logits []float32
	cache  model.KVCache
	dev    *model.DevicePrefill
	pb     *model.PromptBatch
}

// prefill encodes each prompt's videos (one vision run per prompt: a
// prompt's videos share a frame size, different prompts may not) and
// prefills all prompts in one left-padded batch.
func (e *Engine) prefill(ctx context.Context, prompts []Prompt, st *Stats) (prefilled, error) {
	t0 := time.Now()
	var grids []model.Grid
	var embeds ort.Tensor
	videos := make([][]int, len(prompts))
	for i, p := range prompts {
		if len(p.Videos) == 0 {
			continue
		}
		vb, err := e.cfg.NewVisionBatch(p.Videos)
		if err != nil {
			return prefilled{}, fmt.Errorf("rollout: prompt %d: %w", i, err)
		}
		emb, err := e.model.Encode(ctx, vb)
		if err != nil {
			return prefilled{}, fmt.Errorf("rollout: prompt %d: %w", i, err)
		}
		st.VisionRuns++
		for _, v := range p.Videos {
			videos[i] = append(videos[i], len(grids))
			grids = append(grids, v.Grid)
		}
		if embeds, err = concatRows(embeds, emb); err != nil {
			return prefilled{}, err
		}
	}
	if embeds.Data == nil {
		// A text-only batch still feeds the splice input one zero row.
		embeds = zeroRows(e.model, e.cfg.VisionEmbedWidth())
	}
	st.Vision += time.Since(t0)

	t0 = time.Now()
	ids := make([][]int, len(prompts))
	for i, p := range prompts {
		ids[i] = p.IDs
		st.PrefillTokens += len(p.IDs)
	}
	layout, items := Layout(e.cfg, grids, videos)
	pb, err := e.cfg.NewPromptBatch(ids, items, layout, e.pad)
	if err != nil {
		return prefilled{}, fmt.Errorf("rollout: %w", err)
	}
	pre := prefilled{pb: pb}
	if rm, ok := e.model.(ResidentModel); ok && rm.Resident() {
		pre.logits, pre.dev, err = rm.PrefillResident(ctx, pb, embeds)
	} else {
		pre.logits, pre.cache, err = e.model.Prefill(ctx, pb, embeds)
	}
	if err != nil {
		return prefilled{}, fmt.Errorf("rollout: prefill: %w", err)
	}
	st.PrefillRows += len(prompts)
	st.Prefill += time.Since(t0)
	return pre, nil
}

// stepFunc runs one decode step for the live rows: their last tokens and
// positions; rows lists their sample indices. It returns the logits [rows*V].
type stepFunc func(tokens, pos []int64, rows []int) ([]float32, error)

// decodeLoop feeds every live row its last token until all have stopped:
// step runs the model, emit samples, and shrink keeps the cache rows (by
// position among the live rows) of the rows that go on.
func (e *Engine) decodeLoop(ctx context.Context, out []Sample, active []int, pos []int64, rngs []*rand.Rand, sp *sampler,
	stop map[int]bool, s Sampling, st *Stats, step stepFunc, shrink func(keep []int) error) error {
	V := e.cfg.VocabSize
	for len(active) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		tokens := make([]int64, len(active))
		ps := make([]int64, len(active))
		for j, r := range active {
			tokens[j] = int64(out[r].Tokens[len(out[r].Tokens)-1])
			ps[j] = pos[r]
			pos[r]++
		}
		logits, err := step(tokens, ps, active)
		if err != nil {
			return fmt.Errorf("rollout: decode step %d: %w", st.DecodeSteps+1, err)
		}
		st.DecodeSteps++
		keep := make([]int, 0, len(active))
		next := active[:0:0]
		for j, r := range active {
			if e.emit(&out[r], sp, logits[j*V:(j+1)*V], rngs[r], stop, s) {
				keep = append(keep, j)
				next = append(next, r)
			}
		}
		if len(keep) < len(active) && len(keep) > 0 {
			if err := shrink(keep); err != nil {
				return err
			}
		}
		active = next
	}
	return nil
}

// decodeResident decodes over cache buffers that stay on the model's
// device: the prefill's cache is turned into buffers there (each live row
// a copy of its prompt's), and rows that finish are dropped there.
func (e *Engine) decodeResident(ctx context.Context, dp *model.DevicePrefill, out []Sample, active, rowOf []int,
	pos []int64, rngs []*rand.Rand, sp *sampler, stop map[int]bool, s Sampling, st *Stats) error {
	if len(active) == 0 {
		return nil
	}
	rows := make([]int, len(active))
	for j, r := range active {
		rows[j] = rowOf[r]
	}
	dec, err := dp.Decoder(ctx, rows, s.MaxNewTokens)
	if err != nil {
		return fmt.Errorf("rollout: %w", err)
	}
	defer dec.Close()
	dp.Close() // the buffers hold what decoding needs
	step := func(tokens, ps []int64, _ []int) ([]float32, error) { return dec.Step(ctx, tokens, ps) }
	shrink := func(keep []int) error { return dec.Keep(ctx, keep) }
	return e.decodeLoop(ctx, out, active, pos, rngs, sp, stop, s, st, step, shrink)
}

// decodeGrowing decodes with the growing-cache decode graph: each step's
// cache output (past + the new token) is the next step's input.
func (e *Engine) decodeGrowing(ctx context.Context, out []Sample, active []int, cache model.KVCache,
	valid [][]bool, pos []int64, rngs []*rand.Rand, sp *sampler, stop map[int]bool, s Sampling, st *Stats) error {
	step := func(tokens, ps []int64, rows []int) ([]float32, error) {
		vs := make([][]bool, len(rows))
		for j, r := range rows {
			valid[r] = append(valid[r], true)
			vs[j] = valid[r]
		}
		logits, next, err := e.model.Decode(ctx, tokens, ps, vs, cache)
		cache = next
		return logits, err
	}
	shrink := func(keep []int) (err error) {
		cache, err = selectRows(cache, keep)
		return err
	}
	return e.decodeLoop(ctx, out, active, pos, rngs, sp, stop, s, st, step, shrink)
}

// decodeStatic decodes over fixed-size cache buffers: each row's prompt
// cache is copied once into buffers of C = prompt length + MaxNewTokens
// slots, every step writes only the new token's key and value into its
// slot, and rows that finish are dropped from the buffers.
func (e *Engine) decodeStatic(ctx context.Context, sd StaticDecoder, out []Sample, active []int, cache model.KVCache,
	valid [][]bool, pos []int64, rngs []*rand.Rand, sp *sampler, stop map[int]bool, s Sampling, st *Stats) error {
	if len(active) == 0 {
		return nil
	}
	L := int(cache.Keys[0].Shape[2])
	C := L + s.MaxNewTokens
	buf, err := growSlots(cache, C)
	if err != nil {
		return err
	}
	slot := L
	step := func(tokens, ps []int64, rows []int) ([]float32, error) {
		// Slots: the prompt's (left-padded) positions, the tokens fed so
		// far, empty slots; then the new token itself.
		vs := make([][]bool, len(rows))
		for j, r := range rows {
			v := make([]bool, C+1)
			copy(v, valid[r][:slot])
			v[C] = true
			vs[j] = v
		}
		logits, fresh, err := sd.DecodeStatic(ctx, tokens, ps, vs, buf)
		if err != nil {
			return nil, err
		}
		if err := writeSlot(buf, fresh, slot); err != nil {
			return nil, err
		}
		for _, r := range rows {
			valid[r] = append(valid[r][:slot], true)
		}
		slot++
		return logits, nil
	}
	shrink := func(keep []int) (err error) {
		buf, err = selectRows(buf, keep)
		return err
	}
	return e.decodeLoop(ctx, out, active, pos, rngs, sp, stop, s, st, step, shrink)
}
