package grpo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/tasks"
)

// splitConfig is a data-only config: three training videos, two held out.
func splitConfig(t *testing.T, sets ...string) *configs.Config {
	t.Helper()
	base := []string{
		"run_dir=" + t.TempDir(),
		"data.dir=" + t.TempDir(),
		"data.synthetic_videos=5",
		"data.heldout_videos=2",
		"data.use_sample_videos=false",
		"data.train_samples=36",
		"data.warmup_samples=36",
		"viubench.per_subtype=2",
	}
	cfg, err := configs.Load(nil, append(base, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func flatten(pool map[tasks.DataSource][]tasks.Sample) []tasks.Sample {
	var out []tasks.Sample
	for _, src := range tasks.AllDataSources() {
		out = append(out, pool[src]...)
	}
	return out
}

// checkDisjoint fails when two sets of samples share a sample id, a
// generator seed or a fingerprint (same question and frame bytes).
func checkDisjoint(t *testing.T, nameA, dirA string, a []tasks.Sample, nameB, dirB string, b []tasks.Sample) {
	t.Helper()
	ids, seeds, fps := map[string]bool{}, map[uint64]bool{}, map[string]string{}
	for i := range a {
		fp, err := Fingerprint(dirA, &a[i])
		if err != nil {
			t.Fatal(err)
		}
		ids[a[i].ID], seeds[a[i].Meta.Seed], fps[fp] = true, true, a[i].ID
	}
	for i := range b {
		s := &b[i]
		if ids[s.ID] {
			t.Errorf("sample %s is in both the %s and the %s pool", s.ID, nameA, nameB)
		}
		if seeds[s.Meta.Seed] {
			t.Errorf("%s sample %s has the generator seed %d of a %s sample", nameB, s.ID, s.Meta.Seed, nameA)
		}
		fp, err := Fingerprint(dirB, s)
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := fps[fp]; ok {
			t.Errorf("%s sample %s shows the same frames and question as %s sample %s", nameB, s.ID, nameA, id)
		}
	}
}

// TestDataSplitIsDisjoint checks the honest split of issue 12: the warm-up
// samples, the GRPO prompts and the held-out VIUBench share no sample (by
// id, by generator seed, by content), and VIUBench no video.
func TestDataSplitIsDisjoint(t *testing.T) {
	needNative(t)
	cfg := splitConfig(t)
	var logged []string
	d, err := PrepareData(context.Background(), cfg, nil, func(s string) { logged = append(logged, s) })
	if err != nil {
		t.Fatal(err)
	}
	warm, train := flatten(d.Warmup), flatten(d.Train)
	for _, src := range tasks.AllDataSources() {
		if len(d.Warmup[src]) == 0 || len(d.Train[src]) == 0 {
			t.Fatalf("%s: %d warm-up samples and %d GRPO prompts, want both > 0", src, len(d.Warmup[src]), len(d.Train[src]))
		}
	}
	if len(train) < 36 {
		t.Errorf("%d GRPO prompts, want at least data.train_samples=36", len(train))
	}
	checkDisjoint(t, "warm-up", d.TrainDir, warm, "GRPO", d.TrainDir, train)
	checkDisjoint(t, "warm-up", d.TrainDir, warm, "VIUBench", d.BenchDir, d.Bench)
	checkDisjoint(t, "GRPO", d.TrainDir, train, "VIUBench", d.BenchDir, d.Bench)
	trainVideos := map[string]bool{}
	for _, s := range append(slices.Clone(warm), train...) {
		trainVideos[s.VideoID] = true
	}
	for _, s := range d.Bench {
		if trainVideos[s.VideoID] {
			t.Errorf("VIUBench sample %s comes from the training video %s", s.ID, s.VideoID)
		}
	}

	// Jigsaw with two clips has only two orders per video, so warm-up
	// samples equal to a GRPO prompt must occur; they are dropped.
	cfg = splitConfig(t, "data.mix.grounding=0", "data.mix.counting=0", "data.jigsaw.clips=2",
		"data.train_samples=3", "data.warmup_samples=12")
	logged = nil
	d, err = PrepareData(context.Background(), cfg, nil, func(s string) { logged = append(logged, s) })
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(logged, func(s string) bool { return strings.Contains(s, "warm-up samples dropped") }) {
		t.Errorf("no warm-up sample dropped with two-clip jigsaw; log: %q", logged)
	}
	checkDisjoint(t, "warm-up", d.TrainDir, flatten(d.Warmup), "GRPO", d.TrainDir, flatten(d.Train))

	// warmup_samples 0 keeps the old setup: no pool of its own.
	d, err = PrepareData(context.Background(), splitConfig(t, "data.warmup_samples=0"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Warmup) != 0 || len(flatten(d.Train)) < 36 {
		t.Errorf("warmup_samples=0: %d warm-up sources, %d GRPO prompts", len(d.Warmup), len(flatten(d.Train)))
	}
}

// TestSamplerPhasePools checks that a phase with a pool of its own draws
// only from it, with cursors of its own, and the other phases only from
// the main pool.
func TestSamplerPhasePools(t *testing.T) {
	mk := func(prefix string, n int) map[tasks.DataSource][]tasks.Sample {
		pool := map[tasks.DataSource][]tasks.Sample{}
		for _, src := range tasks.AllDataSources() {
			for i := range n {
				pool[src] = append(pool[src], tasks.Sample{ID: prefix + string(src) + string(rune('a'+i)), DataSource: src})
			}
		}
		return pool
	}
	main, warm := mk("grpo-", 5), mk("warm-", 3)
	mix := map[string]float64{"grounding": 1, "counting": 1, "jigsaw": 1}
	s, err := newSampler(1, main, mix)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.usePool("sft", warm); err != nil {
		t.Fatal(err)
	}
	for step := range 4 {
		for _, x := range s.draw("sft", step, 7) {
			if !strings.HasPrefix(x.ID, "warm-") {
				t.Fatalf("sft step %d drew %s from the GRPO pool", step, x.ID)
			}
		}
	}
	grpoKeys := 0
	for k := range s.cursors {
		if !strings.HasPrefix(k, "sft/") {
			grpoKeys++
		}
	}
	if grpoKeys != 0 {
		t.Fatalf("warm-up draws moved GRPO cursors: %v", s.cursors)
	}
	for step := range 4 {
		for _, x := range s.draw("grpo", step, 7) {
			if !strings.HasPrefix(x.ID, "grpo-") {
				t.Fatalf("grpo step %d drew %s from the warm-up pool", step, x.ID)
			}
		}
	}
	if err := s.usePool("sft", map[tasks.DataSource][]tasks.Sample{tasks.Counting: warm[tasks.Counting]}); err == nil {
		t.Fatal("a warm-up pool without grounding and jigsaw samples was accepted")
	}
}

// TestShuffledWarmupAnswers checks data.warmup_answers=shuffled: each
// warm-up sample gets an answer of its own video and subtype (the answers
// of every such group are a permutation of the group's own answers), many
// samples get another sample's answer, and the GRPO prompts keep theirs.
func TestShuffledWarmupAnswers(t *testing.T) {
	needNative(t)
	own, err := PrepareData(context.Background(), splitConfig(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := splitConfig(t, "data.warmup_answers=shuffled")
	shuf, err := PrepareData(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	group := func(pool map[tasks.DataSource][]tasks.Sample) (map[string][]string, map[string]string) {
		g, byID := map[string][]string{}, map[string]string{}
		for _, s := range flatten(pool) {
			k := s.VideoID + "/" + s.Subtype
			g[k] = append(g[k], s.Answer)
			byID[s.ID] = s.Answer
		}
		for _, v := range g {
			slices.Sort(v)
		}
		return g, byID
	}
	go1, ids1 := group(own.Warmup)
	go2, ids2 := group(shuf.Warmup)
	if len(ids1) != len(ids2) {
		t.Fatalf("%d warm-up samples with own answers, %d shuffled", len(ids1), len(ids2))
	}
	for k, v := range go1 {
		if !slices.Equal(v, go2[k]) {
			t.Errorf("%s: shuffled answers %v are not a permutation of %v", k, go2[k], v)
		}
	}
	changed := 0
	for id, a := range ids1 {
		if ids2[id] != a {
			changed++
		}
	}
	if changed < len(ids1)/3 {
		t.Errorf("only %d of %d warm-up answers changed", changed, len(ids1))
	}
	_, t1 := group(own.Train)
	_, t2 := group(shuf.Train)
	if !maps.Equal(t1, t2) {
		t.Error("shuffling the warm-up answers changed GRPO prompts' answers")
	}
}

// TestStratifiedDraws checks data.stratified: every step holds each
// source's share of the mix (2:1:1 of 8 draws is 4, 2, 2 at every step; of
// 6 draws 3 + 1.5 + 1.5 gives the odd draw to one of the tied sources), the
// draws of a step are the same when drawn again from the same cursors, and
// the unstratified sampler does vary its composition.
func TestStratifiedDraws(t *testing.T) {
	pool := map[tasks.DataSource][]tasks.Sample{}
	for _, src := range tasks.AllDataSources() {
		for i := range 10 {
			pool[src] = append(pool[src], tasks.Sample{ID: fmt.Sprintf("%s-%d", src, i), DataSource: src})
		}
	}
	mix := map[string]float64{"grounding": 2, "counting": 1, "jigsaw": 1}
	count := func(ss []tasks.Sample) map[tasks.DataSource]int {
		c := map[tasks.DataSource]int{}
		for _, x := range ss {
			c[x.DataSource]++
		}
		return c
	}
	s, err := newSampler(3, pool, mix)
	if err != nil {
		t.Fatal(err)
	}
	s.stratified = true
	for step := range 20 {
		c := count(s.draw("grpo", step, 8))
		if c[tasks.Grounding] != 4 || c[tasks.Counting] != 2 || c[tasks.Jigsaw] != 2 {
			t.Fatalf("step %d: composition %v, want grounding 4, counting 2, jigsaw 2", step, c)
		}
		c = count(s.draw("sft", step, 6))
		if c[tasks.Grounding] != 3 || c[tasks.Counting]+c[tasks.Jigsaw] != 3 || c[tasks.Counting] < 1 || c[tasks.Jigsaw] < 1 {
			t.Fatalf("step %d: composition of 6 draws %v, want grounding 3 and the others 1 or 2", step, c)
		}
	}
	// Same cursors, same step: same samples in the same order.
	a, _ := newSampler(3, pool, mix)
	b, _ := newSampler(3, pool, mix)
	a.stratified, b.stratified = true, true
	x, y := a.draw("grpo", 5, 8), b.draw("grpo", 5, 8)
	for i := range x {
		if x[i].ID != y[i].ID {
			t.Fatalf("draw %d: %s then %s from the same state", i, x[i].ID, y[i].ID)
		}
	}
	u, _ := newSampler(3, pool, mix)
	varied := false
	for step := range 20 {
		if c := count(u.draw("grpo", step, 8)); c[tasks.Grounding] != 4 {
			varied = true
		}
	}
	if !varied {
		t.Fatal("the unstratified sampler drew exactly the mix's shares at 20 steps: the test cannot tell the modes apart")
	}
}
