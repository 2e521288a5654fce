// Package sysinfo reads what the machine has (memory, NVIDIA GPUs) and sizes
// the memory plan of a run, for the trainer and its doctor command.
package sysinfo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/safetensors"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/frame"
)

// PromptTextTokens is the allowance for the text of a pretext prompt (task
// instructions and answer format) added to its vision tokens when the
// run's tokenizer cannot be read to count it.
const PromptTextTokens = 256

// maxCacheBytes mirrors the trainer's bound on its prompt cache (the
// cache stops adding prompts past 1 GiB).
const maxCacheBytes = 1 << 30

// evalBatch is the number of prompts an evaluation decodes together.
const evalBatch = 16

// GPU is one NVIDIA GPU as nvidia-smi reports it.
type GPU struct {
	Index             int
	Name              string
	TotalMiB, FreeMiB int64
	Driver            string
}

// PlanInput sizes the memory plan of cfg's GRPO run of the model c, on
// one device: with several (device.devices) Batch is each device's share
// of grpo.batch_prompts, ceil(batch_prompts / devices) (PlanDevices adds
// up the host). The
// prompt length is that of the longest prompt the training mix draws
// (PromptEstimate, with the run's tokenizer), capped by
// rollout.max_prompt_tokens; it returns the input and a description of
// the estimate.
func PlanInput(cfg *configs.Config, c model.Config) (model.PlanInput, string) {
	var tok rollout.Tokenizer
	if t, err := model.LoadTokenizer(cfg.Model.TokenizerName()); err == nil {
		tok = t
	}
	return PlanInputWith(cfg, c, tok)
}

// PlanInputWith is PlanInput with the run's tokenizer given (nil: the
// prompt text counts PromptTextTokens).
func PlanInputWith(cfg *configs.Config, c model.Config, tok rollout.Tokenizer) (model.PlanInput, string) {
	est := PromptEstimate(cfg, c, tok)
	prompt, how := est.Tokens, est.How
	if mp := cfg.Rollout.MaxPrompt; mp > 0 && prompt > mp {
		prompt = mp
		how = "rollout.max_prompt_tokens"
	}
	// The graphs compute in float32, so activations, caches and trained
	// weights take 4 bytes a value; a frozen LoRA base may be held in
	// bf16/f16 (model.lora.base_dtype).
	wb, bb := 4, 4
	if c.LoRA != nil && safetensors.IsHalf(c.LoRA.BaseDType) {
		bb = 2
	}
	g := cfg.GRPO
	micro := g.MicroBatchRows
	if rows := g.BatchPrompts * g.GroupSize; micro <= 0 || micro > rows {
		micro = rows
	}
	var sftRows int
	if cfg.SFT.Steps > 0 {
		sftRows = cfg.SFT.BatchSize
		if m := g.MicroBatchRows; m > 0 && m < sftRows {
			sftRows = m
		}
	}
	// Several devices (device.devices): the plan is one device's, whose
	// KV cache holds its share of the prompts; a micro-batch is never
	// split, so a device holds at least one whole micro-batch's prompts.
	batch := g.BatchPrompts
	if n := len(cfg.Device.DeviceIDs()); n > 1 && g.GroupSize > 0 {
		batch = max((batch+n-1)/n, (micro+g.GroupSize-1)/g.GroupSize)
	}
	evals := cfg.Data.HeldoutVideos > 0
	var evalPrompts int
	if evals {
		evalPrompts = evalBatch
	}
	return model.PlanInput{
		Batch: batch, Group: g.GroupSize, ChunkPrompts: cfg.Rollout.ChunkPrompts, PromptLen: prompt, ResponseLen: cfg.Rollout.MaxNewTokens,
		MicroBatch: micro, WeightBytes: wb, FrozenWeightBytes: bb, Trainable: trainable(c),
		// Full fine-tuning keeps a frozen reference copy for the KL
		// penalty; with LoRA the frozen base is the reference.
		Reference: g.KLCoef > 0 && c.LoRA == nil,
		RefPass:   g.KLCoef > 0,
		Recompute: cfg.Model.Recompute,
		SFTRows:   sftRows, EvalPrompts: evalPrompts,
		VisionPatches: est.Patches, SlicePatches: est.SlicePatches,
		PromptCache: promptCache(cfg, c, est, evals),
		CUDA:        cfg.Device.Provider == "cuda",
		Resident:    cfg.Device.Resident,
	}, how
}

// promptCache is the bytes of the prompts the trainer keeps: every
// distinct training sample drawn (at most data.train_samples of the GRPO
// prompts, grpo.steps x grpo.batch_prompts draws, and at most
// data.warmup_samples of the warm-up's own pool, sft.steps x
// sft.batch_size draws; without a warm-up pool both phases draw from the
// GRPO prompts) and the VIUBench questions when evaluations run,
// each its token ids (8 B) and patches (4 B a value), up to the trainer's
// 1 GiB bound.
func promptCache(cfg *configs.Config, c model.Config, est Estimate, evals bool) int64 {
	per := int64(8*est.Tokens) + 4*int64(est.Patches)*int64(c.PatchDim())
	sft := int64(max(cfg.SFT.Steps, 0)) * int64(max(cfg.SFT.BatchSize, 0))
	grpo := int64(max(cfg.GRPO.Steps, 0)) * int64(max(cfg.GRPO.BatchPrompts, 0))
	var n int64
	if w := int64(max(cfg.Data.WarmupSamples, 0)); w > 0 && len(cfg.Data.TrainFiles) == 0 {
		// The warm-up draws from its own pool (data.warmup_samples).
		n = min(int64(max(cfg.Data.TrainSamples, 0)), grpo) + min(w, sft)
	} else {
		n = min(int64(max(cfg.Data.TrainSamples, 0)), sft+grpo)
	}
	if evals {
		n += 9 * int64(max(cfg.VIUBench.PerSubtype, 0))
	}
	return min(n*per, maxCacheBytes+per)
}

// Estimate is the size of the longest prompt of a run's training mix.
type Estimate struct {
	// Tokens is the prompt length, vision tokens included; Vision the
	// merged vision tokens of it.
	Tokens, Vision int
	// Patches is the number of vision patches (before merging) of the
	// prompt's videos and SlicePatches those of one temporal slice.
	Patches, SlicePatches int
	// How says how the length was found.
	How string
}

// PromptEstimate finds the longest prompt the training mix of cfg draws
// for the model c: each task with a data.mix weight above 0 is rendered as
// the data engine renders it (the default wording, the longest
// perturbation description of data.grounding.perturbations, one video per
// jigsaw clip) through the chat template and the tokenizer tok, with every
// temporal slice at the most merged tokens data.sampling.max_pixels
// allows. With tok nil the text counts PromptTextTokens.
func PromptEstimate(cfg *configs.Config, c model.Config, tok rollout.Tokenizer) Estimate {
	v := c.VisionConfig
	s := cfg.Data.Sampling
	factor := v.PatchSize * v.SpatialMergeSize
	merge2 := v.SpatialMergeSize * v.SpatialMergeSize
	if factor <= 0 || v.TemporalPatchSize <= 0 {
		return Estimate{Tokens: PromptTextTokens, How: fmt.Sprintf("%d text, no vision", PromptTextTokens)}
	}
	perSlice := max(s.MaxPixels/(factor*factor), 1) // merged tokens
	slices := func(frames int) int { return (frames + v.TemporalPatchSize - 1) / v.TemporalPatchSize }
	type task struct {
		name   string
		msgs   []tasks.Message
		videos []int // frames per video
	}
	var ts []task
	weight := func(src tasks.DataSource) bool { return cfg.Data.Mix[string(src)] > 0 }
	if weight(tasks.Grounding) {
		p := tasks.DefaultPrompts()
		long := ""
		for _, k := range cfg.Data.Grounding.Perturbations {
			if q := p.GroundingQuestion(k); len(q) > len(long) {
				long = q
			}
		}
		if long == "" {
			long = p.GroundingQuestion("")
		}
		ts = append(ts, task{"grounding", p.Messages(long, 1, false), []int{s.Frames}})
	}
	if weight(tasks.Counting) {
		ts = append(ts, task{"counting", tasks.BuildPrompt(tasks.CountingQuestion(), 1, false), []int{s.Frames}})
	}
	if n := cfg.Data.Jigsaw.Clips; weight(tasks.Jigsaw) && n > 0 {
		vids := make([]int, n)
		for i := range vids {
			vids[i] = max(s.Frames/n, 1)
		}
		ts = append(ts, task{"jigsaw", tasks.BuildPrompt(tasks.JigsawQuestion(n), n, true), vids})
	}
	best := Estimate{}
	for _, t := range ts {
		e := Estimate{}
		for _, f := range t.videos {
			e.Vision += slices(f) * perSlice
			e.Patches += slices(f) * perSlice * merge2
		}
		text, ok := textTokens(tok, c, t.msgs, t.videos, factor, s.MinPixels, s.MaxPixels)
		if !ok {
			text = PromptTextTokens
		}
		e.Tokens = e.Vision + text
		e.SlicePatches = perSlice * merge2
		if ok {
			e.How = fmt.Sprintf("%d vision + %d text, %s", e.Vision, text, t.name)
		} else {
			e.How = fmt.Sprintf("%d vision + %d text allowance", e.Vision, text)
		}
		if e.Tokens > best.Tokens {
			best = e
		}
	}
	if best.Tokens == 0 {
		best = Estimate{Tokens: PromptTextTokens, How: fmt.Sprintf("%d text allowance, no task in data.mix", PromptTextTokens)}
	}
	return best
}

// textTokens renders msgs with videos of the given frame counts (square
// frames of the largest side the pixel bounds allow) through
// rollout.BuildPrompt and returns its tokens other than the merged vision
// tokens (the chat template, the text, the vision start/end tokens and
// Qwen3-VL's timestamps).
func textTokens(tok rollout.Tokenizer, c model.Config, msgs []tasks.Message, frames []int, factor, minPixels, maxPixels int) (int, bool) {
	if tok == nil {
		return 0, false
	}
	side := max(factor, int(math.Sqrt(float64(maxPixels)))/factor*factor)
	videos := make([][]*frame.Frame, len(frames))
	for i, n := range frames {
		f := frame.New(side, side)
		for range n {
			videos[i] = append(videos[i], f)
		}
	}
	p, err := rollout.BuildPrompt(tok, c, msgs, videos, rollout.VideoOptions{MinPixels: minPixels, MaxPixels: maxPixels})
	if err != nil {
		return 0, false
	}
	n := len(p.IDs)
	for _, vi := range p.Videos {
		n -= vi.Grid.Tokens(c.VisionConfig.SpatialMergeSize)
	}
	return n, true
}

// VisionTokens is the number of merged vision tokens of one sampled video
// of cfg (data.sampling frames at max_pixels) for the model c.
func VisionTokens(cfg *configs.Config, c model.Config) int {
	v := c.VisionConfig
	if tp, px := v.TemporalPatchSize, v.PatchSize*v.SpatialMergeSize; tp > 0 && px > 0 {
		return (cfg.Data.Sampling.Frames + tp - 1) / tp * (cfg.Data.Sampling.MaxPixels / (px * px))
	}
	return 0
}

// RunTool runs a command with a short timeout and returns its stdout.
func RunTool(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return string(out), nil
}

// GPUs asks nvidia-smi for the GPUs; with none it returns why.
func GPUs(ctx context.Context) ([]GPU, string) {
	if _, err := exec.LookPath("nvidia-smi"); err != nil {
		return nil, "nvidia-smi not found"
	}
	out, err := RunTool(ctx, "nvidia-smi", "--query-gpu=index,name,memory.total,memory.free,driver_version", "--format=csv,noheader,nounits")
	if err != nil {
		return nil, fmt.Sprintf("nvidia-smi failed: %v", err)
	}
	gpus, err := ParseNvidiaSMI(out)
	if err != nil {
		return nil, err.Error()
	}
	if len(gpus) == 0 {
		return nil, "nvidia-smi lists no GPU"
	}
	return gpus, ""
}

// ParseNvidiaSMI parses `nvidia-smi --query-gpu=index,name,memory.total,
// memory.free,driver_version --format=csv,noheader,nounits` output (memory
// in MiB).
func ParseNvidiaSMI(out string) ([]GPU, error) {
	var gpus []GPU
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Split(l, ",")
		if len(f) != 5 {
			return nil, fmt.Errorf("nvidia-smi line %q: want 5 comma-separated fields", l)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil || idx < 0 {
			return nil, fmt.Errorf("nvidia-smi line %q: bad index %q", l, f[0])
		}
		total, err1 := strconv.ParseInt(f[2], 10, 64)
		free, err2 := strconv.ParseInt(f[3], 10, 64)
		if err1 != nil || err2 != nil || total < 0 || free < 0 || total > 1<<40 || free > 1<<40 {
			return nil, fmt.Errorf("nvidia-smi line %q: bad memory %q / %q", l, f[2], f[3])
		}
		gpus = append(gpus, GPU{Index: idx, Name: f[1], TotalMiB: total, FreeMiB: free, Driver: f[4]})
	}
	return gpus, nil
}

// Meminfo returns MemTotal and MemAvailable in bytes from a
// /proc/meminfo file.
func Meminfo(path string) (total, avail int64, err error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	return ParseMeminfo(fh)
}

// ParseMeminfo reads MemTotal and MemAvailable (kB) from /proc/meminfo text.
func ParseMeminfo(r io.Reader) (total, avail int64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "MemTotal" && key != "MemAvailable") {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			return 0, 0, fmt.Errorf("meminfo %s: no value", key)
		}
		kb, perr := strconv.ParseInt(fs[0], 10, 64)
		if perr != nil || kb < 0 || kb > 1<<50 {
			return 0, 0, fmt.Errorf("meminfo %s: bad value %q", key, fs[0])
		}
		if key == "MemTotal" {
			total = kb << 10
		} else {
			avail = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, fmt.Errorf("read meminfo: %w", err)
	}
	if total == 0 {
		return 0, 0, errors.New("meminfo: no MemTotal")
	}
	if avail == 0 {
		avail = total // kernels before 3.14 have no MemAvailable
	}
	return total, avail, nil
}

// trainable counts the parameters that get gradients and AdamW moments.
func trainable(c model.Config) int64 {
	var n int64
	for _, s := range c.TrainableSpecs() {
		k := int64(1)
		for _, d := range s.Shape {
			k *= int64(d)
		}
		n += k
	}
	return n
}

// SampleVideos returns the opencv-doc sample videos (vtest.avi, tree.avi,
// Megamind.avi) present and non-empty in dir, in that order.
func SampleVideos(dir string) []string {
	var out []string
	for _, name := range []string{"vtest.avi", "tree.avi", "Megamind.avi"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Size() > 0 {
			out = append(out, p)
		}
	}
	return out
}
