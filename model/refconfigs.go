package model

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Published Hugging Face configurations of models the project targets, for
// planning and modelling without the checkpoints (parameter counts,
// memory plans, the modelled GPU step). Their config.json architecture
// keys, as released.
var refConfigs = map[string]string{
	"qwen2.5-vl-3b": `{"architectures":["Qwen2_5_VLForConditionalGeneration"],"attention_dropout":0.0,
"bos_token_id":151643,"eos_token_id":151645,"vision_start_token_id":151652,"vision_end_token_id":151653,
"vision_token_id":151654,"image_token_id":151655,"video_token_id":151656,"hidden_act":"silu","hidden_size":2048,
"initializer_range":0.02,"intermediate_size":11008,"max_position_embeddings":128000,"max_window_layers":70,
"model_type":"qwen2_5_vl","num_attention_heads":16,"num_hidden_layers":36,"num_key_value_heads":2,
"rms_norm_eps":1e-06,"rope_theta":1000000.0,"sliding_window":32768,"tie_word_embeddings":true,
"torch_dtype":"bfloat16","use_cache":true,"use_sliding_window":false,
"vision_config":{"depth":32,"hidden_act":"silu","hidden_size":1280,"intermediate_size":3420,"num_heads":16,
"in_chans":3,"out_hidden_size":2048,"patch_size":14,"spatial_merge_size":2,"spatial_patch_size":14,
"window_size":112,"fullatt_block_indexes":[7,15,23,31],"tokens_per_second":2,"temporal_patch_size":2},
"rope_scaling":{"type":"mrope","mrope_section":[16,24,24]},"vocab_size":151936}`,
	"qwen3-vl-8b": `{"architectures":["Qwen3VLForConditionalGeneration"],"image_token_id":151655,"model_type":"qwen3_vl",
"text_config":{"attention_bias":false,"attention_dropout":0.0,"bos_token_id":151643,"dtype":"bfloat16",
"eos_token_id":151645,"head_dim":128,"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,
"intermediate_size":12288,"max_position_embeddings":262144,"model_type":"qwen3_vl_text","num_attention_heads":32,
"num_hidden_layers":36,"num_key_value_heads":8,"rms_norm_eps":1e-06,
"rope_scaling":{"mrope_interleaved":true,"mrope_section":[24,20,20],"rope_type":"default"},"rope_theta":5000000,
"tie_word_embeddings":false,"use_cache":true,"vocab_size":151936},
"tie_word_embeddings":false,"video_token_id":151656,
"vision_config":{"deepstack_visual_indexes":[8,16,24],"depth":27,"hidden_act":"gelu_pytorch_tanh","hidden_size":1152,
"in_channels":3,"initializer_range":0.02,"intermediate_size":4304,"model_type":"qwen3_vl","num_heads":16,
"num_position_embeddings":2304,"out_hidden_size":4096,"patch_size":16,"spatial_merge_size":2,"temporal_patch_size":2},
"vision_end_token_id":151653,"vision_start_token_id":151652}`,
}

// ReferenceConfigs lists the names ReferenceConfig knows.
func ReferenceConfigs() []string {
	var names []string
	for n := range refConfigs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ReferenceConfig returns a published model's configuration by name
// (qwen2.5-vl-3b, qwen3-vl-8b).
func ReferenceConfig(name string) (Config, error) {
	raw, ok := refConfigs[name]
	if !ok {
		return Config{}, fmt.Errorf("model: no reference config %q (have %v)", name, ReferenceConfigs())
	}
	var c Config
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return Config{}, fmt.Errorf("model: reference config %s: %w", name, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("model: reference config %s: %w", name, err)
	}
	return c, nil
}
