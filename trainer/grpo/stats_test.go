package grpo

import (
	"maps"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/trainer/metrics"
)

// TestStepStatsMetrics: the metric names a GRPO step writes, with and
// without an update, and with every update skipped (no grad_norm).
func TestStepStatsMetrics(t *testing.T) {
	base := []string{metrics.RolloutSeconds, metrics.RolloutTokensPerS, metrics.ResponseLength, metrics.RewardMean,
		metrics.ZeroVarFrac, metrics.RowsTrained, metrics.Skipped, metrics.StepSeconds,
		metrics.SourceRewardMean("counting"), metrics.SourceRewardStd("counting")}
	update := []string{metrics.Loss, metrics.PGLoss, metrics.KL, metrics.PPOKL, metrics.Entropy, metrics.ClipFrac, metrics.LR}
	src := map[tasks.DataSource]RewardStats{tasks.Counting: {Mean: 0.5, Std: 0.25}}
	cases := []struct {
		name string
		st   StepStats
		want []string
	}{
		{"no rows", StepStats{SourceRewards: src, Skipped: 1}, base},
		{"updated", StepStats{SourceRewards: src, Updates: 2, Skipped: 1, GradNorm: 3}, append(append(slices.Clone(base), update...), metrics.GradNorm)},
		{"all skipped", StepStats{SourceRewards: src, Updates: 2, Skipped: 2}, append(slices.Clone(base), update...)},
		{"resident", StepStats{SourceRewards: src, Skipped: 1, Moved: &ort.Transfers{}}, append(slices.Clone(base), metrics.H2DBytes, metrics.D2HBytes)},
	}
	for _, c := range cases {
		m := c.st.Metrics()
		got := slices.Sorted(maps.Keys(m))
		want := slices.Sorted(slices.Values(c.want))
		if !slices.Equal(got, want) {
			t.Errorf("%s: metrics %v, want %v", c.name, got, want)
		}
		if m[metrics.SourceRewardStd("counting")] != 0.25 {
			t.Errorf("%s: reward/counting/std %v", c.name, m[metrics.SourceRewardStd("counting")])
		}
	}
	if m := (SFTStats{Loss: 2, Skipped: true}).Metrics(); len(m) != 2 || m[metrics.Skipped] != 1 || m[metrics.Loss] != 2 {
		t.Errorf("skipped warm-up step: %v", m)
	}
}
