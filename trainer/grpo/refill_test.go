package grpo

import (
	"context"
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/trainer/metrics"
)

// TestRefillCapAllZeroVariance: with every group of equal rewards, dynamic
// sampling's refill runs exactly 1 + grpo.max_fill_rounds rounds (each of a
// full batch, none being informative, each rolled out with its own seed),
// logs them, and the step ends cleanly without an update.
func TestRefillCapAllZeroVariance(t *testing.T) {
	answers := map[int][]string{}
	for k := range 16 {
		answers[k] = []string{"0.5", "0.5", "0.5", "0.5"}
	}
	f := newFakeLoop(t, 16, answers, numberReward(t), "grpo.max_fill_rounds=2")
	st, err := f.t.grpoStep(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.eng.drawn) != 3 {
		t.Fatalf("%d rollout rounds, want 1 + max_fill_rounds = 3", len(f.eng.drawn))
	}
	for r, d := range f.eng.drawn {
		if len(d) != 4 {
			t.Errorf("round %d rolled out %d prompts, want a full batch of 4 (none informative so far)", r, len(d))
		}
	}
	if s := f.eng.seeds; s[0] == s[1] || s[1] == s[2] || s[0] == s[2] {
		t.Errorf("rounds share a rollout seed: %v", s)
	}
	if st.FillRounds != 2 || st.PromptsDrawn != 12 || st.Skipped != 1 || st.RowsTrained != 0 || st.ZeroVarFrac != 1 {
		t.Fatalf("stats %+v", st)
	}
	if len(f.pol.calls) != 0 || len(f.opt.steps) != 0 {
		t.Fatal("a step without an informative group trained")
	}
	m := st.Metrics()
	if m[metrics.FillRounds] != 2 || m[metrics.FillPromptsDrawn] != 12 {
		t.Fatalf("metrics %v", m)
	}
	// Drop only (max_fill_rounds 0): one round.
	f = newFakeLoop(t, 16, answers, numberReward(t))
	if st, err = f.t.grpoStep(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if len(f.eng.drawn) != 1 || st.FillRounds != 0 || st.PromptsDrawn != 4 {
		t.Fatalf("max_fill_rounds 0: %d rounds, stats %+v", len(f.eng.drawn), st)
	}
}

// halfInformative answers even samples with differing rewards and odd ones
// with equal rewards.
func halfInformative(n int) map[int][]string {
	answers := map[int][]string{}
	for k := range n {
		answers[k] = []string{"1", "0", "0.5", "0.5"}
		if k%2 == 1 {
			answers[k] = []string{"0.3", "0.3", "0.3", "0.3"}
		}
	}
	return answers
}

// trainedPrompts returns the samples (k) whose rows reached the policy in
// the calls from c0 on (the fake engine's old log-probs encode k).
func trainedPrompts(f *fakeLoop, c0 int) []int {
	var ks []int
	for _, c := range f.pol.calls[c0:] {
		for j := range c.B {
			k := int(math.Round(-10*c.old[j*c.R])) - 1
			if !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
		}
	}
	slices.Sort(ks)
	return ks
}

// TestRefillReachesBatch: when half the groups are informative, refill
// rounds run until the batch holds batch_prompts informative groups (and
// no longer), and the update trains the first batch_prompts of them in
// draw order.
func TestRefillReachesBatch(t *testing.T) {
	f := newFakeLoop(t, 32, halfInformative(32), numberReward(t), "grpo.max_fill_rounds=3")
	st, err := f.t.grpoStep(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var all, informative []int
	for r, d := range f.eng.drawn {
		all = append(all, d...)
		for _, k := range d {
			if k%2 == 0 {
				informative = append(informative, k)
			}
		}
		if last := r == len(f.eng.drawn)-1; last != (len(informative) >= 4) {
			t.Fatalf("round %d: %d informative groups so far (rounds %v): the refill must stop exactly when it has 4", r, len(informative), f.eng.drawn)
		}
	}
	if len(f.eng.drawn) < 2 {
		t.Fatalf("the first round had %v: the test needs a refill", f.eng.drawn[0])
	}
	want := slices.Clone(informative[:4])
	slices.Sort(want)
	if got := trainedPrompts(f, 0); !slices.Equal(got, want) {
		t.Fatalf("trained samples %v, want the first 4 informative ones %v (drawn %v)", got, want, f.eng.drawn)
	}
	if st.RowsTrained != 16 || st.FillRounds != len(f.eng.drawn)-1 || st.PromptsDrawn != len(all) {
		t.Fatalf("stats %+v (rounds %v)", st, f.eng.drawn)
	}
	if zv := float64(len(all)-len(informative)) / float64(len(all)); math.Abs(st.ZeroVarFrac-zv) > 1e-12 {
		t.Fatalf("zero-variance fraction %v, want %v over every drawn group", st.ZeroVarFrac, zv)
	}
}

// TestRefillResumeExact: the sampler state committed after a step with
// refill rounds (its cursors) is all a resumed run needs: a fresh loop
// given the cursors of step 0 (after a step 1 that was run and thrown
// away, as a stop inside a step does) draws, rolls out and trains steps 1
// and 2 as the uninterrupted run did.
func TestRefillResumeExact(t *testing.T) {
	sets := []string{"grpo.max_fill_rounds=3", "data.stratified=false"}
	type stepLog struct {
		drawn [][]int
		seeds []uint64
		rows  int
	}
	run := func(f *fakeLoop, step int) stepLog {
		t.Helper()
		r0 := len(f.eng.drawn)
		st, err := f.t.grpoStep(context.Background(), step)
		if err != nil {
			t.Fatal(err)
		}
		return stepLog{drawn: f.eng.drawn[r0:], seeds: f.eng.seeds[r0:], rows: st.RowsTrained}
	}
	straight := newFakeLoop(t, 12, halfInformative(12), numberReward(t), sets...)
	var want []stepLog
	for step := range 3 {
		want = append(want, run(straight, step))
	}
	if len(want[1].drawn)+len(want[2].drawn) < 3 {
		t.Fatalf("steps 1 and 2 ran no refill round (%v, %v): the test needs one", want[1].drawn, want[2].drawn)
	}
	split := newFakeLoop(t, 12, halfInformative(12), numberReward(t), sets...)
	run(split, 0)
	saved := maps.Clone(split.t.draw.cursors) // commit after step 0
	run(split, 1)                             // stopped inside step 1: not committed
	resumed := newFakeLoop(t, 12, halfInformative(12), numberReward(t), sets...)
	resumed.t.draw.cursors = saved
	for step := 1; step < 3; step++ {
		got := run(resumed, step)
		if !slices.EqualFunc(got.drawn, want[step].drawn, slices.Equal) || !slices.Equal(got.seeds, want[step].seeds) || got.rows != want[step].rows {
			t.Fatalf("step %d resumed: drew %v seeds %v rows %d; uninterrupted %v %v %d", step, got.drawn, got.seeds, got.rows, want[step].drawn, want[step].seeds, want[step].rows)
		}
	}
}

// TestFillSize: a refill round draws the missing groups over the
// informative share so far, at most a batch.
func TestFillSize(t *testing.T) {
	for _, c := range []struct{ want, have, drawn, n int }{
		{8, 0, 8, 8}, {8, 4, 8, 8}, {8, 6, 8, 3}, {8, 7, 16, 3}, {8, 1, 8, 8}, {4, 3, 4, 2},
	} {
		if n := fillSize(c.want, c.have, c.drawn); n != c.n {
			t.Errorf("fillSize(%d, %d, %d) = %d, want %d", c.want, c.have, c.drawn, n, c.n)
		}
	}
}
