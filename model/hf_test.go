package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/model/safetensors"
)

// Synthetic Hugging Face checkpoints: config.json with the keys of the
// released configs (values scaled down, token ids real), weights under the
// released names, written as transformers does (sharded with an index, bf16).

// hfConfigQwen2VL is Qwen2-VL-2B-Instruct's config.json at small sizes.
func hfConfigQwen2VL() map[string]any {
	return map[string]any{
		"architectures":           []string{"Qwen2VLForConditionalGeneration"},
		"attention_dropout":       0.0,
		"bos_token_id":            151643,
		"eos_token_id":            151645,
		"vision_start_token_id":   151652,
		"vision_end_token_id":     151653,
		"vision_token_id":         151654,
		"image_token_id":          151655,
		"video_token_id":          151656,
		"hidden_act":              "silu",
		"hidden_size":             64,
		"initializer_range":       0.02,
		"intermediate_size":       96,
		"max_position_embeddings": 32768,
		"max_window_layers":       2,
		"model_type":              "qwen2_vl",
		"num_attention_heads":     4,
		"num_hidden_layers":       2,
		"num_key_value_heads":     2,
		"rms_norm_eps":            1e-06,
		"rope_theta":              1000000.0,
		"sliding_window":          32768,
		"tie_word_embeddings":     true,
		"torch_dtype":             "bfloat16",
		"transformers_version":    "4.41.2",
		"use_cache":               true,
		"use_sliding_window":      false,
		"vision_config": map[string]any{
			"depth": 2, "embed_dim": 32, "mlp_ratio": 4, "num_heads": 2, "in_chans": 3, "hidden_size": 64,
			"patch_size": 14, "spatial_merge_size": 2, "spatial_patch_size": 14, "temporal_patch_size": 2,
		},
		"rope_scaling": map[string]any{"type": "mrope", "mrope_section": []int{2, 3, 3}},
		"vocab_size":   151936,
	}
}

// nestText moves the text keys of a top-level config under text_config, as
// newer transformers saves do.
func nestText(cfg map[string]any) map[string]any {
	out := map[string]any{"text_config": map[string]any{}}
	text := out["text_config"].(map[string]any)
	for k, v := range cfg {
		switch {
		case k == "architectures" || k == "model_type" || k == "vision_config" || strings.HasSuffix(k, "_token_id") || k == "tie_word_embeddings":
			out[k] = v
		default:
			text[k] = v
		}
	}
	text["model_type"] = cfg["model_type"].(string) + "_text"
	return out
}

// hfCheckpoint says how a synthetic checkpoint is written.
type hfCheckpoint struct {
	dtype    string // F32, F16, BF16
	shards   int    // 0: single model.safetensors
	remapped bool   // transformers >= 4.52 names (model.visual.*, model.language_model.*)
	lmHead   bool   // also write lm_head.weight for a tied model
	// storeNames writes the in-store names (the Qwen2-VL layout) whatever the model.
	storeNames bool
}

// writeHFCheckpoint writes config.json and the store's base weights under
// checkpoint names to dir.
func writeHFCheckpoint(t testing.TB, dir string, cfg map[string]any, c Config, store *params.Store, ck hfCheckpoint) {
	t.Helper()
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	keyOf := func(name string) string {
		if ck.storeNames {
			return name
		}
		if ck.remapped {
			return remapName(name)
		}
		return c.HubWeightName(name)
	}
	var tensors []safetensors.Tensor
	for _, s := range c.baseParamSpecs() {
		p, ok := store.Get(s.Name)
		if !ok {
			t.Fatalf("store lacks %s", s.Name)
		}
		tt, err := safetensors.FromFloat32(keyOf(s.Name), ck.dtype, s.Shape, p.Data)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, tt)
	}
	if ck.lmHead && c.TieWordEmbeddings {
		p, _ := store.Get("model.embed_tokens.weight")
		tt, err := safetensors.FromFloat32("lm_head.weight", ck.dtype, []int64{int64(c.VocabSize), int64(c.HiddenSize)}, p.Data)
		if err != nil {
			t.Fatal(err)
		}
		tensors = append(tensors, tt)
	}
	if ck.shards == 0 {
		if err := safetensors.Write(filepath.Join(dir, safetensors.SingleFileName), tensors, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		return
	}
	weightMap := map[string]string{}
	total := 0
	for i := 0; i < ck.shards; i++ {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, ck.shards)
		var part []safetensors.Tensor
		for j := i; j < len(tensors); j += ck.shards {
			part = append(part, tensors[j])
			weightMap[tensors[j].Name] = file
			total += len(tensors[j].Data)
		}
		if err := safetensors.Write(filepath.Join(dir, file), part, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, safetensors.IndexFileName), idx, 0o644); err != nil {
		t.Fatal(err)
	}
}

// roundTo returns the store's values rounded to dtype, as a checkpoint holds them.
func roundTo(t testing.TB, dtype string, data []float32) []float32 {
	t.Helper()
	b, err := safetensors.EncodeFloat32(dtype, data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := safetensors.DecodeFloat32(dtype, b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sharpStore initialises c and scales the normal-initialised weights so the
// logits are far from uniform.
func sharpStore(t testing.TB, c Config, seed uint64, scale float32) *params.Store {
	t.Helper()
	return sharpParams(t, c, seed, scale)
}

// parseConfig decodes a config map as LoadJSON does.
func parseConfig(t testing.TB, cfg map[string]any) Config {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// loadSynthetic writes a synthetic checkpoint of cfg and loads it with
// LoadHF; it checks every weight against the written values.
func loadSynthetic(t testing.TB, cfg map[string]any, ck hfCheckpoint, seed uint64) (Config, *params.Store) {
	t.Helper()
	c := parseConfig(t, cfg)
	src := sharpStore(t, c, seed, 5)
	dir := t.TempDir()
	writeHFCheckpoint(t, dir, cfg, c, src, ck)
	lc, store, err := LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkLoaded(t, lc, store, src, ck.dtype)
	return lc, store
}

// writeAndLoad writes a synthetic checkpoint and returns LoadHF's result.
func writeAndLoad(t testing.TB, cfg map[string]any, ck hfCheckpoint, seed uint64) (Config, *params.Store, error) {
	t.Helper()
	c := parseConfig(t, cfg)
	src := sharpStore(t, c, seed, 5)
	dir := t.TempDir()
	writeHFCheckpoint(t, dir, cfg, c, src, ck)
	lc, store, err := LoadHF(dir)
	if err == nil {
		checkLoaded(t, lc, store, src, ck.dtype)
	}
	return lc, store, err
}

// checkLoaded compares a loaded store with the values written (rounded to dtype).
func checkLoaded(t testing.TB, lc Config, store, src *params.Store, dtype string) {
	t.Helper()
	if store.Len() != len(lc.ParamSpecs()) {
		t.Fatalf("loaded %d tensors, config has %d", store.Len(), len(lc.ParamSpecs()))
	}
	for _, p := range src.Params() {
		q, ok := store.Get(p.Name)
		if !ok {
			t.Fatalf("loaded store lacks %s", p.Name)
		}
		if want := roundTo(t, dtype, p.Data); !slices.Equal(q.Data, want) {
			t.Fatalf("%s: loaded values differ from the %s checkpoint", p.Name, dtype)
		}
	}
}

// checkKVParity decodes greedily with the KV cache from a padded two-prompt
// batch and checks every step's logits against a full prefill, and returns
// the largest difference.
func checkKVParity(t *testing.T, rt *ort.Runtime, c Config, store *params.Store, grids []Grid, steps int) float64 {
	t.Helper()
	pd := onnx.ExportOptions{ParamData: ParamData(store)}
	build := func(f func(Config, onnx.DType) (*Built, error)) *Built {
		b, err := f(c, onnx.Float32)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	vis := newSession(t, rt, build(BuildVision), pd)
	pre := newSession(t, rt, build(BuildPrefill), pd)
	dec := newSession(t, rt, build(BuildDecode), pd)
	ctx := context.Background()
	patches, cos, sin, T, S := testVideos(c, grids, 1)
	vf := visionFeeds(c, onnx.Float32, patches, cos, sin, T, S)
	for k, v := range c.VisionExtraFeeds(grids[0], onnx.Float32) {
		vf[k] = v
	}
	vout, err := vis.Run(ctx, vf, nil)
	if err != nil {
		t.Fatal(err)
	}
	embeds := vout[OutVisionEmbed]
	vs := c.NewVideos(grids)
	if embeds.Shape[0] != int64(vs.Tokens) || embeds.Shape[1] != int64(c.VisionEmbedWidth()) {
		t.Fatalf("vision embeds shape %v, want [%d %d]", embeds.Shape, vs.Tokens, c.VisionEmbedWidth())
	}
	prompts := make([][]int, len(grids))
	videos := make([][]int, len(grids))
	for i, g := range grids {
		prompts[i] = videoPrompt(c, []int{9 + i, 10, 11}[:3-i], []int{12, 13 + i}, g)
		videos[i] = []int{i}
	}
	pad := c.BosTokenID
	pb, err := c.NewPromptBatch(prompts, videos, vs, pad)
	if err != nil {
		t.Fatal(err)
	}
	feeds := pb.Feeds(onnx.Float32)
	feeds[InVisionEmbeds] = embeds
	out, err := pre.Run(ctx, feeds, nil)
	if err != nil {
		t.Fatal(err)
	}
	valid := pb.Valid
	next := slices.Clone(pb.Next)
	gen := make([][]int, len(prompts))
	logits := asFloat64(t, out[OutLogits])
	worst := 0.0
	for step := 0; step < steps; step++ {
		V := c.VocabSize
		toks := make([]int64, len(prompts))
		for r := range prompts {
			row := logits[r*V : (r+1)*V]
			best := 0
			for j := range row {
				if row[j] > row[best] {
					best = j
				}
			}
			toks[r] = int64(best)
			gen[r] = append(gen[r], best)
		}
		for r := range valid {
			valid[r] = append(valid[r], true)
		}
		df := DecodeFeeds(onnx.Float32, toks, next, valid)
		for i := 0; i < c.NumHiddenLayers; i++ {
			df[PastKey(i)] = out[PresentKey(i)]
			df[PastValue(i)] = out[PresentValue(i)]
		}
		if out, err = dec.Run(ctx, df, nil); err != nil {
			t.Fatalf("decode step %d: %v", step, err)
		}
		for r := range next {
			next[r]++
		}
		logits = asFloat64(t, out[OutLogits])
		full := make([][]int, len(prompts))
		for r := range prompts {
			full[r] = append(slices.Clone(prompts[r]), gen[r]...)
		}
		fb, err := c.NewPromptBatch(full, videos, vs, pad)
		if err != nil {
			t.Fatal(err)
		}
		ff := fb.Feeds(onnx.Float32)
		ff[InVisionEmbeds] = embeds
		fo, err := pre.Run(ctx, ff, []string{OutLogits})
		if err != nil {
			t.Fatal(err)
		}
		ref := asFloat64(t, fo[OutLogits])
		d, spread := maxAbsDiff(ref, logits)
		worst = math.Max(worst, d)
		if d >= 1e-4*math.Max(1, spread) {
			t.Errorf("step %d: decode logits differ from the full forward by %g", step, d)
		}
		if spread < 0.1 {
			t.Fatalf("logits too flat (%g) for a meaningful check", spread)
		}
	}
	return worst
}

// trainSteps runs steps SFT steps with SGD at rate lr through a Policy on
// the loaded model and checks that every step returns one gradient per
// trainable parameter, that the loss is finite and that it falls.
func trainSteps(t *testing.T, rt *ort.Runtime, c Config, store *params.Store, grid Grid, lr float32, steps int) {
	t.Helper()
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: []string{GraphSFT}, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	vb := randomVision(t, c, 2, grid, 3)
	rows := []Row{
		{Prompt: videoPrompt(c, []int{9}, []int{11}, grid), Response: []int{30, 31, 32}, Videos: []int{0}},
		{Prompt: videoPrompt(c, []int{10}, []int{11}, grid), Response: []int{33, 34}, Videos: []int{1}},
	}
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.TrainableStore(store)
	if err != nil {
		t.Fatal(err)
	}
	first, last := 0.0, 0.0
	for step := 0; step < steps; step++ {
		res, err := p.TrainStep(context.Background(), GraphSFT, sb, vb, StepInputs{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Grads) != tr.Len() {
			t.Fatalf("%d gradients for %d trainable parameters", len(res.Grads), tr.Len())
		}
		if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
			t.Fatalf("step %d: loss %g", step, res.Loss)
		}
		if step == 0 {
			first = res.Loss
		}
		last = res.Loss
		for _, prm := range tr.Params() {
			for i, g := range res.Grads[prm.Name] {
				prm.Data[i] -= lr * g
			}
		}
	}
	if last >= first {
		t.Fatalf("SFT loss %.4f -> %.4f did not fall", first, last)
	}
	t.Logf("SFT loss %.4f -> %.4f", first, last)
}

func TestLoadHFQwen2VL(t *testing.T) {
	cases := []struct {
		name string
		cfg  map[string]any
		ck   hfCheckpoint
	}{
		{"hub names, one f32 file", hfConfigQwen2VL(), hfCheckpoint{dtype: safetensors.F32}},
		{"remapped names, text_config, 3 bf16 shards", nestText(hfConfigQwen2VL()), hfCheckpoint{dtype: safetensors.BF16, shards: 3, remapped: true}},
		{"f16 shards with a tied lm_head stored", hfConfigQwen2VL(), hfCheckpoint{dtype: safetensors.F16, shards: 2, lmHead: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := loadSynthetic(t, tc.cfg, tc.ck, 1)
			if c.ModelType != ModelQwen2VL || c.HiddenSize != 64 || c.VisionConfig.EmbedDim != 32 || c.VisionConfig.MLPDim() != 128 ||
				!c.TieWordEmbeddings || c.VideoTokenID != 151656 || c.RMSNormEps != 1e-6 || c.TorchDtype != "bfloat16" {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

// TestHFQwen2VLRuns: a bf16 sharded synthetic Qwen2-VL checkpoint loads and
// runs prefill/decode with KV-cache parity and SFT steps.
func TestHFQwen2VLRuns(t *testing.T) {
	rt := openRuntime(t)
	c, store := loadSynthetic(t, nestText(hfConfigQwen2VL()), hfCheckpoint{dtype: safetensors.BF16, shards: 2, remapped: true}, 2)
	d := checkKVParity(t, rt, c, store, []Grid{{GT: 2, GH: 4, GW: 6}, {GT: 2, GH: 4, GW: 6}}, 4)
	t.Logf("worst decode/prefill logit difference %.3g", d)
	trainSteps(t, rt, c, store, Grid{GT: 1, GH: 4, GW: 4}, 0.02, 3)
}

func TestHFCheckpointNames(t *testing.T) {
	c := parseConfig(t, hfConfigQwen2VL())
	var names []string
	for _, s := range c.baseParamSpecs() {
		names = append(names, c.HubWeightName(s.Name))
	}
	// Names as in the released Qwen2-VL model.safetensors.index.json.
	for _, want := range []string{
		"visual.patch_embed.proj.weight", "visual.blocks.0.norm1.weight", "visual.blocks.0.norm1.bias",
		"visual.blocks.1.attn.qkv.weight", "visual.blocks.1.attn.qkv.bias", "visual.blocks.0.attn.proj.bias",
		"visual.blocks.0.mlp.fc1.weight", "visual.blocks.0.mlp.fc2.bias", "visual.merger.ln_q.weight", "visual.merger.ln_q.bias",
		"visual.merger.mlp.0.weight", "visual.merger.mlp.2.bias", "model.embed_tokens.weight",
		"model.layers.0.input_layernorm.weight", "model.layers.1.self_attn.q_proj.bias", "model.layers.1.self_attn.k_proj.weight",
		"model.layers.0.self_attn.o_proj.weight", "model.layers.0.post_attention_layernorm.weight",
		"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.down_proj.weight", "model.norm.weight",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no weight %s", want)
		}
	}
	if slices.Contains(names, "lm_head.weight") || slices.Contains(names, "model.layers.0.self_attn.o_proj.bias") {
		t.Error("tied model lists lm_head or an o_proj bias")
	}
	for _, tc := range []struct{ in, want string }{
		{"model.visual.blocks.0.attn.qkv.weight", "visual.blocks.0.attn.qkv.weight"},
		{"model.language_model.layers.3.mlp.up_proj.weight", "model.layers.3.mlp.up_proj.weight"},
		{"model.language_model.embed_tokens.weight", "model.embed_tokens.weight"},
		{"lm_head.weight", "lm_head.weight"},
		{"visual.merger.mlp.0.bias", "visual.merger.mlp.0.bias"},
	} {
		if got := StoreWeightName(tc.in); got != tc.want {
			t.Errorf("StoreWeightName(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if got := StoreWeightName(remapName(tc.want)); got != tc.want {
			t.Errorf("remap round trip of %s gives %s", tc.want, got)
		}
	}
}

func TestLoadHFErrors(t *testing.T) {
	base := hfConfigQwen2VL()
	c := parseConfig(t, base)
	store := sharpStore(t, c, 1, 1)
	with := func(k string, v any) map[string]any {
		m := hfConfigQwen2VL()
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		cfg    map[string]any
		mutate func(dir string)
		want   string
		is     error
	}{
		{"llama", with("model_type", "llama"), nil, "qwen2_vl (Qwen2VLForConditionalGeneration), qwen2_5_vl (Qwen2_5_VLForConditionalGeneration), qwen3_vl", ErrUnsupportedModel},
		{"moe architecture", with("architectures", []string{"Qwen3VLMoeForConditionalGeneration"}), nil, "Qwen3VLMoeForConditionalGeneration", ErrUnsupportedModel},
		{"untied without lm_head", with("tie_word_embeddings", false), nil, "lacks 1 tensors of qwen2_vl: lm_head.weight", nil},
		{"extra layer", with("num_hidden_layers", 1), nil, "model.layers.1.", nil},
		{"wrong width", with("intermediate_size", 80), nil, "model.layers.0.mlp.gate_proj.weight has shape [96 64], config.json implies [80 64]", nil},
		{"bad mrope", with("rope_scaling", map[string]any{"type": "mrope", "mrope_section": []int{2, 2, 2}}), nil, "mrope_section", ErrBadConfig},
		{"no weights", base, func(dir string) { os.Remove(filepath.Join(dir, safetensors.SingleFileName)) }, "neither", nil},
		{"both layouts", base, func(dir string) {
			path := filepath.Join(dir, safetensors.SingleFileName)
			f, err := safetensors.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			tt, _ := safetensors.FromFloat32("model.language_model.norm.weight", "F32", []int64{64}, make([]float32, 64))
			if err := safetensors.Write(path, append(f.Tensors(), tt), nil); err != nil {
				t.Fatal(err)
			}
		}, "holds both model.language_model.norm.weight and model.norm.weight", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeHFCheckpoint(t, dir, base, c, store, hfCheckpoint{dtype: safetensors.BF16})
			raw, _ := json.Marshal(tc.cfg)
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), raw, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate(dir)
			}
			_, _, err := LoadHF(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err %v is not %v", err, tc.is)
			}
		})
	}
}

// TestConfigJSONRoundTrip: each architecture's config survives
// MarshalJSON/UnmarshalJSON, and Qwen2-VL keeps its flat layout.
func TestConfigJSONRoundTrip(t *testing.T) {
	for _, cfg := range hfTestConfigs() {
		c := parseConfig(t, cfg)
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(c)
		b, _ := json.Marshal(back)
		if string(a) != string(b) {
			t.Errorf("%s: round trip changed the config:\n%s\n%s", c.ModelType, a, b)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		_, nested := m["text_config"]
		if nested != (c.ModelType == ModelQwen3VL) {
			t.Errorf("%s: text_config present = %v", c.ModelType, nested)
		}
	}
	tiny := tinyTest()
	raw, err := json.Marshal(tiny)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"embed_dim":64`, `"mlp_ratio":2`, `"rope_scaling":{"type":"mrope","mrope_section":[4,6,6]}`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("tiny config.json lacks %s: %s", key, raw)
		}
	}
	if strings.Contains(string(raw), "head_dim") || strings.Contains(string(raw), "intermediate_size\":0") {
		t.Errorf("tiny config.json has keys Qwen2-VL does not: %s", raw)
	}
}

// hfTestConfigs lists the synthetic configs of every supported architecture.
func hfTestConfigs() []map[string]any {
	return []map[string]any{hfConfigQwen2VL(), nestText(hfConfigQwen2VL()), hfConfigQwen25VL(), nestText(hfConfigQwen25VL()), hfConfigQwen3VL()}
}

func FuzzConfigJSON(f *testing.F) {
	for _, cfg := range hfTestConfigs() {
		raw, _ := json.Marshal(cfg)
		f.Add(raw)
	}
	f.Add([]byte(`{"model_type":"qwen2_vl","text_config":{"eos_token_id":[1,2]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		if err := json.Unmarshal(data, &c); err != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("re-parsed config invalid: %v", err)
		}
		b, _ := json.Marshal(back)
		if string(raw) != string(b) {
			t.Fatalf("round trip changed the config:\n%s\n%s", raw, b)
		}
	})
}
