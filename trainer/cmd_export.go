package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/trainer/grpo"
)

type exportFlags struct {
	out        string
	checkpoint string
	config     *configFlags
	opset      int
	external   int
	merge      bool
}

// tokenizerFiles are copied from a checkpoint into the export when present.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt",
	"special_tokens_map.json", "added_tokens.json", "generation_config.json", "chat_template.json"}

func newExportCmd() *cobra.Command {
	var f exportFlags
	cmd := &cobra.Command{
		Use:   "export --out DIR [--checkpoint DIR] [--config FILE]",
		Short: "Export the policy as a Hugging Face folder with ONNX graphs",
		Long: `export writes a Hugging Face-layout model folder: config.json (Qwen2-VL
keys), model.safetensors (HF weight names), preprocessor_config.json, the
tokenizer files of the checkpoint, and onnx/ with one graph per use (vision,
prefill, decode, logprob with the weights inside; train_grpo and train_sft
with the weights as inputs and one gradient output per weight) and
onnx/io.json naming every graph's inputs and outputs with dtypes and shapes.

With --checkpoint DIR the model is read from DIR (config.json and
model.safetensors, e.g. a trainer checkpoint or an earlier export); the
configured tokenizer (model.tokenizer) is added when DIR has no
tokenizer.json and its vocabulary fits. preprocessor_config.json carries the
run's frame area bounds: those of DIR's own processor file (a checkpoint
records its run's data.sampling), else the configuration's data.sampling.
The export never writes into DIR. Otherwise the tiny model over the
configured tokenizer is freshly initialised from model.init_seed. The training graphs use the loss the trainer runs (the
configuration's grpo loss settings, rollout.temperature and model.recompute;
with grpo.kl_coef 0 there is no KL term and no ref_log_probs input).`,
		Example: `  trainer export --out runs/tiny-export
  trainer export --checkpoint runs/default/checkpoints/step-40 --out /tmp/step40
  trainer export --config configs/ablations/no-kl.yaml --set model.init_seed=7 --out /tmp/m --opset 17`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExport(cmd, f)
		},
	}
	f.config = addConfigFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.out, "out", "", "output folder (created; files in it are replaced)")
	fl.BoolVar(&f.merge, "merge", false, "fold the LoRA adapters of a LoRA checkpoint into the base weights (W + alpha/r B A) and export a plain model")
	fl.StringVar(&f.checkpoint, "checkpoint", "", "model folder with config.json and model.safetensors (default: a fresh tiny model)")
	fl.IntVar(&f.opset, "opset", onnx.DefaultOpset, fmt.Sprintf("ONNX opset of the graphs (%d..%d; %d suits tools that predate opset 18)", onnx.MinOpset, onnx.DefaultOpset, onnx.MinOpset))
	fl.IntVar(&f.external, "external-data-threshold", model.DefaultExternalDataThreshold, "initializers of more bytes go to onnx/<graph>.onnx.data (-1: keep all inside the .onnx files)")
	return cmd
}

// loadModel returns the model to export: the checkpoint's, the HF folder of
// model.path (preset hf), or a fresh tiny model over the configured
// tokenizer from model.init_seed; and the extra files (tokenizer) to write.
func loadModel(cfg *configs.Config, checkpoint string) (model.Config, *params.Store, map[string][]byte, error) {
	fail := func(err error) (model.Config, *params.Store, map[string][]byte, error) {
		return model.Config{}, nil, nil, fmt.Errorf("export: %w", err)
	}
	dir := checkpoint
	if dir == "" && cfg.Model.Preset == "hf" {
		if cfg.Model.Path == "" {
			return fail(errors.New("model.preset is hf but model.path is empty"))
		}
		dir = cfg.Model.Path
	}
	if dir == "" && cfg.Model.Preset != "tiny" {
		return fail(fmt.Errorf("model.preset %q: want tiny or hf (or give --checkpoint)", cfg.Model.Preset))
	}
	tok, err := model.LoadTokenizer(cfg.Model.Tokenizer)
	if err != nil {
		return fail(fmt.Errorf("model.tokenizer: %w", err))
	}
	tokJSON, err := tok.Marshal()
	if err != nil {
		return fail(fmt.Errorf("model.tokenizer: %w", err))
	}
	files := map[string][]byte{}
	if dir == "" {
		c, err := model.TinyFor(tok)
		if err != nil {
			return fail(fmt.Errorf("model.tokenizer: %w", err))
		}
		store, err := c.InitParams(cfg.Model.InitSeed)
		if err != nil {
			return fail(err)
		}
		files[tokenizer.FileName] = tokJSON
		return c, store, files, nil
	}
	c, store, err := model.LoadFolder(dir)
	if err != nil {
		return fail(fmt.Errorf("checkpoint %s: %w", dir, err))
	}
	// Files as the trainer wrote them (manifest.json), weights finite.
	if _, err := grpo.VerifyCheckpoint(dir); err != nil {
		return fail(err)
	}
	for _, name := range tokenizerFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fail(err)
		}
		files[name] = b
	}
	if _, ok := files[tokenizer.FileName]; !ok && tok.VocabSize() == c.VocabSize {
		files[tokenizer.FileName] = tokJSON
	}
	return c, store, files, nil
}

// sameDir reports whether a and b name the same folder: the same path
// once cleaned, or the same folder through a symbolic link.
func sameDir(a, b string) bool {
	if aa, err := filepath.Abs(a); err == nil {
		if bb, err := filepath.Abs(b); err == nil && aa == bb {
			return true
		}
	}
	sa, errA := os.Stat(a)
	sb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(sa, sb)
}

// processorLimits returns the frame area bounds (min_pixels, max_pixels)
// of a model folder's own processor settings (video_preprocessor_config.json,
// else preprocessor_config.json): the top-level min_pixels/max_pixels
// keys, or size.shortest_edge/longest_edge as newer Hugging Face
// processors write them. ok is false when the folder has no such file or
// the file gives no bounds; a file that does not parse, or bounds that are
// not 0 < min <= max, is an error naming the file.
func processorLimits(dir string) (minPixels, maxPixels int, file string, ok bool, err error) {
	for _, name := range []string{model.VideoPreprocessorFile, model.PreprocessorFile} {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, 0, p, false, err
		}
		var pj struct {
			MinPixels *int `json:"min_pixels"`
			MaxPixels *int `json:"max_pixels"`
			Size      *struct {
				ShortestEdge *int `json:"shortest_edge"`
				LongestEdge  *int `json:"longest_edge"`
			} `json:"size"`
		}
		if err := json.Unmarshal(b, &pj); err != nil {
			return 0, 0, p, false, fmt.Errorf("%s: %w", p, err)
		}
		lo, hi := pj.MinPixels, pj.MaxPixels
		if (lo == nil || hi == nil) && pj.Size != nil && pj.Size.ShortestEdge != nil && pj.Size.LongestEdge != nil {
			lo, hi = pj.Size.ShortestEdge, pj.Size.LongestEdge
		}
		if lo == nil || hi == nil {
			continue
		}
		if *lo <= 0 || *hi < *lo {
			return 0, 0, p, false, fmt.Errorf("%s: min_pixels %d, max_pixels %d: want 0 < min <= max", p, *lo, *hi)
		}
		return *lo, *hi, p, true, nil
	}
	return 0, 0, "", false, nil
}

// exportLimits chooses the frame area bounds of the exported
// preprocessor_config.json: those of the model folder read (the run's own
// limits, which a checkpoint records), else the configuration's
// data.sampling, which is what a fresh model is trained with.
func exportLimits(cfg *configs.Config, dir string) (minPixels, maxPixels int, from string, err error) {
	if dir != "" {
		lo, hi, file, ok, err := processorLimits(dir)
		if err != nil {
			return 0, 0, "", fmt.Errorf("export: %w", err)
		}
		if ok {
			return lo, hi, file, nil
		}
	}
	s := cfg.Data.Sampling
	if s.MinPixels <= 0 || s.MaxPixels < s.MinPixels {
		return 0, 0, "", fmt.Errorf("export: data.sampling: min_pixels %d, max_pixels %d: want 0 < min <= max", s.MinPixels, s.MaxPixels)
	}
	return s.MinPixels, s.MaxPixels, "data.sampling", nil
}

func runExport(cmd *cobra.Command, f exportFlags) error {
	if f.out == "" {
		return errors.New("export: --out is required")
	}
	cfg, err := f.config.load()
	if err != nil {
		return err
	}
	// The export never writes into the folder it reads.
	src := f.checkpoint
	if src == "" && cfg.Model.Preset == "hf" {
		src = cfg.Model.Path
	}
	if src != "" && sameDir(src, f.out) {
		if f.checkpoint != "" {
			return errors.New("export: --out must differ from --checkpoint")
		}
		return errors.New("export: --out must differ from model.path")
	}
	c, store, files, err := loadModel(cfg, f.checkpoint)
	if err != nil {
		return err
	}
	minPixels, maxPixels, limitsFrom, err := exportLimits(cfg, src)
	if err != nil {
		return err
	}
	if c.LoRA != nil {
		if !f.merge {
			return errors.New("export: the checkpoint has LoRA adapters; add --merge to fold them into the base weights (the adapters alone are in its adapter/ folder, PEFT layout)")
		}
		if c, store, err = model.MergeLoRA(c, store); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	opt := model.ExportOptions{
		Loss:                  grpo.LossConfig(cfg),
		Opset:                 f.opset,
		ExternalDataThreshold: f.external,
		Files:                 files,
		MinPixels:             minPixels,
		MaxPixels:             maxPixels,
		Metadata:              map[string]string{"producer": "videossr-go trainer export"},
	}
	if err := model.Export(cmd.Context(), f.out, c, store, opt); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "exported %s (%d parameters, %d graphs, opset %d) to %s; frame area %d..%d pixels (from %s)\n",
		c.ModelType, store.NumParams(), len(model.AllGraphs()), f.opset, f.out, minPixels, maxPixels, limitsFrom)
	return nil
}
