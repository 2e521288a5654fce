package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/configs"
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
		cfgs, sets                               []string
		prompts, group, maxNew, text, runs, side int
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
			cfg, err := configs.Load(cfgs, sets)
			if err != nil {
				return err
			}
			tok, err := grpo.LoadTokenizer(cfg.Model.Tokenizer)
			if err != nil {
				return err
			}
			c, err := grpo.TinyModel(tok)
			if err != nil {
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
			opt := model.PolicyOptions{Graphs: []string{model.GraphVision, model.GraphPrefill, model.GraphDecode},
				Session: ort.Options{Provider: cfg.Device.Provider, DeviceID: cfg.Device.DeviceID, IntraOpThreads: cfg.Device.IntraOpThreads, InterOpThreads: cfg.Device.InterOpThreads}}
			pol, err := model.NewPolicy(rt, c, store, opt)
			if err != nil {
				return err
			}
			defer pol.Close()
			ps, err := rollout.SyntheticPrompts(c, prompts, text, cfg.Data.Sampling.Frames, side, 1)
			if err != nil {
				return err
			}
			eng := rollout.NewEngine(pol, c, tok, c.BosTokenID)
			s := rollout.Sampling{Temperature: 1, TopP: 1, MaxNewTokens: maxNew}
			tp, err := rollout.MeasureThroughput(cmd.Context(), eng, store.NumParams(), ps, group, s, runs)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "model: tiny Qwen2-VL, %d parameters; %d prompts x G=%d = %d rows, prompt %d tokens, %d new tokens\n",
				store.NumParams(), prompts, group, tp.Rows, tp.PromptTokens, maxNew)
			fmt.Fprintf(w, "prefill (vision + prompt): %8.0f tokens/s\n", tp.PrefillTPS)
			fmt.Fprintf(w, "decode:                    %8.0f tokens/s  (%.2f ms per step of up to %d rows)\n", tp.DecodeTPS, 1e3*tp.StepSeconds, tp.Rows)
			fmt.Fprintf(w, "bandwidth bound:           %.1f MB read per step at %.1f GB/s copy bandwidth = %.2f ms\n",
				float64(tp.StepBytes)/1e6, tp.Bandwidth/1e9, 1e3*tp.BoundSeconds)
			fmt.Fprintf(w, "decode at %.0f%% of the memory-bandwidth bound\n", 100*tp.Ratio)
			return nil
		},
	}
	fl := roll.Flags()
	fl.StringSliceVar(&cfgs, "config", nil, "config files (model, device and frame settings)")
	fl.StringArrayVar(&sets, "set", nil, "override one config key (key=value)")
	fl.IntVar(&prompts, "prompts", 8, "prompts per batch")
	fl.IntVar(&group, "group", 8, "responses per prompt (G)")
	fl.IntVar(&maxNew, "max-new", 12, "new tokens per response")
	fl.IntVar(&text, "text", 100, "text tokens per prompt (around the video)")
	fl.IntVar(&side, "side", 56, "frame side in pixels (a multiple of 28)")
	fl.IntVar(&runs, "runs", 5, "timed runs (after one warm-up)")
	bench.AddCommand(roll)
	return bench
}
