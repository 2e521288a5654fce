package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/trainer/grpo"
)

func newBenchCmd() *cobra.Command {
	bench := &cobra.Command{
		Use:   "bench",
		Short: "Measure the speed of parts of the system",
	}
	var (
		cf                                       *configFlags
		prompts, group, maxNew, text, runs, side int
		hidden, layers, inter                    int
	)
	roll := &cobra.Command{
		Use:   "rollout",
		Short: "Prefill and decode tokens/s of the configured model, and the decode step against the memory-bandwidth bound",
		Long: `bench rollout generates groups of responses with the configured model
(random weights, prompts shaped like the pretext tasks': text around one
video) and prints prefill and decode throughput. It also relates the mean
decode step time to the time the step's memory traffic needs at this
machine's measured copy bandwidth (weights + the KV cache of every row
read once per step): a ratio of 1 would mean decode runs at the memory
bandwidth bound.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			tok, err := model.LoadTokenizer(cfg.Model.Tokenizer)
			if err != nil {
				return err
			}
			c, err := model.TinyFor(tok)
			if err != nil {
				return err
			}
			// Optional larger decoder (same architecture) to see where the
			// step turns memory-bound.
			if hidden > 0 {
				c.HiddenSize, c.VisionConfig.HiddenSize = hidden, hidden
				c.NumAttentionHeads = max(1, hidden/64)
				c.NumKeyValueHeads = max(1, c.NumAttentionHeads/4)
				c.IntermediateSize = 3 * hidden
				if inter > 0 {
					c.IntermediateSize = inter
				}
				hd := hidden / c.NumAttentionHeads
				t := hd / 2 / 4
				c.RopeScaling.MropeSection = []int{hd/2 - 2*((hd/2-t)/2), (hd/2 - t) / 2, (hd/2 - t) / 2}
			}
			if layers > 0 {
				c.NumHiddenLayers = layers
			}
			if err := c.Validate(); err != nil {
				return err
			}
			store, err := c.InitParams(cfg.Model.InitSeed)
			if err != nil {
				return err
			}
			rt, err := ort.Open(cfg.Device.Library)
			if err != nil {
				return err
			}
			defer rt.Close()
			base, per := grpo.PolicySessions(cfg.Device)
			opt := model.PolicyOptions{Graphs: []string{model.GraphVision, model.GraphPrefill, model.GraphDecodeStatic}, Session: base, GraphSession: per}
			pol, err := model.NewPolicy(rt, c, store, opt)
			if err != nil {
				return err
			}
			defer pol.Close()
			eng := rollout.NewEngine(pol, c, tok, c.BosTokenID)
			s := rollout.Sampling{Temperature: 1, TopP: 1, MaxNewTokens: maxNew}
			w := cmd.OutOrStdout()
			bw := rollout.CopyBandwidth()
			fmt.Fprintf(w, "model: Qwen2-VL architecture, %d parameters (%.1f MB float32); prompts of %d text tokens + one %d-frame %dx%d video; %d new tokens; copy bandwidth %.1f GB/s\n",
				store.NumParams(), 4*float64(store.NumParams())/1e6, text, cfg.Data.Sampling.Frames, side, side, maxNew, bw/1e9)
			fmt.Fprintf(w, "%8s %6s %12s %12s %10s %12s %10s %8s\n", "prompts", "G", "prefill t/s", "decode t/s", "ms/step", "MB/step", "bound ms", "ratio")
			shapes := [][2]int{{1, 1}, {1, group}, {prompts, group}}
			if group == 1 {
				shapes = [][2]int{{1, 1}, {prompts, 1}}
			}
			for _, sh := range shapes {
				ps, err := rollout.SyntheticPrompts(c, sh[0], text, cfg.Data.Sampling.Frames, side, 1)
				if err != nil {
					return err
				}
				tp, err := rollout.MeasureThroughput(cmd.Context(), eng, store.NumParams(), ps, sh[1], s, runs)
				if err != nil {
					return err
				}
				bound := float64(tp.StepBytes) / bw
				fmt.Fprintf(w, "%8d %6d %12.0f %12.0f %10.2f %12.1f %10.2f %7.0f%%\n", sh[0], sh[1], tp.PrefillTPS, tp.DecodeTPS,
					1e3*tp.StepSeconds, float64(tp.StepBytes)/1e6, 1e3*bound, 100*bound/tp.StepSeconds)
			}
			fmt.Fprintln(w, "ratio = (bytes a decode step must read: weights + every row's KV cache) / copy bandwidth, over the measured step time.")
			fmt.Fprintln(w, "Above 100%: the weights stay in the CPU caches; low at many rows: the step is compute-bound, not memory-bound.")
			return nil
		},
	}
	cf = addConfigFlags(roll)
	fl := roll.Flags()
	fl.IntVar(&prompts, "prompts", 8, "prompts per batch")
	fl.IntVar(&group, "group", 8, "responses per prompt (G)")
	fl.IntVar(&maxNew, "max-new", 12, "new tokens per response")
	fl.IntVar(&text, "text", 100, "text tokens per prompt (around the video)")
	fl.IntVar(&side, "side", 56, "frame side in pixels (a multiple of 28)")
	fl.IntVar(&runs, "runs", 5, "timed runs (after one warm-up)")
	fl.IntVar(&hidden, "hidden", 0, "decoder width (0 = the configured model; heads = hidden/64, kv heads = heads/4)")
	fl.IntVar(&layers, "layers", 0, "decoder layers (0 = the configured model)")
	fl.IntVar(&inter, "intermediate", 0, "MLP width (0 = 3 x hidden)")
	bench.AddCommand(roll)
	return bench
}
