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
		"| smooth | 2 | 15.0 ± 7.1 | 22.0 ± 2.8 | +7.0 ± 4.2 | 0.30 ± 0.00 |",
		"| strict | 1 | 10.0 | 10.0 | +0.0 | 0.30 |",
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
