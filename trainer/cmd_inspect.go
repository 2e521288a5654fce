package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/tasks/dataset"
	"github.com/videossr/videossr-go/trainer/grpo"
	"github.com/videossr/videossr-go/trainer/metrics"
)

func newInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect PATH...",
		Short: "Describe a run directory, a model folder, a dataset directory or a JSONL file",
		Long: `inspect tells what a path holds, without loading a model or decoding video:

  - a run directory (config.yaml, checkpoints/): phase and steps, the latest
    checkpoint, the last training metrics and, when finished, the held-out
    scores before and after GRPO;
  - a model folder (config.json + model.safetensors: final/, a checkpoint,
    an export, a Hugging Face folder): architecture, sizes, parameter count
    and dtypes, LoRA adapters;
  - a dataset directory (manifest.json, from 'trainer gen' or 'trainer
    viubench build'): samples per task and subtype, videos, skipped inputs;
  - a JSONL sample file: rows per data source and subtype, and the first row;
  - a rollout log (rollouts/step-XXXXXX.jsonl, logging.rollouts_every):
    each prompt's sampled responses with rewards, advantages and lengths;
    a rollouts/ folder lists its logs.`,
		Example: `  trainer inspect runs/default
  trainer inspect runs/default/final runs/default/data/viubench-*
  trainer inspect runs/default/rollouts/step-000040.jsonl`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			var errs []error
			for i, p := range args {
				if i > 0 {
					fmt.Fprintln(w)
				}
				if err := inspectPath(w, p); err != nil {
					errs = append(errs, err)
					fmt.Fprintf(w, "%s: %v\n", p, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// inspectPath describes one path by what it holds.
func inspectPath(w io.Writer, p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	switch {
	case !st.IsDir() && metrics.IsRolloutFile(p):
		return inspectRollouts(w, p)
	case st.IsDir() && filepath.Base(filepath.Clean(p)) == metrics.RolloutsDir:
		return inspectRolloutDir(w, filepath.Dir(filepath.Clean(p)))
	case !st.IsDir() && strings.HasSuffix(p, ".jsonl"):
		return inspectJSONL(w, p)
	case !st.IsDir():
		return fmt.Errorf("not a run, model or dataset directory, nor a .jsonl file")
	case exists(filepath.Join(p, "config.yaml")) && exists(filepath.Join(p, "checkpoints")):
		return inspectRun(w, p)
	case exists(filepath.Join(p, model.ConfigFile)):
		return inspectModel(w, p)
	case exists(filepath.Join(p, dataset.ManifestName)):
		return inspectDataset(w, p)
	}
	return fmt.Errorf("not a run directory (config.yaml + checkpoints/), model folder (config.json) or dataset (manifest.json)")
}

func inspectRun(w io.Writer, dir string) error {
	fmt.Fprintf(w, "%s: run directory\n", dir)
	ck, err := grpo.LatestCheckpoint(dir)
	if err != nil {
		fmt.Fprintf(w, "  no checkpoint yet\n")
	} else {
		var st grpo.State
		if b, err := os.ReadFile(filepath.Join(ck, "state.json")); err == nil && json.Unmarshal(b, &st) == nil {
			fmt.Fprintf(w, "  latest checkpoint %s: phase %s, warm-up step %d, GRPO step %d\n", filepath.Base(ck), st.Phase, st.SFTStep, st.GRPOStep)
		}
	}
	if recs, err := metrics.ReadFile(filepath.Join(dir, "metrics.jsonl")); err == nil && len(recs) > 0 {
		for _, phase := range []string{"sft", "grpo"} {
			for i := len(recs) - 1; i >= 0; i-- {
				if recs[i].Phase != phase {
					continue
				}
				fmt.Fprintf(w, "  last %s step %d: %s\n", phase, recs[i].Step, headline(recs[i].Values))
				break
			}
		}
	}
	if files, err := metrics.ListRollouts(dir); err == nil && len(files) > 0 {
		last := files[len(files)-1]
		fmt.Fprintf(w, "  rollout logs: %d (steps %d..%d); show one with: trainer inspect %s\n", len(files), files[0].Step, last.Step, last.Path)
	}
	if r, err := grpo.ReadResult(dir); err == nil {
		before := math.NaN()
		if r.Before != nil {
			before = 100 * r.Before.Overall
		}
		if r.After == nil {
			fmt.Fprintf(w, "  finished: no held-out VIUBench; training reward %.3f -> %.3f; zero-variance groups %.2f -> %.2f\n",
				r.RewardFirst, r.RewardLast, r.ZeroVarFirst, r.ZeroVarLast)
		} else {
			fmt.Fprintf(w, "  finished: held-out VIUBench %.1f -> %.1f (%d questions); training reward %.3f -> %.3f; zero-variance groups %.2f -> %.2f\n",
				before, 100*r.After.Overall, r.After.Total(), r.RewardFirst, r.RewardLast, r.ZeroVarFirst, r.ZeroVarLast)
		}
	} else {
		fmt.Fprintf(w, "  not finished (no %s); continue it with: go run ./trainer --resume %s\n", grpo.ResultFile, dir)
	}
	return nil
}

// headline formats the metrics a person looks at first.
func headline(v map[string]float64) string {
	var parts []string
	for _, k := range metrics.Headline() {
		if x, ok := v[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.4g", k, x))
		}
	}
	return strings.Join(parts, ", ")
}

func inspectModel(w io.Writer, dir string) error {
	c, err := model.LoadJSON(filepath.Join(dir, model.ConfigFile))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: model folder, %s (%s)\n", dir, c.ModelType, strings.Join(c.Architectures, ", "))
	fmt.Fprintf(w, "  decoder: hidden %d, %d layers, %d heads / %d KV heads, MLP %d, vocabulary %d, tied embeddings %v\n",
		c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize, c.VocabSize, c.TieWordEmbeddings)
	v := c.VisionConfig
	fmt.Fprintf(w, "  vision: depth %d, width %d, %d heads, patch %d, temporal patch %d, merge %dx%d\n",
		v.Depth, v.EmbedDim, v.NumHeads, v.PatchSize, v.TemporalPatchSize, v.SpatialMergeSize, v.SpatialMergeSize)
	counts, params, err := weightStats(dir)
	if err != nil {
		fmt.Fprintf(w, "  weights: %v\n", err)
	} else {
		var dts []string
		for d, n := range counts {
			dts = append(dts, fmt.Sprintf("%d %s", n, d))
		}
		sort.Strings(dts)
		fmt.Fprintf(w, "  weights: %d parameters in %s tensors\n", params, strings.Join(dts, " + "))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "adapter", model.AdapterConfigFile)); err == nil {
		if l, base, err := model.ParseAdapterConfig(b); err == nil {
			fmt.Fprintf(w, "  LoRA adapters (adapter/): rank %d, alpha %g, dropout %g, targets %s, base %q\n", l.Rank, l.Alpha, l.Dropout, strings.Join(l.TargetModules, ","), base)
		}
	}
	if bp := filepath.Join(dir, "base.json"); exists(bp) {
		ref, err := model.ReadBaseRef(bp)
		if err != nil {
			return err
		}
		where := ref.Path
		if ref.Preset == "tiny" {
			where = fmt.Sprintf("init seed %d", ref.InitSeed)
		}
		fmt.Fprintf(w, "  frozen base (base.json, not in this folder): %s %s, held as %s, checksum %.12s\n", ref.Preset, where, ref.DType, ref.Checksum)
	}
	if exists(filepath.Join(dir, "tokenizer.json")) {
		fmt.Fprintf(w, "  tokenizer.json present\n")
	}
	return nil
}

// weightStats counts tensors per dtype and parameters of a folder's
// weights (single file or sharded), reading only the headers.
func weightStats(dir string) (map[string]int, int64, error) {
	ix, err := safetensors.OpenIndex(dir)
	if err != nil {
		return nil, 0, err
	}
	counts := map[string]int{}
	var params int64
	for _, name := range ix.Names() {
		ti, _, _ := ix.Info(name)
		counts[ti.DType]++
		n := int64(1)
		for _, d := range ti.Shape {
			n *= d
		}
		params += n
	}
	return counts, params, nil
}

func inspectDataset(w io.Writer, dir string) error {
	m, err := dataset.ReadManifest(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: dataset (%s, split %s, seed %d): %d samples from %d videos\n", dir, m.Kind, m.Split, m.Seed, m.Total, m.Videos)
	fmt.Fprintf(w, "  per task: %s\n", formatCounts(m.Counts))
	fmt.Fprintf(w, "  per subtype: %s\n", formatCounts(m.Subtypes))
	for _, s := range m.Skipped {
		fmt.Fprintf(w, "  skipped %s: %s\n", s.Video, s.Reason)
	}
	if len(m.Failed) > 0 {
		fmt.Fprintf(w, "  %d failed samples\n", len(m.Failed))
	}
	return nil
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func inspectJSONL(w io.Writer, path string) error {
	rows, err := dataset.ReadJSONLFile(path)
	if err != nil {
		return err
	}
	sources, subtypes := map[string]int{}, map[string]int{}
	for _, r := range rows {
		sources[string(r.DataSource)]++
		subtypes[r.Subtype]++
	}
	fmt.Fprintf(w, "%s: %d rows\n  per data source: %s\n  per subtype: %s\n", path, len(rows), formatCounts(sources), formatCounts(subtypes))
	if len(rows) > 0 {
		r := rows[0]
		fmt.Fprintf(w, "  first row %s (%s, %d video inputs): answer %q\n", r.ID, r.Subtype, len(r.Frames.Videos()), r.Answer)
		for _, m := range r.Prompt {
			fmt.Fprintf(w, "    %s: %s\n", m.Role, strings.ReplaceAll(m.Content, "\n", " | "))
		}
	}
	return nil
}

// inspectRolloutDir lists the rollout logs of a run.
func inspectRolloutDir(w io.Writer, runDir string) error {
	files, err := metrics.ListRollouts(runDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d rollout logs\n", filepath.Join(runDir, metrics.RolloutsDir), len(files))
	for _, f := range files {
		fmt.Fprintf(w, "  step %d: %s\n", f.Step, f.Path)
	}
	return nil
}

// inspectRollouts prints a rollout log: per prompt its sample, answer and
// prompt, then each response with its reward, advantage and length.
func inspectRollouts(w io.Writer, path string) error {
	groups, err := metrics.ReadRollouts(path)
	if err != nil {
		return err
	}
	var n int
	var sum float64
	for _, g := range groups {
		for _, r := range g.Responses {
			n++
			sum += float64(r.Reward)
		}
	}
	step := -1
	if len(groups) > 0 {
		step = groups[0].Step
	}
	mean := math.NaN()
	if n > 0 {
		mean = sum / float64(n)
	}
	fmt.Fprintf(w, "%s: rollouts of step %d: %d prompts, %d responses, mean reward %.4g\n", path, step, len(groups), n, mean)
	for _, g := range groups {
		fmt.Fprintf(w, "  %s (%s", g.SampleID, g.DataSource)
		if g.Subtype != "" && g.Subtype != g.DataSource {
			fmt.Fprintf(w, ", %s", g.Subtype)
		}
		fmt.Fprintf(w, "): answer %q\n    prompt: %s\n", g.Answer, oneLine(g.Prompt, 160))
		for i, r := range g.Responses {
			finish := ""
			if r.Finish != "" {
				finish = ", " + r.Finish
			}
			fmt.Fprintf(w, "    %2d. reward %.4g, advantage %+.4g, %d tokens%s: %q\n", i+1, float64(r.Reward), float64(r.Advantage), r.Tokens, finish, oneLine(r.Text, 120))
		}
	}
	return nil
}

// oneLine shows text on one line (newlines as " | "), cut to at most max
// runes with "...".
func oneLine(s string, max int) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "..."
	}
	return s
}
