// Package model defines the policy: the Qwen2-VL architecture (vision tower,
// patch merger, multimodal rotary positions, decoder LM) written once in Go
// against the ONNX graph builder of model/onnx, with the differences of
// Qwen2.5-VL (window attention, RMSNorm/SwiGLU vision blocks, scaled temporal
// positions) and Qwen3-VL (position grid, deepstack, Qwen3 decoder,
// interleaved M-RoPE) as branches on model_type. The same definition emits
// the vision graph, the decoder prefill and decode graphs with a KV cache,
// the log-prob graph and the training graph (forward, reverse-mode gradients
// and the GRPO or SFT loss), optionally with LoRA adapters as the only
// trainable parameters.
//
// The tiny default model is not a look-alike: it is Qwen2-VL at small sizes,
// with Hugging Face config keys and weight names, so a checkpoint written by
// this package loads in any Qwen2-VL implementation. LoadHF reads released
// Hugging Face model folders of the three architectures.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// Model types (config.json "model_type") of the supported architectures.
const (
	ModelQwen2VL  = "qwen2_vl"
	ModelQwen25VL = "qwen2_5_vl"
	ModelQwen3VL  = "qwen3_vl"
)

// VisionConfig holds the vision tower settings (HF "vision_config"). The Go
// fields mean the same for every architecture; the JSON keys differ
// (Qwen2.5-VL and Qwen3-VL call the tower width hidden_size and the output
// width out_hidden_size) and Config's MarshalJSON/UnmarshalJSON translate.
// The struct tags are the Qwen2-VL keys.
type VisionConfig struct {
	Depth             int     `json:"depth"`
	EmbedDim          int     `json:"embed_dim"`   // width of the vision tower
	HiddenSize        int     `json:"hidden_size"` // width of the merger output = LM hidden size
	MLPRatio          float64 `json:"mlp_ratio"`   // Qwen2-VL: MLP width = embed_dim * mlp_ratio
	NumHeads          int     `json:"num_heads"`
	HiddenAct         string  `json:"hidden_act"`
	InChans           int     `json:"in_chans"`
	PatchSize         int     `json:"patch_size"`
	SpatialMergeSize  int     `json:"spatial_merge_size"`
	TemporalPatchSize int     `json:"temporal_patch_size"`
	// IntermediateSize is the MLP width of Qwen2.5-VL and Qwen3-VL blocks.
	IntermediateSize int `json:"intermediate_size,omitempty"`
	// WindowSize (pixels) and FullAttBlockIndexes set Qwen2.5-VL's window
	// attention: blocks not listed attend within windows of
	// WindowSize/(patch*merge) merged tokens square.
	WindowSize          int   `json:"window_size,omitempty"`
	FullAttBlockIndexes []int `json:"fullatt_block_indexes,omitempty"`
	// TokensPerSecond scales Qwen2.5-VL's temporal M-RoPE index.
	TokensPerSecond float64 `json:"tokens_per_second,omitempty"`
	// NumPositionEmbeddings is the size of Qwen3-VL's learned position grid (a square).
	NumPositionEmbeddings int `json:"num_position_embeddings,omitempty"`
	// DeepstackVisualIndexes are the Qwen3-VL vision blocks whose outputs
	// feed the deepstack mergers (added after decoder layers 0, 1, ...).
	DeepstackVisualIndexes []int `json:"deepstack_visual_indexes,omitempty"`
}

// MLPDim is the hidden width of a vision block's MLP.
func (v VisionConfig) MLPDim() int {
	if v.IntermediateSize > 0 {
		return v.IntermediateSize
	}
	return int(float64(v.EmbedDim) * v.MLPRatio)
}

// RopeScaling holds the multimodal rotary settings (HF "rope_scaling").
type RopeScaling struct {
	Type         string `json:"type,omitempty"`
	RopeType     string `json:"rope_type,omitempty"`
	MropeSection []int  `json:"mrope_section"`
	// MropeInterleaved selects Qwen3-VL's interleaved t/h/w frequencies.
	MropeInterleaved bool `json:"mrope_interleaved,omitempty"`
}

// Config is a Qwen2-VL model configuration with the Hugging Face key names
// of Qwen2VLForConditionalGeneration's config.json.
type Config struct {
	Architectures         []string     `json:"architectures"`
	ModelType             string       `json:"model_type"`
	VocabSize             int          `json:"vocab_size"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	HiddenAct             string       `json:"hidden_act"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           RopeScaling  `json:"rope_scaling"`
	TieWordEmbeddings     bool         `json:"tie_word_embeddings"`
	TorchDtype            string       `json:"torch_dtype"`
	BosTokenID            int          `json:"bos_token_id"`
	EosTokenID            int          `json:"eos_token_id"`
	VisionStartTokenID    int          `json:"vision_start_token_id"`
	VisionEndTokenID      int          `json:"vision_end_token_id"`
	VisionTokenID         int          `json:"vision_token_id"`
	ImageTokenID          int          `json:"image_token_id"`
	VideoTokenID          int          `json:"video_token_id"`
	VisionConfig          VisionConfig `json:"vision_config"`
	// HeadDimOverride is Qwen3-VL's explicit head_dim (0: hidden/heads).
	HeadDimOverride int `json:"head_dim,omitempty"`
	// VideoFPS is the frame rate videos are sampled at, which sets
	// Qwen2.5-VL's temporal M-RoPE step (0: DefaultVideoFPS). Not in config.json.
	VideoFPS float64 `json:"-"`
	// LoRA, when set, adds low-rank adapters to the graphs and makes them
	// the only trainable parameters. It is not part of config.json (PEFT
	// keeps it in adapter_config.json; see SaveAdapters).
	LoRA *LoRAConfig `json:"-"`
	// Processor holds the pixel normalisation read from the folder's
	// processor settings (LoadProcessor); nil means the architecture's
	// defaults. Not in config.json.
	Processor *Processor `json:"-"`
}

// TinyTokens are the special token ids of the project's tiny tokenizer, in
// the order <|endoftext|>, <|im_start|>, <|im_end|>, <|vision_start|>,
// <|vision_end|>, <|vision_pad|>, <|image_pad|>, <|video_pad|>.
type TinyTokens struct {
	EndOfText, ImStart, ImEnd, VisionStart, VisionEnd, VisionPad, ImagePad, VideoPad int
}

// Tiny returns the default tiny Qwen2-VL configuration: the real architecture
// at sizes that train in minutes on a laptop CPU.
func Tiny(vocab int, tok TinyTokens) Config {
	return Config{
		Architectures:         []string{"Qwen2VLForConditionalGeneration"},
		ModelType:             "qwen2_vl",
		VocabSize:             vocab,
		HiddenSize:            128,
		IntermediateSize:      384,
		NumHiddenLayers:       3,
		NumAttentionHeads:     4,
		NumKeyValueHeads:      2,
		HiddenAct:             "silu",
		MaxPositionEmbeddings: 4096,
		RMSNormEps:            1e-6,
		RopeTheta:             1e6,
		RopeScaling:           RopeScaling{Type: "mrope", MropeSection: []int{4, 6, 6}},
		TieWordEmbeddings:     true,
		TorchDtype:            "float32",
		BosTokenID:            tok.EndOfText,
		EosTokenID:            tok.ImEnd,
		VisionStartTokenID:    tok.VisionStart,
		VisionEndTokenID:      tok.VisionEnd,
		VisionTokenID:         tok.VisionPad,
		ImageTokenID:          tok.ImagePad,
		VideoTokenID:          tok.VideoPad,
		VisionConfig: VisionConfig{
			Depth:             2,
			EmbedDim:          64,
			HiddenSize:        128,
			MLPRatio:          2,
			NumHeads:          4,
			HiddenAct:         "quick_gelu",
			InChans:           3,
			PatchSize:         14,
			SpatialMergeSize:  2,
			TemporalPatchSize: 2,
		},
	}
}

// HeadDim is the attention head width of the decoder.
func (c Config) HeadDim() int {
	if c.HeadDimOverride > 0 {
		return c.HeadDimOverride
	}
	return c.HiddenSize / c.NumAttentionHeads
}

// VisionHeadDim is the attention head width of the vision tower.
func (c Config) VisionHeadDim() int { return c.VisionConfig.EmbedDim / c.VisionConfig.NumHeads }

// PatchDim is the length of one flattened spatio-temporal patch row
// (channels x temporal patch x patch x patch; 1176 for Qwen2-VL).
func (c Config) PatchDim() int {
	v := c.VisionConfig
	return v.InChans * v.TemporalPatchSize * v.PatchSize * v.PatchSize
}

// ErrBadConfig is wrapped by every configuration validation error.
var ErrBadConfig = errors.New("invalid model config")

// Validate checks the configuration for consistency and names the key at fault.
func (c Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadConfig, key, fmt.Sprintf(format, a...))
	}
	if err := checkArchitecture(c.ModelType, c.Architectures); err != nil {
		return err
	}
	v := c.VisionConfig
	pos := []struct {
		key string
		v   int
	}{{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads}, {"num_key_value_heads", c.NumKeyValueHeads},
		{"vision_config.depth", v.Depth}, {"vision_config.embed_dim (hidden_size)", v.EmbedDim}, {"vision_config.mlp width", v.MLPDim()},
		{"vision_config.num_heads", v.NumHeads}, {"vision_config.patch_size", v.PatchSize},
		{"vision_config.spatial_merge_size", v.SpatialMergeSize}, {"vision_config.temporal_patch_size", v.TemporalPatchSize},
		{"vision_config.in_chans", v.InChans}}
	for _, p := range pos {
		if p.v <= 0 {
			return bad(p.key, "must be positive, got %d", p.v)
		}
	}
	if c.HeadDimOverride == 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		return bad("num_attention_heads", "%d does not divide hidden_size %d", c.NumAttentionHeads, c.HiddenSize)
	}
	if c.HeadDimOverride < 0 {
		return bad("head_dim", "must be positive, got %d", c.HeadDimOverride)
	}
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return bad("num_key_value_heads", "%d does not divide num_attention_heads %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	if c.HeadDim()%2 != 0 {
		return bad("hidden_size", "head dim %d must be even", c.HeadDim())
	}
	sum := 0
	for _, s := range c.RopeScaling.MropeSection {
		if s < 0 {
			return bad("rope_scaling.mrope_section", "%v has a negative entry", c.RopeScaling.MropeSection)
		}
		sum += s
	}
	if len(c.RopeScaling.MropeSection) != 3 || sum != c.HeadDim()/2 {
		return bad("rope_scaling.mrope_section", "%v must have 3 entries summing to head_dim/2 = %d", c.RopeScaling.MropeSection, c.HeadDim()/2)
	}
	if c.RopeScaling.MropeInterleaved != (c.ModelType == ModelQwen3VL) {
		return bad("rope_scaling.mrope_interleaved", "%v is not supported for %s (Qwen3-VL interleaves, Qwen2-VL and Qwen2.5-VL do not)", c.RopeScaling.MropeInterleaved, c.ModelType)
	}
	if v.EmbedDim%v.NumHeads != 0 || c.VisionHeadDim()%4 != 0 {
		return bad("vision_config.num_heads", "vision head dim %d/%d must be a multiple of 4", v.EmbedDim, v.NumHeads)
	}
	if v.HiddenSize != c.HiddenSize {
		return bad("vision_config.hidden_size (out_hidden_size)", "%d must equal hidden_size %d", v.HiddenSize, c.HiddenSize)
	}
	acts := map[string][]string{ModelQwen2VL: {"quick_gelu", "gelu"}, ModelQwen25VL: {"silu"}, ModelQwen3VL: {"gelu_pytorch_tanh", "gelu"}}[c.ModelType]
	if !slices.Contains(acts, v.HiddenAct) {
		return bad("vision_config.hidden_act", "%q is not supported for %s (%s)", v.HiddenAct, c.ModelType, strings.Join(acts, ", "))
	}
	if c.HiddenAct != "silu" {
		return bad("hidden_act", "%q is not supported (silu)", c.HiddenAct)
	}
	if c.RMSNormEps <= 0 || c.RopeTheta <= 0 {
		return bad("rms_norm_eps/rope_theta", "must be positive")
	}
	switch c.ModelType {
	case ModelQwen25VL:
		if u := v.PatchSize * v.SpatialMergeSize; v.WindowSize <= 0 || v.WindowSize%u != 0 {
			return bad("vision_config.window_size", "%d must be a positive multiple of patch_size*spatial_merge_size = %d", v.WindowSize, u)
		}
		for _, i := range v.FullAttBlockIndexes {
			if i < 0 || i >= v.Depth {
				return bad("vision_config.fullatt_block_indexes", "%v has %d outside [0,%d)", v.FullAttBlockIndexes, i, v.Depth)
			}
		}
		if v.TokensPerSecond < 0 {
			return bad("vision_config.tokens_per_second", "%g must not be negative", v.TokensPerSecond)
		}
	case ModelQwen3VL:
		side := int(math.Round(math.Sqrt(float64(v.NumPositionEmbeddings))))
		if v.NumPositionEmbeddings <= 0 || side*side != v.NumPositionEmbeddings {
			return bad("vision_config.num_position_embeddings", "%d must be a positive square", v.NumPositionEmbeddings)
		}
		if len(v.DeepstackVisualIndexes) > c.NumHiddenLayers {
			return bad("vision_config.deepstack_visual_indexes", "%d deepstack features for %d decoder layers", len(v.DeepstackVisualIndexes), c.NumHiddenLayers)
		}
		for _, i := range v.DeepstackVisualIndexes {
			if i < 0 || i >= v.Depth {
				return bad("vision_config.deepstack_visual_indexes", "%v has %d outside [0,%d)", v.DeepstackVisualIndexes, i, v.Depth)
			}
		}
	}
	for _, t := range []struct {
		key string
		id  int
	}{{"eos_token_id", c.EosTokenID}, {"video_token_id", c.VideoTokenID}, {"vision_start_token_id", c.VisionStartTokenID}} {
		if t.id < 0 || t.id >= c.VocabSize {
			return bad(t.key, "%d outside the vocabulary [0,%d)", t.id, c.VocabSize)
		}
	}
	if _, err := c.loraTargets(); err != nil {
		return err
	}
	return nil
}

// SaveJSON writes the configuration as a Hugging Face config.json.
func (c Config) SaveJSON(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal config: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// LoadJSON reads and validates a Hugging Face config.json of a supported
// model (see UnmarshalJSON for the layouts accepted).
func LoadJSON(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read model config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("parse %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}
