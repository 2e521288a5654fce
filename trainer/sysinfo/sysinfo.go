// Package sysinfo reads what the machine has (memory, NVIDIA GPUs) and sizes
// the memory plan of a run, for the trainer and its doctor command.
package sysinfo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/safetensors"
)

// PromptTextTokens is the allowance for the text of a pretext prompt (task
// instructions and answer format) added to its vision tokens when the
// doctor estimates the prompt length.
const PromptTextTokens = 256

// GPU is one NVIDIA GPU as nvidia-smi reports it.
type GPU struct {
	Index             int
	Name              string
	TotalMiB, FreeMiB int64
	Driver            string
}

// PlanInput sizes the memory plan of cfg's GRPO run. The prompt length is
// estimated from the frame sampling: frames / temporal_patch_size x
// max_pixels / (patch_size x spatial_merge_size)^2 vision tokens plus
// PromptTextTokens of text, capped by rollout.max_prompt_tokens. It
// returns the input and a description of the estimate.
func PlanInput(cfg *configs.Config, c model.Config) (model.PlanInput, string) {
	vision := VisionTokens(cfg, c)
	prompt := vision + PromptTextTokens
	how := fmt.Sprintf("%d vision + %d text", vision, PromptTextTokens)
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
	return model.PlanInput{
		Batch: g.BatchPrompts, Group: g.GroupSize, ChunkPrompts: cfg.Rollout.ChunkPrompts, PromptLen: prompt, ResponseLen: cfg.Rollout.MaxNewTokens,
		MicroBatch: micro, WeightBytes: wb, FrozenWeightBytes: bb, Trainable: trainable(c),
		// Full fine-tuning keeps a frozen reference copy for the KL
		// penalty; with LoRA the frozen base is the reference.
		Reference: g.KLCoef > 0 && c.LoRA == nil,
		Recompute: cfg.Model.Recompute,
	}, how
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
