package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/trainer/grpo"
)

func newReportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "report RUN_DIR...",
		Short: "Compare finished runs: held-out VIUBench before/after GRPO, training reward and zero-variance groups",
		Long: `report reads RUN_DIR/result.json of finished runs (several seeds, ablations)
and prints one Markdown row per run and, per group of runs (the directory
name without its -seedN ending, else the reward mode), the mean and
standard deviation over its runs.`,
		Example: `  trainer report runs/seed1 runs/seed2 runs/seed3 runs/strict1`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var rs []*grpo.Result
			for _, d := range args {
				r, err := grpo.ReadResult(d)
				if err != nil {
					return err
				}
				r.RunDir = d
				rs = append(rs, r)
			}
			writeReport(cmd.OutOrStdout(), rs)
			return nil
		},
	}
}

func writeReport(w io.Writer, rs []*grpo.Result) {
	fmt.Fprintln(w, "| run | reward | seed | VIUBench before | VIUBench after | change | train reward (first → last quarter) | zero-variance groups (first → last quarter) |")
	fmt.Fprintln(w, "|--|--|--|--|--|--|--|--|")
	groups := map[string][]*grpo.Result{}
	for _, r := range rs {
		before := math.NaN()
		if r.Before != nil {
			before = 100 * r.Before.Overall
		}
		after := math.NaN() // a run without held-out videos has no VIUBench
		if r.After != nil {
			after = 100 * r.After.Overall
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.1f | %.1f | %+.1f | %.3f → %.3f | %.2f → %.2f |\n", r.RunDir, r.Reward, r.Seed, before, after, after-before,
			r.RewardFirst, r.RewardLast, r.ZeroVarFirst, r.ZeroVarLast)
		groups[groupOf(r)] = append(groups[groupOf(r)], r)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| runs of | runs | VIUBench before | VIUBench after | change | zero-variance groups (mean over GRPO) |")
	fmt.Fprintln(w, "|--|--|--|--|--|--|")
	for _, k := range keys {
		g := groups[k]
		var b, a, d, z []float64
		for _, r := range g {
			if r.After == nil {
				z = append(z, (r.ZeroVarFirst+r.ZeroVarLast)/2)
				continue
			}
			if r.Before != nil {
				b = append(b, 100*r.Before.Overall)
				d = append(d, 100*(r.After.Overall-r.Before.Overall))
			}
			a = append(a, 100*r.After.Overall)
			z = append(z, (r.ZeroVarFirst+r.ZeroVarLast)/2)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", k, len(g), meanSD(b, "%.1f"), meanSD(a, "%.1f"), meanSD(d, "%+.1f"), meanSD(z, "%.2f"))
	}
}

// seedSuffix matches the "-seedN" ending of run directories made by
// scripts/seeds.sh and scripts/ablations.sh.
var seedSuffix = regexp.MustCompile(`-seed[0-9]+$`)

// groupOf is the group a run is summarised in: its directory name without
// a -seedN ending (e.g. smooth, strict, no-kl), else its reward mode.
func groupOf(r *grpo.Result) string {
	base := filepath.Base(r.RunDir)
	if seedSuffix.MatchString(base) {
		return seedSuffix.ReplaceAllString(base, "")
	}
	return r.Reward
}

// meanSD formats the mean ± sample standard deviation of xs.
func meanSD(xs []float64, f string) string {
	if len(xs) == 0 {
		return "-"
	}
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	if len(xs) == 1 {
		return fmt.Sprintf(f, m)
	}
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return fmt.Sprintf(f+" ± "+strings.Replace(f, "+", "", 1), m, math.Sqrt(ss/float64(len(xs)-1)))
}
