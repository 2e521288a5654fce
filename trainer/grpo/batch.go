package grpo

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
)

// sampler draws training samples: the data source of each draw by the mix
// weights, then the next sample of that source's shuffled epoch order. Its
// whole state is the per-source cursors, so a checkpoint restores it exactly.
// A phase may draw from its own pool (usePool), with its own cursors.
//
// With stratified set (data.stratified) a step's sources are not drawn one
// by one: each source gets its share of the step by the mix weights
// (largest remainder, ties broken by the step's seeded stream), so every
// step holds the same mix and the per-step mean reward is not dominated by
// which sources a step happened to draw (docs/learning.md, H2).
type sampler struct {
	seed       uint64
	stratified bool
	pool       map[tasks.DataSource][]tasks.Sample
	phases     map[string]map[tasks.DataSource][]tasks.Sample // phase -> own pool
	sources    []tasks.DataSource
	weights    []float64
	cursors    map[string]int
	perms      map[string][]int // cache of the current epoch order per source
	permEp     map[string]int
	// levels (curriculum.go): with the curriculum on, the GRPO phase
	// draws each source from the pool of its current level (cursor key
	// "L<level>/<source>"); the base level is pool itself.
	levelPools map[tasks.DataSource][][]tasks.Sample
	level      map[tasks.DataSource]int
}

func newSampler(seed uint64, pool map[tasks.DataSource][]tasks.Sample, mix map[string]float64) (*sampler, error) {
	s := &sampler{seed: seed, pool: pool, cursors: map[string]int{}, perms: map[string][]int{}, permEp: map[string]int{}}
	for _, src := range poolSources(pool) {
		// A data source of data.train_files that data.mix does not name
		// has weight 1.
		w, named := mix[string(src)]
		if !named {
			w = 1
		}
		if w > 0 {
			s.sources = append(s.sources, src)
			s.weights = append(s.weights, w)
		}
	}
	if len(s.sources) == 0 {
		return nil, fmt.Errorf("grpo: no training samples for the data sources of data.mix %v", mix)
	}
	return s, nil
}

// usePool makes the draws of phase come from pool, which must hold samples
// of every source of the mix. Its cursors are keyed "phase/source", apart
// from the main pool's.
func (s *sampler) usePool(phase string, pool map[tasks.DataSource][]tasks.Sample) error {
	for _, src := range s.sources {
		if len(pool[src]) == 0 {
			return fmt.Errorf("grpo: the %s pool has no %s samples", phase, src)
		}
	}
	if s.phases == nil {
		s.phases = map[string]map[tasks.DataSource][]tasks.Sample{}
	}
	s.phases[phase] = pool
	return nil
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// draw returns n samples for a step of a phase; the source choices derive
// from (seed, phase, step), the samples from the cursors.
func (s *sampler) draw(phase string, step, n int) []tasks.Sample {
	return s.drawRound(phase, step, 0, n)
}

// drawRound returns n samples for round round of a step of a phase: round
// 0 is the step's batch (draw), the rounds after it the further draws of
// dynamic sampling's refill, each with its own stream of source choices
// from (seed, phase, round, step); the samples come from the same cursors.
func (s *sampler) drawRound(phase string, step, round, n int) []tasks.Sample {
	stream := phase
	if round > 0 {
		stream = fmt.Sprintf("%s/fill-%d", phase, round)
	}
	rng := rand.New(rand.NewPCG(s.seed^hashString(stream), uint64(step)))
	var total float64
	for _, w := range s.weights {
		total += w
	}
	out := make([]tasks.Sample, n)
	if s.stratified {
		for i, k := range s.shares(rng, total, n) {
			out[i] = s.next(s.poolOf(phase, s.sources[k]))
		}
		return out
	}
	for i := range out {
		u := rng.Float64() * total
		k := 0
		for k < len(s.weights)-1 && u >= s.weights[k] {
			u -= s.weights[k]
			k++
		}
		out[i] = s.next(s.poolOf(phase, s.sources[k]))
	}
	return out
}

// poolOf returns the pool a phase draws a source from and its cursor key:
// the phase's own pool (usePool), the source's curriculum level in the
// GRPO phase, or the main pool.
func (s *sampler) poolOf(phase string, src tasks.DataSource) ([]tasks.Sample, string) {
	if p, ok := s.phases[phase]; ok {
		return p[src], phase + "/" + string(src)
	}
	if l, ok := s.level[src]; ok && phase == curriculumPhase && l != baseLevel {
		return s.levelPools[src][l], levelKey(l, src)
	}
	return s.pool[src], string(src)
}

// shares returns the source index of each of a step's n draws: every
// source gets the whole part of n x its weight share, the draws left go to
// the largest remainders (ties by a random key from rng), and the order is
// shuffled by rng.
func (s *sampler) shares(rng *rand.Rand, total float64, n int) []int {
	type rem struct {
		k    int
		frac float64
		key  float64
	}
	var ks []int
	var rems []rem
	for k, w := range s.weights {
		exact := float64(n) * w / total
		whole := int(exact)
		for range whole {
			ks = append(ks, k)
		}
		rems = append(rems, rem{k: k, frac: exact - float64(whole), key: rng.Float64()})
	}
	slices.SortFunc(rems, func(a, b rem) int {
		switch {
		case a.frac > b.frac+1e-12:
			return -1
		case b.frac > a.frac+1e-12:
			return 1
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	for i := 0; len(ks) < n; i++ {
		ks = append(ks, rems[i%len(rems)].k)
	}
	rng.Shuffle(len(ks), func(i, j int) { ks[i], ks[j] = ks[j], ks[i] })
	return ks
}

// next returns the next sample of a source's pool in its epoch order; key
// names its cursor.
func (s *sampler) next(pool []tasks.Sample, key string) tasks.Sample {
	c := s.cursors[key]
	ep := c / len(pool)
	perm, ok := s.perms[key]
	if !ok || s.permEp[key] != ep {
		perm = rand.New(rand.NewPCG(s.seed^hashString(key), uint64(ep))).Perm(len(pool))
		s.perms[key], s.permEp[key] = perm, ep
	}
	s.cursors[key] = c + 1
	return pool[perm[c%len(pool)]]
}

// microBatch is a set of rows whose prompts share one frame size, so their
// videos go through the vision tower in one batch.
type microBatch struct {
	rows    []int // indices into the step's rows
	prompts []int // distinct prompts of those rows, in order
	// seq and vision are the micro-batch laid out for the graphs (seqBatch).
	seq    *model.SeqBatch
	vision *model.VisionBatch
}

// splitMicro groups rows by their prompts' frame size and cuts each group
// into micro-batches of at most maxRows rows, keeping a prompt's rows
// together where possible.
func splitMicro(prompts []rollout.Prompt, rows []row, maxRows int) []microBatch {
	byKey := map[[2]int][]int{}
	var keys [][2]int
	for i, r := range rows {
		k := prompts[r.prompt].GridKey()
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	var out []microBatch
	for _, k := range keys {
		idx := byKey[k]
		for len(idx) > 0 {
			n := min(maxRows, len(idx))
			mb := microBatch{rows: idx[:n]}
			for _, i := range mb.rows {
				if p := rows[i].prompt; !slices.Contains(mb.prompts, p) {
					mb.prompts = append(mb.prompts, p)
				}
			}
			out = append(out, mb)
			idx = idx[n:]
		}
	}
	return out
}

// splitMini splits micro-batches into k mini-batches of about equal size.
func splitMini(mbs []microBatch, k int) [][]microBatch {
	k = min(k, len(mbs))
	out := make([][]microBatch, k)
	for i, mb := range mbs {
		out[i*k/len(mbs)] = append(out[i*k/len(mbs)], mb)
	}
	return out
}

// seqBatch lays out a micro-batch for the log-prob and training graphs:
// the sequence batch and the vision batch of its prompts' videos.
func seqBatch(c model.Config, prompts []rollout.Prompt, rows []row, mb microBatch, pad int) (*model.SeqBatch, *model.VisionBatch, error) {
	var vids []model.VisionInput
	first := map[int]int{} // prompt -> index of its first video in vids
	for _, p := range mb.prompts {
		first[p] = len(vids)
		vids = append(vids, prompts[p].Videos...)
	}
	perRow := make([][]int, len(mb.rows))
	for j, i := range mb.rows {
		r := rows[i]
		for k := range prompts[r.prompt].Videos {
			perRow[j] = append(perRow[j], first[r.prompt]+k)
		}
	}
	var vb *model.VisionBatch
	var grids []model.Grid
	if len(vids) > 0 {
		var err error
		if vb, err = c.NewVisionBatch(vids); err != nil {
			return nil, nil, err
		}
		grids = vb.Videos.Grids
	}
	layout, items := rollout.Layout(c, grids, perRow)
	mrows := make([]model.Row, len(mb.rows))
	for j, i := range mb.rows {
		r := rows[i]
		mrows[j] = model.Row{Prompt: prompts[r.prompt].IDs, Response: r.response, Videos: items[j]}
	}
	sb, err := c.NewSeqBatch(mrows, layout, pad)
	if err != nil {
		return nil, nil, err
	}
	return sb, vb, nil
}
