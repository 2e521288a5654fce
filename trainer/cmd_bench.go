package main

import (
	"cmp"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/trainer/grpo"
	"github.com/videossr/videossr-go/trainer/sysinfo"
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
bandwidth bound.

The memory bound uses this machine's single-thread read bandwidth (a
read-only scan: the step reads its weights and cache, it does not copy
them) and the compute bound the float32 matrix-product rate ONNX Runtime
reaches here with the rollout's threads (a 512x512 MatMul); the ratio holds
the larger of the two against the measured step.`,
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
			bw := rollout.ReadBandwidth()
			ro := base
			if o, ok := per[model.GraphDecodeStatic]; ok {
				ro = o
			}
			rate, err := rollout.MatMulRate(cmd.Context(), rt, ro)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "model: Qwen2-VL architecture, %d parameters (%.1f MB float32); prompts of %d text tokens + one %d-frame %dx%d video; %d new tokens\n",
				store.NumParams(), 4*float64(store.NumParams())/1e6, text, cfg.Data.Sampling.Frames, side, side, maxNew)
			fmt.Fprintf(w, "this machine: read bandwidth %.1f GB/s (one thread, read-only scan), float32 matmul %.1f GFLOP/s (ONNX Runtime, %d intra-op threads)\n",
				bw/1e9, rate/1e9, ro.IntraOpThreads)
			fmt.Fprintf(w, "%8s %6s %12s %12s %10s %12s %10s %10s %8s\n", "prompts", "G", "prefill t/s", "decode t/s", "ms/step", "MB/step", "mem ms", "flop ms", "ratio")
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
				mem := float64(tp.StepBytes) / bw
				flop := tp.StepFLOPs / rate
				fmt.Fprintf(w, "%8d %6d %12.0f %12.0f %10.2f %12.1f %10.2f %10.2f %7.0f%%\n", sh[0], sh[1], tp.PrefillTPS, tp.DecodeTPS,
					1e3*tp.StepSeconds, float64(tp.StepBytes)/1e6, 1e3*mem, 1e3*flop, 100*max(mem, flop)/tp.StepSeconds)
			}
			fmt.Fprintln(w, "mem ms = bytes a decode step must read (weights + every row's KV cache) / read bandwidth; flop ms = its FLOPs / matmul rate;")
			fmt.Fprintln(w, "ratio = the larger bound over the measured step time. Above 100%: the weights stay in the CPU caches.")
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
	bench.AddCommand(roll, newBenchGPUCmd())
	return bench
}

// gpuCase is one model and run configuration of `bench gpu`.
type gpuCase struct {
	name    string
	configs []string // config files (embedded names) over default.yaml
	ref     string   // model.ReferenceConfig name; "" = the tiny model
}

func newBenchGPUCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "gpu",
		Short: "A modelled GPU step (roofline, not a measurement): host<->device bytes and time per phase before and after the device-resident policy",
		Long: `bench gpu prints, for the tiny model (default.yaml), Qwen2.5-VL-3B and
Qwen3-VL-8B at the paper's batch (videossr-qwen3vl8b.yaml, and Qwen3-VL-8B
with the one-GPU LoRA overlay), a roofline model of a decode step, the
prefill of a step's prompts and the training step on an H100: the bytes
each phase moves between host and GPU on the host-fed path (parameters fed
from the host at every run, KV cache in host memory, AdamW on the host) and
on the device-resident path (parameters, cache, gradients and AdamW on the
GPU), and the time each would take: the device work (the larger of its HBM
traffic over the bandwidth and its float32 FLOPs over the float32 rate)
plus its bytes over the host link. It is arithmetic on the model's shapes,
not a measurement; scripts/gpu-smoke.sh measures the resident path on a GPU.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchGPU(cmd.OutOrStdout())
		},
	}
}

func benchGPU(w io.Writer) error {
	g := model.H100()
	fmt.Fprintf(w, "MODELLED GPU step (a roofline model, not a measurement): %s, HBM %.2f TB/s, host link %.0f GB/s (PCIe Gen5), bf16 %.0f TFLOP/s dense, fp32 %.0f TFLOP/s\n",
		g.Name, g.HBM/1e12, g.Link/1e9, g.BF16/1e12, g.FP32/1e12)
	fmt.Fprintln(w, "before = host-fed path (parameters fed from the host every run, KV cache in host memory, host AdamW); after = device-resident path")
	fmt.Fprintln(w, "time = device work (max of HBM bytes / bandwidth and float32 FLOPs / fp32 rate) + the phase's host<->device bytes / link, no overlap.")
	fmt.Fprintln(w, "Sequences are taken at full length (rollout.max_new_tokens) with every row live: upper bounds for a real step.")
	cases := []gpuCase{
		{name: "tiny (default.yaml)"},
		{name: "Qwen2.5-VL-3B, paper batch", configs: []string{"videossr-qwen3vl8b.yaml"}, ref: "qwen2.5-vl-3b"},
		{name: "Qwen3-VL-8B, paper batch", configs: []string{"videossr-qwen3vl8b.yaml"}, ref: "qwen3-vl-8b"},
		{name: "Qwen3-VL-8B, paper batch, one-GPU LoRA overlay", configs: []string{"videossr-qwen3vl8b.yaml", "videossr-qwen3vl8b-lora.yaml"}, ref: "qwen3-vl-8b"},
	}
	for _, gc := range cases {
		var sets []string
		if gc.ref != "" {
			sets = []string{"model.path=" + gc.ref} // modelled: the weights are never read
		}
		cfg, err := configs.Load(gc.configs, sets)
		if err != nil {
			return err
		}
		var c model.Config
		if gc.ref == "" {
			tok, err := model.LoadTokenizer(cfg.Model.Tokenizer)
			if err != nil {
				return err
			}
			if c, err = model.TinyFor(tok); err != nil {
				return err
			}
		} else if c, err = model.ReferenceConfig(gc.ref); err != nil {
			return err
		}
		c.LoRA = grpo.PlannedLoRA(cfg, c)
		in, how := sysinfo.PlanInput(cfg, c)
		wl := model.StepWorkload{Prompts: in.Batch, Group: in.Group, ChunkPrompts: in.ChunkPrompts, PromptTokens: in.PromptLen,
			VisionTokens: sysinfo.VisionTokens(cfg, c), ResponseTokens: in.ResponseLen, MicroRows: in.MicroBatch,
			FrozenBytes: in.FrozenWeightBytes, Recompute: in.Recompute, Reference: cfg.GRPO.KLCoef > 0}
		plan := model.PlanMemory(c, in)
		train := "full fine-tuning"
		if c.LoRA != nil {
			train = fmt.Sprintf("LoRA rank %d, %d trainable", c.LoRA.Rank, in.Trainable)
		}
		fmt.Fprintf(w, "\n%s: %.3g parameters, %s; %d prompts x G=%d (decode %d rows at a time), prompt %d tokens (%s), response %d, micro-batch %d rows; memory plan %s\n",
			gc.name, float64(c.NumParams()), train, wl.Prompts, wl.Group, max(1, min(cmp.Or(wl.ChunkPrompts, wl.Prompts), wl.Prompts))*wl.Group,
			wl.PromptTokens, how, wl.ResponseTokens, wl.MicroRows, model.FormatBytes(plan.Total))
		fmt.Fprintf(w, "  %-12s %11s %11s %11s %11s %11s %11s %11s %8s %11s\n", "phase", "h2d before", "d2h before", "h2d after", "d2h after",
			"time before", "time after", "device", "bound", "if bf16")
		for _, ph := range model.ModelGPUStep(c, wl, g) {
			fmt.Fprintf(w, "  %-12s %11s %11s %11s %11s %11s %11s %11s %8s %11s\n", ph.Phase,
				model.FormatBytes(ph.Before.H2D), model.FormatBytes(ph.Before.D2H), model.FormatBytes(ph.After.H2D), model.FormatBytes(ph.After.D2H),
				model.FormatSeconds(ph.BeforeSec), model.FormatSeconds(ph.AfterSec), model.FormatSeconds(ph.GPU), ph.Bound, model.FormatSeconds(ph.BF16))
		}
	}
	fmt.Fprintln(w, "\nWhere float32 costs on a GPU (the 'if bf16' column: the same work with 2-byte values on bf16 tensor cores):")
	fmt.Fprintln(w, "  - matrix products run at the float32 rate (67 TFLOP/s, no tensor cores; ONNX Runtime's CUDA provider may use TF32,")
	fmt.Fprintln(w, "    about 495 TFLOP/s, at reduced precision): prefill and training are compute-bound and about 15x slower than bf16;")
	fmt.Fprintln(w, "  - trained weights, the KV cache and activations take 4 bytes a value: decode reads twice the bytes of bf16;")
	fmt.Fprintln(w, "  - a bf16 LoRA base is cast to float32 inside every graph: 2 bytes read, 4 written and 4 read again per weight and run.")
	fmt.Fprintln(w, "  On the host-fed path the link dominates: every decode step and micro-batch sends every parameter over PCIe.")
	return nil
}
