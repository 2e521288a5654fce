package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrUnsupportedModel is wrapped by the error for a config.json whose
// model_type or architectures this package cannot run.
var ErrUnsupportedModel = errors.New("unsupported model")

// supportedModels pairs each model_type with its architectures entry.
var supportedModels = []struct{ modelType, arch string }{
	{ModelQwen2VL, "Qwen2VLForConditionalGeneration"},
	{ModelQwen25VL, "Qwen2_5_VLForConditionalGeneration"},
	{ModelQwen3VL, "Qwen3VLForConditionalGeneration"},
}

// SupportedModels lists the supported model types with their
// architectures, e.g. "qwen2_vl (Qwen2VLForConditionalGeneration)".
func SupportedModels() []string {
	out := make([]string, len(supportedModels))
	for i, m := range supportedModels {
		out[i] = fmt.Sprintf("%s (%s)", m.modelType, m.arch)
	}
	return out
}

// checkArchitecture accepts a supported model_type whose architectures
// (when given) name its conditional-generation class.
func checkArchitecture(modelType string, archs []string) error {
	i := slices.IndexFunc(supportedModels, func(m struct{ modelType, arch string }) bool { return m.modelType == modelType })
	if i < 0 {
		return fmt.Errorf("%w: %w: model_type %q is not supported (supported: %s)", ErrBadConfig, ErrUnsupportedModel, modelType, strings.Join(SupportedModels(), ", "))
	}
	for _, a := range archs {
		if a != supportedModels[i].arch {
			return fmt.Errorf("%w: %w: architectures %v: %q is not supported for %s (supported: %s)", ErrBadConfig, ErrUnsupportedModel, archs, a, modelType, strings.Join(SupportedModels(), ", "))
		}
	}
	return nil
}

// flexInt decodes a token id given as a number, a list of numbers (the
// first counts) or null.
type flexInt struct {
	v   int
	set bool
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var l []int
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		if len(l) > 0 {
			f.v, f.set = l[0], true
		}
		return nil
	}
	if err := json.Unmarshal(b, &f.v); err != nil {
		return err
	}
	f.set = true
	return nil
}

func (f flexInt) or(def int) int {
	if f.set {
		return f.v
	}
	return def
}

// hfRope is rope_scaling (or the newer rope_parameters).
type hfRope struct {
	Type             string   `json:"type,omitempty"`
	RopeType         string   `json:"rope_type,omitempty"`
	MropeSection     []int    `json:"mrope_section,omitempty"`
	MropeInterleaved *bool    `json:"mrope_interleaved,omitempty"`
	RopeTheta        *float64 `json:"rope_theta,omitempty"`
}

// hfText holds the language-model and top-level keys of every layout.
type hfText struct {
	Architectures         []string `json:"architectures"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	NumKeyValueHeads      *int     `json:"num_key_value_heads"`
	HeadDim               *int     `json:"head_dim"`
	HiddenAct             string   `json:"hidden_act"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	RMSNormEps            float64  `json:"rms_norm_eps"`
	RopeTheta             *float64 `json:"rope_theta"`
	RopeScaling           *hfRope  `json:"rope_scaling"`
	RopeParameters        *hfRope  `json:"rope_parameters"`
	TieWordEmbeddings     *bool    `json:"tie_word_embeddings"`
	TorchDtype            string   `json:"torch_dtype"`
	Dtype                 string   `json:"dtype"`
	AttentionBias         *bool    `json:"attention_bias"`
	BosTokenID            flexInt  `json:"bos_token_id"`
	EosTokenID            flexInt  `json:"eos_token_id"`
	VisionStartTokenID    flexInt  `json:"vision_start_token_id"`
	VisionEndTokenID      flexInt  `json:"vision_end_token_id"`
	VisionTokenID         flexInt  `json:"vision_token_id"`
	ImageTokenID          flexInt  `json:"image_token_id"`
	VideoTokenID          flexInt  `json:"video_token_id"`
}

// hfVision holds the vision_config keys of every layout.
type hfVision struct {
	Depth                  int      `json:"depth"`
	EmbedDim               int      `json:"embed_dim"`
	HiddenSize             int      `json:"hidden_size"`
	OutHiddenSize          int      `json:"out_hidden_size"`
	MLPRatio               float64  `json:"mlp_ratio"`
	IntermediateSize       int      `json:"intermediate_size"`
	NumHeads               int      `json:"num_heads"`
	HiddenAct              string   `json:"hidden_act"`
	InChans                *int     `json:"in_chans"`
	InChannels             *int     `json:"in_channels"`
	PatchSize              int      `json:"patch_size"`
	SpatialMergeSize       int      `json:"spatial_merge_size"`
	TemporalPatchSize      int      `json:"temporal_patch_size"`
	WindowSize             int      `json:"window_size"`
	FullAttBlockIndexes    []int    `json:"fullatt_block_indexes"`
	TokensPerSecond        *float64 `json:"tokens_per_second"`
	NumPositionEmbeddings  int      `json:"num_position_embeddings"`
	DeepstackVisualIndexes []int    `json:"deepstack_visual_indexes"`
}

// visionDefaults are the transformers class defaults of each vision config.
func visionDefaults(modelType string) hfVision {
	switch modelType {
	case ModelQwen25VL:
		tps := 4.0
		return hfVision{Depth: 32, HiddenSize: 3584, OutHiddenSize: 3584, IntermediateSize: 3420, NumHeads: 16, HiddenAct: "silu",
			PatchSize: 14, SpatialMergeSize: 2, TemporalPatchSize: 2, WindowSize: 112, FullAttBlockIndexes: []int{7, 15, 23, 31}, TokensPerSecond: &tps}
	case ModelQwen3VL:
		return hfVision{Depth: 27, HiddenSize: 1152, OutHiddenSize: 3584, IntermediateSize: 4304, NumHeads: 16, HiddenAct: "gelu_pytorch_tanh",
			PatchSize: 16, SpatialMergeSize: 2, TemporalPatchSize: 2, NumPositionEmbeddings: 2304, DeepstackVisualIndexes: []int{8, 16, 24}}
	default:
		return hfVision{Depth: 32, EmbedDim: 1280, HiddenSize: 3584, MLPRatio: 4, NumHeads: 16, HiddenAct: "quick_gelu",
			PatchSize: 14, SpatialMergeSize: 2, TemporalPatchSize: 2}
	}
}

// topLevelFirst are keys a nested text_config does not override: the
// multimodal model's own token ids and tying.
func topLevelFirst(k string) bool {
	return k == "tie_word_embeddings" || k == "model_type" || k == "architectures" || strings.HasSuffix(k, "_token_id")
}

// UnmarshalJSON reads a Hugging Face config.json of Qwen2-VL, Qwen2.5-VL or
// Qwen3-VL: text keys at the top level (Qwen2/2.5-VL releases) or nested
// under text_config (Qwen3-VL, newer saves; nested keys win, except token
// ids and tie_word_embeddings, where the top level wins), rope settings in
// rope_scaling or rope_parameters, and each model's vision_config keys.
// Missing keys take the transformers class defaults. It does not validate.
func (c *Config) UnmarshalJSON(b []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return err
	}
	var mt string
	if raw, ok := top["model_type"]; ok {
		if err := json.Unmarshal(raw, &mt); err != nil {
			return fmt.Errorf("model_type: %w", err)
		}
	}
	text := maps.Clone(top)
	if raw, ok := top["text_config"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		var tm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tm); err != nil {
			return fmt.Errorf("text_config: %w", err)
		}
		for k, v := range tm {
			if _, has := top[k]; has && topLevelFirst(k) {
				continue
			}
			if k == "model_type" || k == "architectures" {
				continue
			}
			text[k] = v
		}
	}
	delete(text, "vision_config")
	delete(text, "text_config")
	tb, err := json.Marshal(text)
	if err != nil {
		return err
	}
	var t hfText
	t.HiddenAct = "silu"
	t.RMSNormEps = 1e-5 // class default (released configs say 1e-6)
	if mt == ModelQwen3VL {
		t.RMSNormEps = 1e-6
	}
	if err := json.Unmarshal(tb, &t); err != nil {
		return err
	}
	v := visionDefaults(mt)
	if raw, ok := top["vision_config"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("vision_config: %w", err)
		}
	}

	*c = Config{
		Architectures: t.Architectures, ModelType: mt, VocabSize: t.VocabSize, HiddenSize: t.HiddenSize,
		IntermediateSize: t.IntermediateSize, NumHiddenLayers: t.NumHiddenLayers, NumAttentionHeads: t.NumAttentionHeads,
		NumKeyValueHeads: t.NumAttentionHeads, HiddenAct: t.HiddenAct, MaxPositionEmbeddings: t.MaxPositionEmbeddings,
		RMSNormEps: t.RMSNormEps, RopeTheta: 1e6, TorchDtype: t.TorchDtype,
		BosTokenID: t.BosTokenID.or(151643), EosTokenID: t.EosTokenID.or(151645),
		VisionStartTokenID: t.VisionStartTokenID.or(151652), VisionEndTokenID: t.VisionEndTokenID.or(151653),
		VisionTokenID: t.VisionTokenID.or(151654), ImageTokenID: t.ImageTokenID.or(151655), VideoTokenID: t.VideoTokenID.or(151656),
	}
	if c.TorchDtype == "" {
		c.TorchDtype = t.Dtype
	}
	if t.NumKeyValueHeads != nil {
		c.NumKeyValueHeads = *t.NumKeyValueHeads
	}
	if t.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *t.TieWordEmbeddings
	}
	if mt == ModelQwen3VL {
		c.RopeTheta, c.HeadDimOverride = 5e6, 128
		if t.AttentionBias != nil && *t.AttentionBias {
			return fmt.Errorf("%w: text_config.attention_bias true is not supported for %s", ErrUnsupportedModel, mt)
		}
	}
	if t.HeadDim != nil {
		c.HeadDimOverride = *t.HeadDim
		if mt != ModelQwen3VL && t.NumAttentionHeads > 0 && *t.HeadDim == t.HiddenSize/t.NumAttentionHeads {
			c.HeadDimOverride = 0 // the implied width; keep the Qwen2 layout
		}
	}
	if t.RopeTheta != nil {
		c.RopeTheta = *t.RopeTheta
	}
	rope := t.RopeScaling
	if t.RopeParameters != nil {
		rope = t.RopeParameters
	}
	if rope != nil {
		c.RopeScaling = RopeScaling{Type: rope.Type, RopeType: rope.RopeType, MropeSection: rope.MropeSection}
		if rope.RopeTheta != nil {
			c.RopeTheta = *rope.RopeTheta
		}
	}
	if mt != ModelQwen3VL && c.RopeScaling.Type == "" && c.RopeScaling.RopeType == "" {
		c.RopeScaling.Type = "mrope"
	}
	// Qwen3-VL always interleaves (transformers ignores the key); the others never do.
	c.RopeScaling.MropeInterleaved = mt == ModelQwen3VL

	vc := VisionConfig{Depth: v.Depth, NumHeads: v.NumHeads, HiddenAct: v.HiddenAct, InChans: 3, PatchSize: v.PatchSize,
		SpatialMergeSize: v.SpatialMergeSize, TemporalPatchSize: v.TemporalPatchSize}
	if v.InChans != nil {
		vc.InChans = *v.InChans
	} else if v.InChannels != nil {
		vc.InChans = *v.InChannels
	}
	switch mt {
	case ModelQwen25VL, ModelQwen3VL:
		vc.EmbedDim, vc.HiddenSize, vc.IntermediateSize = v.HiddenSize, v.OutHiddenSize, v.IntermediateSize
		if mt == ModelQwen25VL {
			vc.WindowSize, vc.FullAttBlockIndexes = v.WindowSize, v.FullAttBlockIndexes
			if v.TokensPerSecond != nil {
				vc.TokensPerSecond = *v.TokensPerSecond
			}
		} else {
			vc.NumPositionEmbeddings, vc.DeepstackVisualIndexes = v.NumPositionEmbeddings, v.DeepstackVisualIndexes
		}
	default:
		vc.EmbedDim, vc.HiddenSize, vc.MLPRatio = v.EmbedDim, v.HiddenSize, v.MLPRatio
	}
	c.VisionConfig = vc
	return nil
}

// plainConfig has Config's fields and struct tags without its methods.
type plainConfig Config

// MarshalJSON writes config.json in the layout the model's releases use:
// Qwen2-VL and Qwen2.5-VL with the text keys at the top level, Qwen3-VL
// with text_config; each with its own vision_config keys.
func (c Config) MarshalJSON() ([]byte, error) {
	v := c.VisionConfig
	switch c.ModelType {
	case ModelQwen25VL:
		m, err := toMap(plainConfig(c))
		if err != nil {
			return nil, err
		}
		m["vision_config"] = map[string]any{
			"depth": v.Depth, "hidden_size": v.EmbedDim, "out_hidden_size": v.HiddenSize, "intermediate_size": v.IntermediateSize,
			"num_heads": v.NumHeads, "hidden_act": v.HiddenAct, "in_chans": v.InChans, "patch_size": v.PatchSize,
			"spatial_patch_size": v.PatchSize, "spatial_merge_size": v.SpatialMergeSize, "temporal_patch_size": v.TemporalPatchSize,
			"window_size": v.WindowSize, "fullatt_block_indexes": nonNil(v.FullAttBlockIndexes), "tokens_per_second": v.TokensPerSecond,
		}
		return json.Marshal(m)
	case ModelQwen3VL:
		text := map[string]any{
			"model_type": "qwen3_vl_text", "vocab_size": c.VocabSize, "hidden_size": c.HiddenSize, "intermediate_size": c.IntermediateSize,
			"num_hidden_layers": c.NumHiddenLayers, "num_attention_heads": c.NumAttentionHeads, "num_key_value_heads": c.NumKeyValueHeads,
			"head_dim": c.HeadDim(), "hidden_act": c.HiddenAct, "max_position_embeddings": c.MaxPositionEmbeddings,
			"rms_norm_eps": c.RMSNormEps, "rope_theta": c.RopeTheta, "attention_bias": false,
			"rope_scaling": map[string]any{"rope_type": "default", "mrope_section": c.RopeScaling.MropeSection, "mrope_interleaved": true},
			"bos_token_id": c.BosTokenID, "eos_token_id": c.EosTokenID, "tie_word_embeddings": c.TieWordEmbeddings, "dtype": c.TorchDtype,
		}
		vis := map[string]any{
			"model_type": "qwen3_vl", "depth": v.Depth, "hidden_size": v.EmbedDim, "out_hidden_size": v.HiddenSize,
			"intermediate_size": v.IntermediateSize, "num_heads": v.NumHeads, "hidden_act": v.HiddenAct, "in_channels": v.InChans,
			"patch_size": v.PatchSize, "spatial_merge_size": v.SpatialMergeSize, "temporal_patch_size": v.TemporalPatchSize,
			"num_position_embeddings": v.NumPositionEmbeddings, "deepstack_visual_indexes": nonNil(v.DeepstackVisualIndexes),
		}
		archs := c.Architectures
		if archs == nil {
			archs = []string{}
		}
		return json.Marshal(map[string]any{
			"architectures": archs, "model_type": c.ModelType, "text_config": text, "vision_config": vis,
			"image_token_id": c.ImageTokenID, "video_token_id": c.VideoTokenID, "vision_start_token_id": c.VisionStartTokenID,
			"vision_end_token_id": c.VisionEndTokenID, "tie_word_embeddings": c.TieWordEmbeddings, "dtype": c.TorchDtype,
		})
	}
	return json.Marshal(plainConfig(c))
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

// toMap re-reads a marshalled value as a JSON object.
func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
