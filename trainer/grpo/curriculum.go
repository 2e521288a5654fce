package grpo

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/tasks/dataset/opencv"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// The adaptive difficulty curriculum (curriculum.enabled). Each data source
// has three difficulty levels, each a pool of GRPO prompts generated before
// training (PrepareData): level 1 is the data section's own settings (the
// pool Data.Train), level 0 an easier and level 2 a harder setting of the
// source's generator knobs (levelGen). Every curriculum.every GRPO steps the
// controller (curriculumState.observe) reads each source's mean reward and
// share of zero-variance groups over the window and moves
//
//   - its level: harder when the mean reward is above target_reward + band,
//     easier when below target_reward - band, and, inside the band, away
//     from a share of zero-variance groups above max_zero_var (harder when
//     the reward is at or above the target: its groups are all right;
//     easier when below: all wrong);
//   - its mix weight: down by the factor 1 - step (floor min_weight x its
//     data.mix weight) when it was off target, else back up by 1 + step
//     towards its data.mix weight.
//
// Pools made beforehand, not samples generated on demand: the generators
// then never run inside the loop (a step's cost does not depend on the
// curriculum), a level's samples are the same in every run of the config
// (so runs and ablations compare), and a resumed run draws exactly what the
// uninterrupted one drew: the sampler's cursors are per level ("L0/jigsaw"),
// and the levels, weights and the window's sums are in the checkpoint's
// state (State.Curriculum).

const (
	// curriculumLevels is the number of difficulty levels per source.
	curriculumLevels = 3
	// baseLevel is the level of the data section's own settings.
	baseLevel = 1
	// curriculumPhase is the phase whose draws follow the curriculum.
	curriculumPhase = "grpo"
)

// levelKey is the sampler's cursor key of a source's level pool.
func levelKey(level int, src tasks.DataSource) string {
	return fmt.Sprintf("L%d/%s", level, src)
}

// levelGen returns the generator settings of a difficulty level: base's own
// at baseLevel; at level 0 longer grounding segments (a longer perturbed
// segment is easier to find, and the IoU reward forgives more), one class
// and one instance fewer to count, and fewer jigsaw clips (the next divisor
// of the frame count below clips); at level 2 shorter segments, one class
// (up to 3) and one instance more, and more clips. A knob at its end stays
// there (classes 1, clips 2, ...), so two levels may share a setting.
func levelGen(base tasks.GenConfig, level int) tasks.GenConfig {
	g := base
	frames := base.Sampling.Frames
	gr, co := base.Grounding, base.Counting
	switch level {
	case 0:
		g.Grounding.MinLen = min(gr.MaxLen, frames)
		g.Grounding.MaxLen = min(gr.MaxLen+(gr.MaxLen-gr.MinLen)+2, frames)
		g.Counting.Classes = max(1, co.Classes-1)
		g.Counting.MaxInstances = max(1, co.MaxInstances-1)
		g.Jigsaw.Clips = nextDivisor(frames, base.Jigsaw.Clips, -1)
	case 2:
		g.Grounding.MinLen = max(1, gr.MinLen-2)
		g.Grounding.MaxLen = gr.MinLen
		g.Counting.Classes = min(3, co.Classes+1)
		g.Counting.MaxInstances = co.MaxInstances + 1
		g.Jigsaw.Clips = nextDivisor(frames, base.Jigsaw.Clips, +1)
	}
	return g
}

// nextDivisor returns the next divisor of frames after clips in direction
// dir (-1 down, +1 up) within the jigsaw's 2..9 clips, or clips when there
// is none.
func nextDivisor(frames, clips, dir int) int {
	for c := clips + dir; c >= 2 && c <= 9; c += dir {
		if frames%c == 0 {
			return c
		}
	}
	return clips
}

// makeLevels generates the curriculum's pools other than the base level:
// per level, as many GRPO prompts per (video, task) as the base pool has
// (per), from the same videos, each level in its own dataset folder (reused
// when it exists). Their ids carry the level ("L0-..."), so they never
// share a prompt-cache entry with another level's.
func makeLevels(ctx context.Context, cfg *configs.Config, d *Data, videos []string, gen tasks.GenConfig, sources []tasks.DataSource, per int, wording *tasks.Prompts, progress io.Writer, logf func(string)) error {
	d.Levels = map[tasks.DataSource][][]tasks.Sample{}
	for _, src := range sources {
		d.Levels[src] = make([][]tasks.Sample, curriculumLevels)
		d.Levels[src][baseLevel] = d.Train[src]
	}
	d.levelDirs = map[string]string{}
	for level := range curriculumLevels {
		if level == baseLevel {
			continue
		}
		lg := levelGen(gen, level)
		if err := lg.Validate(); err != nil {
			return fmt.Errorf("curriculum: level %d of the data settings: %w", level, err)
		}
		seed := cfg.Seed ^ hashString("curriculum level "+strconv.Itoa(level))
		dir := filepath.Join(d.Dir, "train-"+settingsKey(withPrompts([]any{videos, lg, sources, per, seed, "curriculum", level}, wording)...))
		samples, _, err := dataset.Generate(ctx, dataset.GenRequest{
			Videos: videos, Out: dir, Tasks: sources, Config: lg, PerVideo: per, Seed: seed, Prompts: wording,
			Formats: []string{"jsonl"}, Progress: progress, Log: logf, Backend: opencv.Backend{},
		})
		if err != nil {
			return fmt.Errorf("curriculum: level %d samples: %w", level, err)
		}
		for _, s := range samples {
			s.ID = fmt.Sprintf("L%d-%s", level, s.ID)
			d.levelDirs[s.ID] = dir
			d.Levels[s.DataSource][level] = append(d.Levels[s.DataSource][level], s)
		}
		for _, src := range sources {
			if len(d.Levels[src][level]) == 0 {
				return fmt.Errorf("curriculum: level %d has no %s samples", level, src)
			}
			v := d.Levels[src][level]
			slices.SortFunc(v, func(a, b tasks.Sample) int { return strings.Compare(a.ID, b.ID) })
		}
	}
	return nil
}

// SourceTally is what a GRPO step saw of one data source: its responses'
// summed reward, and its groups and how many of them had equal rewards.
type SourceTally struct {
	RewardSum float64 `json:"reward_sum"`
	Responses int     `json:"responses"`
	Groups    int     `json:"groups"`
	ZeroVar   int     `json:"zero_var"`
}

func (a SourceTally) add(b SourceTally) SourceTally {
	return SourceTally{RewardSum: a.RewardSum + b.RewardSum, Responses: a.Responses + b.Responses, Groups: a.Groups + b.Groups, ZeroVar: a.ZeroVar + b.ZeroVar}
}

// CurriculumState is the curriculum's part of a run's state (State), saved
// in every checkpoint: the knobs and the window being gathered.
type CurriculumState struct {
	// Levels and Mix are each source's difficulty level and mix weight.
	Levels map[string]int     `json:"levels"`
	Mix    map[string]float64 `json:"mix"`
	// Window counts the GRPO steps gathered since the knobs last could
	// move; Tally sums their statistics per source.
	Window int                    `json:"window"`
	Tally  map[string]SourceTally `json:"tally"`
	// Changes counts the knob changes so far.
	Changes int `json:"changes"`
}

// knobChange is one move of the controller.
type knobChange struct {
	source, knob string // knob: "level" or "mix"
	from, to     float64
}

// newCurriculumState starts every source of the mix at cfg.StartLevel with
// its data.mix weight.
func newCurriculumState(cfg configs.CurriculumConfig, base map[tasks.DataSource]float64) *CurriculumState {
	st := &CurriculumState{Levels: map[string]int{}, Mix: map[string]float64{}, Tally: map[string]SourceTally{}}
	for src, w := range base {
		st.Levels[string(src)] = cfg.StartLevel
		st.Mix[string(src)] = w
	}
	return st
}

// observe adds a GRPO step's statistics per source to the window and, once
// it holds cfg.Every steps, moves the knobs (see the top of this file) and
// starts a new window. base are the data.mix weights. It returns the
// changes, in source order.
func (st *CurriculumState) observe(cfg configs.CurriculumConfig, base map[tasks.DataSource]float64, step map[tasks.DataSource]SourceTally) []knobChange {
	for src, t := range step {
		st.Tally[string(src)] = st.Tally[string(src)].add(t)
	}
	st.Window++
	if st.Window < max(1, cfg.Every) {
		return nil
	}
	var changes []knobChange
	for _, src := range slices.Sorted(maps.Keys(st.Levels)) {
		t := st.Tally[src]
		if t.Groups == 0 || t.Responses == 0 {
			continue // not drawn in the window: no evidence
		}
		mean := t.RewardSum / float64(t.Responses)
		zero := float64(t.ZeroVar) / float64(t.Groups)
		dir := 0
		switch {
		case mean > cfg.TargetReward+cfg.Band:
			dir = 1
		case mean < cfg.TargetReward-cfg.Band:
			dir = -1
		case zero > cfg.MaxZeroVar && mean >= cfg.TargetReward:
			dir = 1
		case zero > cfg.MaxZeroVar:
			dir = -1
		}
		if l := st.Levels[src]; dir != 0 && l+dir >= 0 && l+dir < curriculumLevels {
			st.Levels[src] = l + dir
			changes = append(changes, knobChange{source: src, knob: "level", from: float64(l), to: float64(l + dir)})
		}
		bw := base[tasks.DataSource(src)]
		w := st.Mix[src]
		nw := math.Min(bw, w*(1+cfg.Step))
		if dir != 0 {
			nw = math.Max(bw*cfg.MinWeight, w*(1-cfg.Step))
		}
		if nw != w {
			st.Mix[src] = nw
			changes = append(changes, knobChange{source: src, knob: "mix", from: w, to: nw})
		}
	}
	st.Window = 0
	st.Tally = map[string]SourceTally{}
	st.Changes += len(changes)
	return changes
}

// validate checks a checkpoint's curriculum state against the config's mix.
func (st *CurriculumState) validate(base map[tasks.DataSource]float64) error {
	for src := range base {
		l, ok := st.Levels[string(src)]
		if !ok {
			return fmt.Errorf("levels: no level for %s", src)
		}
		if l < 0 || l >= curriculumLevels {
			return fmt.Errorf("levels: %s: %d, want 0..%d", src, l, curriculumLevels-1)
		}
		if w := st.Mix[string(src)]; !(w > 0) || math.IsInf(w, 0) {
			return fmt.Errorf("mix: %s: %v, want a positive weight", src, w)
		}
	}
	for src := range st.Levels {
		if _, ok := base[tasks.DataSource(src)]; !ok {
			return fmt.Errorf("levels: %q is not a data source of the mix", src)
		}
	}
	if st.Window < 0 {
		return fmt.Errorf("window: %d is negative", st.Window)
	}
	return nil
}

// baseWeights are the sampler's data.mix weights by source.
func (s *sampler) baseWeights() map[tasks.DataSource]float64 {
	out := map[tasks.DataSource]float64{}
	for k, src := range s.sources {
		out[src] = s.weights[k]
	}
	return out
}

// initCurriculum gives the run's state its starting curriculum and the
// sampler the level pools (nothing when the curriculum is off).
func (t *Trainer) initCurriculum() error {
	if !t.cfg.Curriculum.Enabled {
		return nil
	}
	d := t.draw
	d.levelPools = map[tasks.DataSource][][]tasks.Sample{}
	for _, src := range d.sources {
		pools := t.data.Levels[src]
		if len(pools) != curriculumLevels {
			return fmt.Errorf("curriculum: no difficulty levels for %s", src)
		}
		for l, p := range pools {
			if len(p) == 0 {
				return fmt.Errorf("curriculum: level %d of %s has no samples", l, src)
			}
		}
		d.levelPools[src] = pools
	}
	t.baseMix = d.baseWeights()
	t.state.Curriculum = newCurriculumState(t.cfg.Curriculum, t.baseMix)
	t.applyCurriculum()
	return nil
}

// applyCurriculum sets the sampler's levels and weights from the state.
func (t *Trainer) applyCurriculum() {
	c := t.state.Curriculum
	if c == nil {
		return
	}
	d := t.draw
	d.level = map[tasks.DataSource]int{}
	for k, src := range d.sources {
		d.level[src] = c.Levels[string(src)]
		d.weights[k] = c.Mix[string(src)]
	}
}

// curriculumStep feeds a completed GRPO step to the curriculum, applies
// its changes to the sampler (the next step draws with them) and adds the
// knobs in effect for the step, and the number of changes made after it,
// to the step's metrics.
func (t *Trainer) curriculumStep(st StepStats, m map[string]float64) {
	c := t.state.Curriculum
	if c == nil {
		return
	}
	for src, l := range c.Levels {
		m[metrics.CurriculumLevel(src)] = float64(l)
		m[metrics.MixWeight(src)] = c.Mix[src]
	}
	changes := c.observe(t.cfg.Curriculum, t.baseMix, st.SourceTallies)
	m[metrics.CurriculumChanges] = float64(len(changes))
	for _, ch := range changes {
		t.log.Info("curriculum", "source", ch.source, "knob", ch.knob, "from", ch.from, "to", ch.to, "grpo_step", t.state.GRPOStep)
	}
	t.applyCurriculum()
}
