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

	"github.com/videossr/videossr-go/reward"
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
	fmt.Fprintln(w, "| runs of | runs | VIUBench before | VIUBench after | change | jigsaw after | train reward rise (last − first quarter) | zero-variance groups (mean over GRPO) | VIUBench after vs smooth |")
	fmt.Fprintln(w, "|--|--|--|--|--|--|--|--|--|")
	base := summarise(groups["smooth"])
	for _, k := range keys {
		g := summarise(groups[k])
		vs := "-"
		if k != "smooth" && len(base.after) > 0 && len(g.after) > 0 {
			vs = versus(g.after, base.after)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", k, len(groups[k]), meanSD(g.before, "%.1f"), meanSD(g.after, "%.1f"),
			meanSD(g.change, "%+.1f"), meanSD(g.jigsaw, "%.1f"), meanSD(g.rise, "%+.3f"), meanSD(g.zeroVar, "%.2f"), vs)
	}
}

// summary holds one group's per-run figures (VIUBench x100).
type summary struct {
	before, after, change, jigsaw, rise, zeroVar []float64
}

func summarise(g []*grpo.Result) summary {
	var s summary
	for _, r := range g {
		s.zeroVar = append(s.zeroVar, (r.ZeroVarFirst+r.ZeroVarLast)/2)
		s.rise = append(s.rise, r.RewardLast-r.RewardFirst)
		if r.After == nil {
			continue
		}
		if r.Before != nil {
			s.before = append(s.before, 100*r.Before.Overall)
			s.change = append(s.change, 100*(r.After.Overall-r.Before.Overall))
		}
		s.after = append(s.after, 100*r.After.Overall)
		if j, ok := jigsawScore(r.After); ok {
			s.jigsaw = append(s.jigsaw, j)
		}
	}
	return s
}

// jigsawScore is the mean of a report's jigsaw subtypes x100.
func jigsawScore(r *reward.VIUBenchReport) (float64, bool) {
	var sum float64
	n := 0
	for _, st := range r.Subtypes {
		if strings.HasPrefix(st.Subtype, "jigsaw") && st.N > 0 {
			sum += 100 * st.Mean
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// versus compares a group's held-out scores with the default's: the
// difference of the means, and whether it is larger than the seed spread
// (the larger of the two groups' sample standard deviations over seeds).
func versus(xs, base []float64) string {
	mx, sx := meanStd(xs)
	mb, sb := meanStd(base)
	d, spread := mx-mb, max(sx, sb)
	verdict := "within the seed spread"
	if math.Abs(d) > spread {
		verdict = "larger than the seed spread"
	}
	return fmt.Sprintf("%+.1f (spread %.1f): %s", d, spread, verdict)
}

// meanStd returns the mean and sample standard deviation (0 for one value).
func meanStd(xs []float64) (float64, float64) {
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= float64(len(xs))
	if len(xs) < 2 {
		return m, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - m) * (x - m)
	}
	return m, math.Sqrt(ss / float64(len(xs)-1))
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
	m, sd := meanStd(xs)
	if len(xs) == 1 {
		return fmt.Sprintf(f, m)
	}
	return fmt.Sprintf(f+" ± "+strings.Replace(f, "+", "", 1), m, sd)
}
