package grpo

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// tally is a step's statistics of a source: n groups of 4 responses with
// mean reward mean, zero of the groups of equal rewards.
func tally(mean float64, n, zero int) SourceTally {
	return SourceTally{RewardSum: mean * float64(4*n), Responses: 4 * n, Groups: n, ZeroVar: zero}
}

func curriculumConfig(t *testing.T, sets ...string) *configs.Config {
	t.Helper()
	cfg, err := configs.Load([]string{"ablations/curriculum.yaml"}, append([]string{"curriculum.every=2", "curriculum.band=0.1",
		"curriculum.step=0.25", "curriculum.min_weight=0.25", "curriculum.max_zero_var=0.5", "curriculum.target_reward=0.5"}, sets...))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestCurriculumKnobs: the controller moves nothing inside a window; at
// its end a source rewarded above the band gets a harder level and a lower
// mix weight, one below it an easier level and a lower weight, one on
// target with many zero-variance groups moves away from them (harder when
// its reward is at the target or above, easier below), levels stop at
// their ends, weights at their floor, and a source back on target regains
// weight up to its data.mix weight.
func TestCurriculumKnobs(t *testing.T) {
	cu := curriculumConfig(t).Curriculum
	base := map[tasks.DataSource]float64{tasks.Grounding: 1, tasks.Counting: 2, tasks.Jigsaw: 1}
	st := newCurriculumState(cu, base)
	step := map[tasks.DataSource]SourceTally{
		tasks.Grounding: tally(0.9, 3, 1), // too easy
		tasks.Counting:  tally(0.1, 3, 1), // too hard
		tasks.Jigsaw:    tally(0.5, 2, 0), // on target
	}
	if ch := st.observe(cu, base, step); len(ch) != 0 || st.Window != 1 {
		t.Fatalf("changes %v inside the window", ch)
	}
	ch := st.observe(cu, base, step)
	want := map[string]int{"grounding": 2, "counting": 0, "jigsaw": 1}
	if !reflect.DeepEqual(st.Levels, want) {
		t.Fatalf("levels %v, want %v", st.Levels, want)
	}
	if wm := map[string]float64{"grounding": 0.75, "counting": 1.5, "jigsaw": 1}; !reflect.DeepEqual(st.Mix, wm) {
		t.Fatalf("mix %v, want %v", st.Mix, wm)
	}
	if len(ch) != 4 || st.Changes != 4 || st.Window != 0 || len(st.Tally) != 0 {
		t.Fatalf("changes %+v, state %+v: want 4 changes and a fresh window", ch, st)
	}
	// Zero-variance groups above max_zero_var inside the band: away from
	// them. Grounding still too easy at the hardest level: the level
	// stays, the weight keeps falling to its floor.
	step = map[tasks.DataSource]SourceTally{
		tasks.Grounding: tally(0.95, 2, 2),
		tasks.Counting:  tally(0.45, 4, 3), // below the target: easier, but level 0 is the easiest
		tasks.Jigsaw:    tally(0.55, 4, 3), // at or above: harder
	}
	for range 4 * cu.Every {
		st.observe(cu, base, step)
	}
	if want := map[string]int{"grounding": 2, "counting": 0, "jigsaw": 2}; !reflect.DeepEqual(st.Levels, want) {
		t.Fatalf("levels %v, want %v", st.Levels, want)
	}
	if g := st.Mix["grounding"]; g != 0.25 {
		t.Fatalf("grounding weight %v, want its floor 0.25 (min_weight x 1)", g)
	}
	// Back on target with informative groups: weights recover, capped at
	// data.mix.
	step = map[tasks.DataSource]SourceTally{tasks.Grounding: tally(0.5, 2, 0), tasks.Counting: tally(0.5, 2, 0), tasks.Jigsaw: tally(0.5, 2, 0)}
	for range 10 * cu.Every {
		st.observe(cu, base, step)
	}
	if wm := map[string]float64{"grounding": 1, "counting": 2, "jigsaw": 1}; !reflect.DeepEqual(st.Mix, wm) {
		t.Fatalf("mix %v after windows on target, want the data.mix weights %v", st.Mix, wm)
	}
	// A source not drawn in a window keeps its knobs.
	before := st.Levels["jigsaw"]
	for range cu.Every {
		st.observe(cu, base, map[tasks.DataSource]SourceTally{tasks.Grounding: tally(0.9, 1, 0)})
	}
	if st.Levels["jigsaw"] != before || st.Mix["jigsaw"] != 1 {
		t.Fatalf("jigsaw moved without being drawn: %v %v", st.Levels, st.Mix)
	}
}

// TestCurriculumStateRoundTrip: the curriculum's state (levels, weights,
// the window's sums) goes through a checkpoint's state.json unchanged, and
// the state is checked against the config when it is read.
func TestCurriculumStateRoundTrip(t *testing.T) {
	cfg := curriculumConfig(t, "curriculum.every=3")
	cu := cfg.Curriculum
	base := map[tasks.DataSource]float64{tasks.Grounding: 1, tasks.Counting: 1, tasks.Jigsaw: 1}
	c := newCurriculumState(cu, base)
	c.observe(cu, base, map[tasks.DataSource]SourceTally{tasks.Grounding: tally(0.9, 3, 1), tasks.Jigsaw: tally(0.1, 3, 3)})
	c.observe(cu, base, map[tasks.DataSource]SourceTally{tasks.Grounding: tally(0.9, 3, 1), tasks.Jigsaw: tally(0.1, 3, 3)})
	c.observe(cu, base, map[tasks.DataSource]SourceTally{tasks.Grounding: tally(1.0/3, 3, 0)})
	c.observe(cu, base, map[tasks.DataSource]SourceTally{tasks.Grounding: tally(0.7, 3, 1)}) // a window in progress
	if c.Window != 1 || c.Changes == 0 {
		t.Fatalf("state %+v: want moved knobs and a window in progress", c)
	}
	st := State{Phase: "grpo", SFTStep: 2, GRPOStep: 4, Rewards: make([]float64, 4), ZeroVar: make([]float64, 4),
		Cursors: map[string]int{"counting": 4, "L0/jigsaw": 4, "sft/grounding": 2}, Curriculum: c}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Curriculum, c) {
		t.Fatalf("after state.json: %+v, want %+v", back.Curriculum, c)
	}
	cfg.SFT.BatchSize = 1
	if err := back.validate(cfg); err != nil {
		t.Fatal(err)
	}
	// The window continues where it was: the same decision as without
	// the round trip.
	next := map[tasks.DataSource]SourceTally{tasks.Grounding: tally(0.6, 3, 2)}
	a, b2 := c.observe(cu, base, next), back.Curriculum.observe(cu, base, next)
	if !reflect.DeepEqual(a, b2) || !reflect.DeepEqual(c, back.Curriculum) {
		t.Fatalf("resumed curriculum differs: %+v / %+v", a, b2)
	}

	off := *cfg
	off.Curriculum.Enabled = false
	if err := back.validate(&off); err == nil || !strings.Contains(err.Error(), `"curriculum"`) {
		t.Fatalf("curriculum state with the curriculum off: %v", err)
	}
	back.Curriculum.Levels["jigsaw"] = 3
	if err := back.validate(cfg); err == nil || !strings.Contains(err.Error(), "jigsaw") {
		t.Fatalf("level 3: %v", err)
	}
	back.Curriculum = nil
	if err := back.validate(cfg); err == nil || !strings.Contains(err.Error(), `"curriculum"`) {
		t.Fatalf("no curriculum state with the curriculum on: %v", err)
	}
}

// TestCursorKeys: a checkpoint's cursors may name a phase's own pool and
// a curriculum level besides a data source; anything else is an error.
func TestCursorKeys(t *testing.T) {
	for _, k := range []string{"counting", "sft/jigsaw", "L0/grounding", "L2/counting"} {
		if err := checkCursorKey(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for _, k := range []string{"L1/counting", "L3/counting", "eval/counting", "sft/dance", "", "x/y/counting"} {
		if err := checkCursorKey(k); err == nil {
			t.Errorf("%q accepted", k)
		}
	}
}

// TestLevelGen: the levels of the default data settings (16 frames,
// segments of 3..5 frames, 3 classes of at most 2 instances, 4 clips) and
// of the paper's (48 frames, 8..16, 3 classes of 3, 6 clips) are valid
// generator settings that get easier below the base level and harder
// above it.
func TestLevelGen(t *testing.T) {
	def, err := configs.Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dc := def.Data
	base := tasks.GenConfig{Sampling: dc.Sampling, Grounding: dc.Grounding, Counting: dc.Counting, Jigsaw: dc.Jigsaw}
	paper := tasks.DefaultGenConfig()
	for _, c := range []struct {
		name              string
		base              tasks.GenConfig
		easyLen, hardLen  [2]int
		easyClips, hardCl int
	}{
		{"default", base, [2]int{5, 9}, [2]int{1, 3}, 2, 8},
		{"paper", paper, [2]int{16, 26}, [2]int{6, 8}, 4, 8},
	} {
		if g := levelGen(c.base, baseLevel); !reflect.DeepEqual(g, c.base) {
			t.Errorf("%s: the base level is not the data settings", c.name)
		}
		easy, hard := levelGen(c.base, 0), levelGen(c.base, 2)
		for l, g := range []tasks.GenConfig{easy, hard} {
			if err := g.Validate(); err != nil {
				t.Errorf("%s level %d: %v", c.name, 2*l, err)
			}
		}
		if got := [2]int{easy.Grounding.MinLen, easy.Grounding.MaxLen}; got != c.easyLen {
			t.Errorf("%s: easy segments %v, want %v", c.name, got, c.easyLen)
		}
		if got := [2]int{hard.Grounding.MinLen, hard.Grounding.MaxLen}; got != c.hardLen {
			t.Errorf("%s: hard segments %v, want %v", c.name, got, c.hardLen)
		}
		if easy.Jigsaw.Clips != c.easyClips || hard.Jigsaw.Clips != c.hardCl {
			t.Errorf("%s: clips %d / %d, want %d / %d", c.name, easy.Jigsaw.Clips, hard.Jigsaw.Clips, c.easyClips, c.hardCl)
		}
		bc := c.base.Counting
		if easy.Counting.Classes != max(1, bc.Classes-1) || easy.Counting.MaxInstances != max(1, bc.MaxInstances-1) ||
			hard.Counting.Classes != min(3, bc.Classes+1) || hard.Counting.MaxInstances != bc.MaxInstances+1 {
			t.Errorf("%s: counting easy %+v hard %+v", c.name, easy.Counting, hard.Counting)
		}
	}
}

// TestSamplerLevels: the GRPO phase draws a source from its level's pool
// under its own cursor; the warm-up's own pool and the base level are
// untouched by the levels.
func TestSamplerLevels(t *testing.T) {
	mk := func(prefix string, n int) []tasks.Sample {
		var v []tasks.Sample
		for i := range n {
			v = append(v, tasks.Sample{ID: prefix + string(rune('a'+i)), DataSource: tasks.Counting})
		}
		return v
	}
	s, err := newSampler(1, map[tasks.DataSource][]tasks.Sample{tasks.Counting: mk("base-", 4)}, map[string]float64{"counting": 1})
	if err != nil {
		t.Fatal(err)
	}
	s.levelPools = map[tasks.DataSource][][]tasks.Sample{tasks.Counting: {mk("easy-", 3), mk("base-", 4), mk("hard-", 5)}}
	s.level = map[tasks.DataSource]int{tasks.Counting: 2}
	for _, smp := range s.draw("grpo", 0, 3) {
		if !strings.HasPrefix(smp.ID, "hard-") {
			t.Fatalf("level 2 drew %s", smp.ID)
		}
	}
	for _, smp := range s.draw("sft", 0, 2) {
		if !strings.HasPrefix(smp.ID, "base-") {
			t.Fatalf("the warm-up drew %s from a level pool", smp.ID)
		}
	}
	if want := map[string]int{"L2/counting": 3, "counting": 2}; !reflect.DeepEqual(s.cursors, want) {
		t.Fatalf("cursors %v, want %v", s.cursors, want)
	}
}

// hashRewards scores a response by a hash of its text, per source at a
// different difficulty: grounding right about half of the time, counting
// a fifth, jigsaw four fifths. The untrained policy's responses then get
// rewards that differ within a group (so GRPO updates the weights), sources
// off the target reward (so the curriculum moves), and groups of equal
// rewards (so the refill runs).
func hashRewards(t *testing.T) *reward.Registry {
	r := reward.NewRegistry()
	for src, right := range map[tasks.DataSource]uint64{tasks.Grounding: 2, tasks.Counting: 1, tasks.Jigsaw: 4} {
		err := r.Register(string(src), reward.ScoreFunc(func(_ context.Context, it reward.Item) (float64, error) {
			h := fnv.New64a()
			h.Write([]byte(it.Response))
			if h.Sum64()%5 < right {
				return 1, nil
			}
			return 0, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestCurriculumRefillResumeExact runs a short job with the curriculum
// (a window of one step, so the knobs move) and dynamic sampling's refill
// on, stops it after two GRPO steps and again inside the last one's
// rollouts, resumes it, and checks that its final weights are those of the
// uninterrupted run, and that the run did update the weights, move knobs,
// draw from a level pool and run refill rounds (so the comparison covers
// them).
func TestCurriculumRefillResumeExact(t *testing.T) {
	needNative(t)
	sets := []string{"curriculum.enabled=true", "curriculum.every=1", "curriculum.band=0.05",
		"grpo.dynamic_sampling=true", "grpo.max_fill_rounds=1", "eval.before=false"}
	rewards := hashRewards(t)
	straight := t.TempDir()
	if _, err := Run(context.Background(), interruptConfig(t, straight, sets...), Options{Rewards: rewards}); err != nil {
		t.Fatal(err)
	}
	split := t.TempDir()
	if _, err := Run(context.Background(), interruptConfig(t, split, sets...), Options{Rewards: rewards, StopAfter: 2}); !errors.Is(err, ErrStopped) {
		t.Fatalf("StopAfter 2: want a stopped run, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopIn := func(point string, step int) {
		if point == "grpo/rollout" && step == 3 {
			cancel()
		}
	}
	if _, err := Run(ctx, interruptConfig(t, split, sets...), Options{Rewards: rewards, Resume: true, hook: stopIn}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stop inside step 3: want a stopped run, got %v", err)
	}
	if _, err := Run(context.Background(), interruptConfig(t, split, sets...), Options{Rewards: rewards, Resume: true}); err != nil {
		t.Fatal(err)
	}
	final := finalParams(t, straight)
	if final.Checksum() != finalParams(t, split).Checksum() {
		t.Fatal("stopped and resumed with the curriculum and refill on, the final weights differ from an uninterrupted run's")
	}
	if final.Checksum() == finalParamsInit(t, straight).Checksum() {
		t.Fatal("GRPO left the weights as they were")
	}
	recs, err := metrics.ReadFile(filepath.Join(straight, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var changes, rounds float64
	for _, r := range recs {
		if r.Phase == "grpo" {
			changes += r.Values[metrics.CurriculumChanges]
			rounds += r.Values[metrics.FillRounds]
			if _, ok := r.Values[metrics.CurriculumLevel("jigsaw")]; !ok {
				t.Fatalf("step %d: no curriculum level logged: %v", r.Step, r.Values)
			}
		}
	}
	_, st, _, err := ReadCheckpointState(interruptConfig(t, straight, sets...))
	if err != nil {
		t.Fatal(err)
	}
	levelDraws := 0
	for k, c := range st.Cursors {
		if strings.HasPrefix(k, "L") {
			levelDraws += c
		}
	}
	if changes == 0 || rounds == 0 || levelDraws == 0 {
		t.Fatalf("knob changes %v, refill rounds %v, draws from level pools %d: the run must exercise all three (cursors %v)", changes, rounds, levelDraws, st.Cursors)
	}
}
