package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/trainer/grpo"
)

func TestWriteReport(t *testing.T) {
	res := func(seed uint64, mode string, before, after float64) *grpo.Result {
		return &grpo.Result{Seed: seed, Reward: mode, RunDir: "r", Before: &reward.VIUBenchReport{Overall: before}, After: &reward.VIUBenchReport{Overall: after}, ZeroVarFirst: 0.2, ZeroVarLast: 0.4}
	}
	var b bytes.Buffer
	writeReport(&b, []*grpo.Result{res(1, "smooth", 0.10, 0.20), res(2, "smooth", 0.20, 0.24), res(1, "strict", 0.1, 0.1)})
	out := b.String()
	for _, want := range []string{
		"| r | smooth | 1 | 10.0 | 20.0 | +10.0 |",
		// mean ± sample sd: before 15 ± 7.1, after 22 ± 2.8, change +7 ± 4.2
		"| smooth | 2 | 15.0 ± 7.1 | 22.0 ± 2.8 | +7.0 ± 4.2 | - | +0.000 ± 0.000 | 0.30 ± 0.00 | - |",
		// strict's 10.0 against smooth's 22.0 ± 2.8: -12.0, beyond the spread
		"| strict | 1 | 10.0 | 10.0 | +0.0 | - | +0.000 | 0.30 | -12.0 (spread 2.8): larger than the seed spread |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportGroupsBySeedlessDirName(t *testing.T) {
	for dir, want := range map[string]string{"runs/seeds/no-kl-seed2": "no-kl", "runs/seeds/smooth-seed13": "smooth", "runs/mine": "strict"} {
		if got := groupOf(&grpo.Result{RunDir: dir, Reward: "strict"}); got != want {
			t.Errorf("groupOf(%s) = %q, want %q", dir, got, want)
		}
	}
}

// TestWriteReportWithoutHeldout: a run without held-out videos (no
// VIUBench, After nil) is reported with its training numbers, not a panic.
func TestWriteReportWithoutHeldout(t *testing.T) {
	var b bytes.Buffer
	writeReport(&b, []*grpo.Result{{Seed: 1, Reward: "smooth", RunDir: "r", RewardFirst: 0.2, RewardLast: 0.3}})
	if out := b.String(); !strings.Contains(out, "| r | smooth | 1 | NaN | NaN | +NaN | 0.200 → 0.300 |") {
		t.Errorf("report:\n%s", out)
	}
}

// TestReportVersusSpreadAndJigsaw: a variant whose mean differs from the
// default's by less than the seed spread is said to be within it; the
// jigsaw column is the mean of the jigsaw subtypes and the rise column the
// last-minus-first-quarter training reward.
func TestReportVersusSpreadAndJigsaw(t *testing.T) {
	rep := func(overall, jig float64) *reward.VIUBenchReport {
		return &reward.VIUBenchReport{Overall: overall, Subtypes: []reward.SubtypeResult{
			{Subtype: "counting_easy", N: 4, Mean: 0.9}, {Subtype: "jigsaw_easy", N: 4, Mean: jig}, {Subtype: "jigsaw_hard", N: 4, Mean: 0}}}
	}
	res := func(dir string, after, jig, first, last float64) *grpo.Result {
		return &grpo.Result{RunDir: dir, Reward: "smooth", Before: rep(0.1, 0), After: rep(after, jig), RewardFirst: first, RewardLast: last}
	}
	var b bytes.Buffer
	writeReport(&b, []*grpo.Result{
		res("o/smooth-seed1", 0.20, 0.5, 0.3, 0.4), res("o/smooth-seed2", 0.30, 0.3, 0.3, 0.36),
		res("o/no-kl-seed1", 0.22, 0.1, 0.3, 0.3), res("o/no-kl-seed2", 0.31, 0.1, 0.3, 0.3),
	})
	out := b.String()
	for _, want := range []string{
		// smooth: after 25 ± 7.1, jigsaw (25 + 15)/2 = 20 ± 7.1, rise 0.08 ± 0.028
		"| smooth | 2 | 10.0 ± 0.0 | 25.0 ± 7.1 | +15.0 ± 7.1 | 20.0 ± 7.1 | +0.080 ± 0.028 |",
		// no-kl: 26.5 against 25.0, spread max(6.4, 7.1)
		"| no-kl | 2 | 10.0 ± 0.0 | 26.5 ± 6.4 | +16.5 ± 6.4 | 5.0 ± 0.0 | +0.000 ± 0.000 | 0.00 ± 0.00 | +1.5 (spread 7.1): within the seed spread |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
