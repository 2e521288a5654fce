package model

import "strings"

// Weight names. The store always uses the Qwen2-VL hub layout, for every
// architecture: visual.* for the vision tower, model.embed_tokens,
// model.layers.N.*, model.norm for the language model, and lm_head.
// Checkpoints name the same tensors in one of two layouts:
//   - hub (Qwen2-VL and Qwen2.5-VL releases): the store layout itself;
//   - transformers >= 4.52 (Qwen3-VL releases and newer saves of the
//     others): model.visual.*, model.language_model.*, lm_head.
//
// Loading accepts both; HubWeightName gives the layout of the model's own releases.

const (
	storeVisual   = "visual."
	storeLM       = "model."
	remapVisual   = "model.visual."
	remapLanguage = "model.language_model."
)

// usesRemappedNames reports whether the model's released checkpoints use
// the model.visual / model.language_model layout.
func (c Config) usesRemappedNames() bool { return c.ModelType == ModelQwen3VL }

// HubWeightName maps an in-store weight name to the name the model's
// released checkpoints use.
func (c Config) HubWeightName(name string) string {
	if !c.usesRemappedNames() {
		return name
	}
	return remapName(name)
}

// HubModulePath maps an in-store module path (a weight name without its
// ".weight") to the module path of the released checkpoints.
func (c Config) HubModulePath(path string) string { return c.HubWeightName(path) }

// remapName converts a store-layout name to the transformers >= 4.52 layout.
func remapName(name string) string {
	switch {
	case strings.HasPrefix(name, storeVisual):
		return remapVisual + strings.TrimPrefix(name, storeVisual)
	case strings.HasPrefix(name, storeLM):
		return remapLanguage + strings.TrimPrefix(name, storeLM)
	}
	return name
}

// StoreWeightName maps a checkpoint weight name in either layout to the
// in-store name.
func StoreWeightName(name string) string {
	switch {
	case strings.HasPrefix(name, remapVisual):
		return storeVisual + strings.TrimPrefix(name, remapVisual)
	case strings.HasPrefix(name, remapLanguage):
		return storeLM + strings.TrimPrefix(name, remapLanguage)
	}
	return name
}
