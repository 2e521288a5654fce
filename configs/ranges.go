package configs

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// bound is the valid range of one numeric key: lo <= v <= hi, with either
// end excluded when its open flag is set. An unbounded end is ±Inf.
type bound struct {
	lo, hi         float64
	openLo, openHi bool
	// byTasks marks the keys whose range the tasks package checks
	// (tasks.SamplingConfig.Validate and its siblings, with relative rules
	// such as max_len >= min_len). The bound still documents the range and
	// the tests check that a value outside it is refused, but Validate
	// leaves the message to the tasks package so it is not given twice.
	byTasks bool
	// why is added to the error: what the range protects.
	why string
}

func (b bound) contains(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if v < b.lo || (b.openLo && v == b.lo) {
		return false
	}
	return v < b.hi || (!b.openHi && v == b.hi)
}

// String renders the range with the key's last name, e.g. "0 < top_p <= 1".
func (b bound) String(name string) string {
	lo, hi := !math.IsInf(b.lo, -1), !math.IsInf(b.hi, 1)
	op := func(open bool) string {
		if open {
			return "<"
		}
		return "<="
	}
	switch {
	case lo && hi:
		return fmt.Sprintf("%s %s %s %s %s", num(b.lo), op(b.openLo), name, op(b.openHi), num(b.hi))
	case lo:
		return fmt.Sprintf("%s %s", name, map[bool]string{true: "> ", false: ">= "}[b.openLo]+num(b.lo))
	case hi:
		return fmt.Sprintf("%s %s %s", name, op(b.openHi), num(b.hi))
	}
	return name + " finite"
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

var inf = math.Inf(1)

// Range constructors.
func atLeast(lo float64) bound     { return bound{lo: lo, hi: inf} }
func above(lo float64) bound       { return bound{lo: lo, hi: inf, openLo: true} }
func within(lo, hi float64) bound  { return bound{lo: lo, hi: hi} }
func upTo(lo, hi float64) bound    { return bound{lo: lo, hi: hi, openHi: true} }
func aboveTo(lo, hi float64) bound { return bound{lo: lo, hi: hi, openLo: true} }
func (b bound) tasks() bound       { b.byTasks = true; return b }
func (b bound) because(why string) bound {
	b.why = why
	return b
}

// ranges gives the range of every numeric key of Config, by its dotted
// name ("data.mix.*" stands for each entry of the map). Validate walks the
// whole struct and checks each numeric value against its entry, and the
// tests fail when a numeric key has none, so a key added to Config gets a
// range before it ships. Relations between keys (heldout_videos against
// synthetic_videos, mini_batches dividing batch_prompts, ...) are checked
// in Validate after the ranges.
var ranges = map[string]bound{
	"seed": atLeast(0),

	"device.device_id":        atLeast(0),
	"device.devices.*":        atLeast(0).because("a device ordinal"),
	"device.intra_op_threads": atLeast(0).because("0 = ONNX Runtime's default"),
	"device.inter_op_threads": atLeast(0),
	"device.rollout_threads":  atLeast(0).because("0 = intra_op_threads"),

	"model.init_seed":    atLeast(0),
	"model.lora.rank":    atLeast(0).because("0 = full fine-tuning"),
	"model.lora.alpha":   atLeast(0),
	"model.lora.dropout": upTo(0, 1),

	"data.synthetic_videos": atLeast(0),
	"data.heldout_videos":   atLeast(0).because("0 = no held-out VIUBench"),
	"data.train_samples":    atLeast(1),
	"data.warmup_samples":   atLeast(0),
	"data.mix.*":            atLeast(0).because("a sampling weight; 0 = off"),

	"data.sampling.frames":       atLeast(2).tasks(),
	"data.sampling.start_frac":   upTo(0, 1).tasks(),
	"data.sampling.end_frac":     aboveTo(0, 1).tasks(),
	"data.sampling.max_pixels":   atLeast(1).tasks(),
	"data.sampling.min_pixels":   atLeast(0).tasks(),
	"data.sampling.jpeg_quality": within(1, 100).tasks(),

	"data.grounding.min_len": atLeast(1).tasks(),
	"data.grounding.max_len": atLeast(1).tasks(),

	"data.counting.classes":              within(1, 3).tasks(),
	"data.counting.max_frames_per_class": atLeast(1).tasks(),
	"data.counting.max_instances":        atLeast(1).tasks(),
	"data.counting.min_frame_gap":        atLeast(0).tasks(),
	"data.counting.size_min":             aboveTo(0, 1).tasks(),
	"data.counting.size_max":             aboveTo(0, 1).tasks(),
	"data.counting.color_min":            within(0, 255).tasks(),
	"data.counting.color_max":            within(0, 255).tasks(),
	"data.counting.central_frac":         aboveTo(0, 1).tasks(),
	"data.counting.margin_factor":        atLeast(0).tasks(),
	"data.counting.tries":                atLeast(1).tasks(),
	"data.counting.shrink_factor":        bound{lo: 0, hi: 1, openLo: true, openHi: true, byTasks: true},
	"data.counting.frame_tries":          atLeast(1).tasks(),

	"data.jigsaw.clips": within(2, 9).tasks(),

	"viubench.per_subtype": atLeast(1),
	"viubench.max_pixels":  atLeast(1),

	"sft.steps":      atLeast(0).because("0 = no warm-up"),
	"sft.batch_size": atLeast(1),

	"grpo.steps":            atLeast(0),
	"grpo.batch_prompts":    atLeast(1),
	"grpo.group_size":       atLeast(2).because("a group of one response has no advantage to learn from"),
	"grpo.ppo_epochs":       atLeast(1),
	"grpo.mini_batches":     atLeast(1),
	"grpo.micro_batch_rows": atLeast(1),
	"grpo.adv_eps":          aboveTo(0, 1).because("an epsilon added to the group std of rewards in [0, 1]; above 1 it would outweigh the std"),
	"grpo.clip_low":         upTo(0, 1).because("the ratio is clipped below at 1 - clip_low"),
	"grpo.clip_high":        atLeast(0),
	"grpo.clip_c":           atLeast(0).because("0 = no dual clip, else > 1"),
	"grpo.kl_coef":          atLeast(0).because("a penalty; 0 = off"),
	"grpo.entropy_coef": within(0, 0.1).because("an entropy bonus: 0 in the paper, 1e-3 in verl's examples; above 0.1 the bonus " +
		"(token entropy up to ln(vocab) ~ 12) outweighs the policy-gradient term, and a negative value (an entropy penalty) collapses sampling"),

	"grpo.max_fill_rounds": within(0, 16).because("extra rollout rounds of dynamic sampling per step; 0 = drop only"),

	"curriculum.start_level":   within(0, 2).because("0 easiest, 1 the data section's settings, 2 hardest"),
	"curriculum.target_reward": aboveTo(0, 1).because("a mean reward in (0, 1); 0.5 keeps most groups informative"),
	"curriculum.band":          upTo(0, 0.5),
	"curriculum.max_zero_var":  aboveTo(0, 1),
	"curriculum.every":         atLeast(1).because("GRPO steps per window"),
	"curriculum.step":          aboveTo(0, 1).because("relative change of a mix weight per window"),
	"curriculum.min_weight":    aboveTo(0, 1).because("floor of a mix weight, as a fraction of its data.mix weight"),

	"rollout.temperature":       aboveTo(0, 10).because("GRPO samples G responses a prompt; at 0 (greedy) they are identical and no group has a signal"),
	"rollout.top_p":             aboveTo(0, 1),
	"rollout.top_k":             atLeast(-1).because("-1 or 0 = off"),
	"rollout.max_new_tokens":    atLeast(1),
	"rollout.max_prompt_tokens": atLeast(1),
	"rollout.chunk_prompts":     atLeast(0).because("0 = the whole batch at once"),

	"eval.every":          atLeast(0).because("0 = only before and after GRPO"),
	"eval.max_new_tokens": atLeast(1),

	"checkpoint.every": atLeast(0).because("0 = only at the end"),
	"checkpoint.keep":  atLeast(1),

	"logging.rollouts_every": atLeast(0).because("0 = no rollout logs"),

	"reward.plugins.*.batch": atLeast(0).because("0 = a sample's whole group in one exchange"),
}

// optimRanges are the ranges of an optimizer section (sft.optim and
// grpo.optim), added to ranges by init.
var optimRanges = map[string]bound{
	"lr":           aboveTo(0, 1).because("AdamW moves each weight by about lr a step"),
	"beta1":        upTo(0, 1),
	"beta2":        upTo(0, 1),
	"eps":          aboveTo(0, 1),
	"weight_decay": atLeast(0),
	"grad_clip":    atLeast(0).because("0 = no clipping"),
	"warmup_steps": atLeast(0),
	"min_lr_ratio": within(0, 1),
}

func init() {
	for _, sec := range []string{"sft.optim.", "grpo.optim."} {
		for k, b := range optimRanges {
			ranges[sec+k] = b
		}
	}
}

// numericKey is one numeric value of a Config, found by walking it.
type numericKey struct {
	key   string  // dotted name, e.g. "grpo.optim.lr" or "data.mix.jigsaw"
	rule  string  // its entry in ranges ("data.mix.*" for a map entry)
	value float64 // the value as float64 (integers convert exactly up to 2^53)
	isInt bool
}

// numericKeys walks v (a struct) by its mapstructure tags and lists every
// numeric leaf, map entries included, in a stable order.
func numericKeys(v reflect.Value, prefix string) []numericKey {
	var out []numericKey
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Struct:
			out = append(out, numericKeys(fv, key+".")...)
		case reflect.Slice:
			for j := range fv.Len() {
				if n, ok := number(fv.Index(j)); ok {
					n.key, n.rule = fmt.Sprintf("%s.%d", key, j), key+".*"
					out = append(out, n)
					continue
				}
				if fv.Index(j).Kind() != reflect.Struct {
					continue
				}
				// A list of sections (reward.plugins): each element's
				// keys, named key[i].name as the decoder names them,
				// share the rule key.*.name.
				elem := fmt.Sprintf("%s[%d].", key, j)
				for _, n := range numericKeys(fv.Index(j), elem) {
					n.rule = key + ".*." + strings.TrimPrefix(n.rule, elem)
					out = append(out, n)
				}
			}
		case reflect.Map:
			keys := fv.MapKeys()
			sort.Slice(keys, func(a, b int) bool { return keys[a].String() < keys[b].String() })
			for _, mk := range keys {
				if n, ok := number(fv.MapIndex(mk)); ok {
					n.key, n.rule = key+"."+mk.String(), key+".*"
					out = append(out, n)
				}
			}
		default:
			if n, ok := number(fv); ok {
				n.key, n.rule = key, key
				out = append(out, n)
			}
		}
	}
	return out
}

// number converts a numeric reflect value.
func number(v reflect.Value) (numericKey, bool) {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return numericKey{value: float64(v.Int()), isInt: true}, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return numericKey{value: float64(v.Uint()), isInt: true}, true
	case reflect.Float32, reflect.Float64:
		return numericKey{value: v.Float()}, true
	}
	return numericKey{}, false
}

// checkRanges checks every numeric key of c: floats must be finite, and
// each value must lie in its range. bad reports one key.
func (c *Config) checkRanges(bad func(key, format string, a ...any)) {
	for _, n := range numericKeys(reflect.ValueOf(c).Elem(), "") {
		if math.IsNaN(n.value) || math.IsInf(n.value, 0) {
			bad(n.key, "%v, want a finite number", n.value)
			continue
		}
		b, ok := ranges[n.rule]
		if !ok || b.byTasks || b.contains(n.value) {
			continue
		}
		name := n.key[strings.LastIndex(n.key, ".")+1:]
		if b.why != "" {
			bad(n.key, "%s, want %s (%s)", num(n.value), b.String(name), b.why)
		} else {
			bad(n.key, "%s, want %s", num(n.value), b.String(name))
		}
	}
}
