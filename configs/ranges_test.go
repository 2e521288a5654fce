package configs

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// loadErr loads the default with sets and returns the error text ("" when
// it loads).
func loadErr(t *testing.T, files []string, sets ...string) string {
	t.Helper()
	_, err := Load(files, sets)
	if err == nil {
		return ""
	}
	if !errors.Is(err, ErrConfig) {
		t.Errorf("Load(%v, %v): error %v does not wrap ErrConfig", files, sets, err)
	}
	return err.Error()
}

// TestEveryNumericKeyHasARange walks the whole Config: each numeric key
// must have an entry in ranges, and each entry must name a key that
// exists, so a key added later cannot ship unchecked.
func TestEveryNumericKeyHasARange(t *testing.T) {
	// A device list and one reward plug-in, so that the walk sees an entry of
	// device.devices and the keys of a list element.
	c, err := Load(nil, []string{"device.devices=[0, 1]", "reward.plugins=[{data_sources: [x], command: [\"true\"]}]"})
	if err != nil {
		t.Fatal(err)
	}
	keys := numericKeys(reflect.ValueOf(c).Elem(), "")
	if len(keys) < 60 {
		t.Fatalf("walk found only %d numeric keys", len(keys))
	}
	used := map[string]bool{}
	for _, k := range keys {
		if _, ok := ranges[k.rule]; !ok {
			t.Errorf("numeric key %s has no entry in ranges", k.key)
		}
		used[k.rule] = true
	}
	for rule := range ranges {
		if !used[rule] {
			t.Errorf("ranges has %q, which is no numeric key of Config", rule)
		}
	}
}

// outside returns values just outside b for a key (integers step by one).
func outside(b bound, isInt bool) []float64 {
	var out []float64
	step := func(v float64) float64 { return math.Max(math.Abs(v)*1e-3, 1e-3) }
	if !math.IsInf(b.lo, -1) {
		switch {
		case b.openLo:
			out = append(out, b.lo)
		case isInt:
			out = append(out, b.lo-1)
		default:
			out = append(out, b.lo-step(b.lo))
		}
	}
	if !math.IsInf(b.hi, 1) {
		switch {
		case b.openHi:
			out = append(out, b.hi)
		case isInt:
			out = append(out, b.hi+1)
		default:
			out = append(out, b.hi+step(b.hi))
		}
	}
	return out
}

// TestEveryRangeIsEnforced sets every numeric key, one at a time, to each
// value just outside its range, to NaN and ±Inf (floats) and to a fraction
// and a boolean (integers): Load must refuse each, naming the key.
func TestEveryRangeIsEnforced(t *testing.T) {
	c, err := Load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range numericKeys(reflect.ValueOf(c).Elem(), "") {
		b := ranges[k.rule]
		var vals []string
		for _, v := range outside(b, k.isInt) {
			vals = append(vals, strconv.FormatFloat(v, 'g', -1, 64))
		}
		if k.isInt {
			vals = append(vals, "2.5", "true", ".inf")
		} else {
			vals = append(vals, ".nan", ".inf", "-.inf", "nan", "false")
		}
		if len(vals) == 0 {
			t.Errorf("%s: no value to try", k.key)
		}
		for _, v := range vals {
			msg := loadErr(t, nil, k.key+"="+v)
			if msg == "" {
				t.Errorf("--set %s=%s accepted (range %s)", k.key, v, b.String("x"))
				continue
			}
			if !strings.Contains(msg, k.key+":") {
				t.Errorf("--set %s=%s: error does not name the key: %s", k.key, v, msg)
			}
		}
	}
}

// TestRangeMessages checks the messages of the cases an adversarial user
// met: each names the key and says what is wanted.
func TestRangeMessages(t *testing.T) {
	cases := []struct {
		sets []string
		want []string
	}{
		{[]string{"grpo.kl_coef=-1"}, []string{"grpo.kl_coef: -1, want kl_coef >= 0"}},
		{[]string{"grpo.adv_eps=-1"}, []string{"grpo.adv_eps: -1, want 0 < adv_eps <= 1"}},
		{[]string{"grpo.entropy_coef=-1e9"}, []string{"grpo.entropy_coef: -1e+09, want 0 <= entropy_coef <= 0.1"}},
		{[]string{"grpo.optim.lr=.nan"}, []string{"grpo.optim.lr: NaN, want a finite number"}},
		{[]string{"sft.optim.lr=.inf"}, []string{"sft.optim.lr: +Inf, want a finite number"}},
		{[]string{"rollout.top_p=1.5"}, []string{"rollout.top_p: 1.5, want 0 < top_p <= 1"}},
		{[]string{"rollout.temperature=0"}, []string{"rollout.temperature: 0, want 0 < temperature <= 10", "greedy"}},
		{[]string{"grpo.steps=2.9"}, []string{"grpo.steps: 2.9 is not an integer"}},
		{[]string{"grpo.steps=true"}, []string{"grpo.steps: true is a boolean, want an integer"}},
		{[]string{"seed=-1"}, []string{"seed: -1, want an integer >= 0"}},
		{[]string{"model.init_seed=-3"}, []string{"model.init_seed: -3, want an integer >= 0"}},
		{[]string{"grpo.norm_adv_by_std=1"}, []string{"grpo.norm_adv_by_std: 1 is a number, want true or false"}},
		{[]string{"grpo.steps="}, []string{"--set grpo.steps: no value"}},
		{[]string{"data.heldout_videos=5", "data.synthetic_videos=2"}, []string{"data.heldout_videos: 5 held-out videos need data.synthetic_videos >= 6 (it is 2)", "data.heldout_videos=0"}},
		{[]string{"grpo.optim.weight_decay=5000"}, []string{"grpo.optim.weight_decay: 5000 with lr 0.0003", "lr x weight_decay < 1"}},
		{[]string{"eval={every: 1}"}, []string{`--set eval: "eval" is a section`, "--set eval.every=1", "before, every, files, max_new_tokens"}},
		{[]string{"data.mix={jigsaw: 0}"}, []string{"--set data.mix.jigsaw=0"}},
		{[]string{"grpo=3"}, []string{`"grpo" is a section`, "--set grpo.adv_eps=..."}},
	}
	for _, tc := range cases {
		msg := loadErr(t, nil, tc.sets...)
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("--set %v: error %q lacks %q", tc.sets, msg, w)
			}
		}
	}
}

// TestStrictNumbersInFiles: the same checks hold for values from a file.
func TestStrictNumbersInFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"grpo:\n  steps: 2.9\n":          "grpo.steps: 2.9 is not an integer",
		"seed: -1\n":                     "seed: -1, want an integer >= 0",
		"grpo:\n  kl_coef: .nan\n":       "grpo.kl_coef: NaN",
		"rollout: {top_k: yes}\n":        "rollout.top_k",
		"grpo:\n  optim: {lr: -.inf}\n":  "grpo.optim.lr: -Inf",
		"eval: 1\n":                      `"eval" is a section, not a value`,
		"data: {heldout_videos: 30}\n":   "data.heldout_videos: 30 held-out videos need data.synthetic_videos >= 31",
		"grpo: {batch_prompts: 1.0e3}\n": "",
	}
	i := 0
	for body, want := range cases {
		i++
		p := filepath.Join(dir, strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		msg := loadErr(t, []string{p})
		if want == "" {
			if msg != "" {
				t.Errorf("%q: %s", body, msg)
			}
			continue
		}
		if !strings.Contains(msg, want) {
			t.Errorf("%q: error %q lacks %q", body, msg, want)
		}
	}
}

// TestIntegralFloatsAndEmptyValues: 1e2 is the integer 100; an empty
// value clears a string or a list.
func TestIntegralFloatsAndEmptyValues(t *testing.T) {
	c, err := Load(nil, []string{"grpo.steps=1e2", "model.tokenizer=", "data.videos=", "data.heldout_videos=0", "data.synthetic_videos=0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GRPO.Steps != 100 || c.Model.Tokenizer != "" || len(c.Data.Videos) != 0 {
		t.Errorf("steps %d, tokenizer %q, videos %v", c.GRPO.Steps, c.Model.Tokenizer, c.Data.Videos)
	}
}

// TestEmbeddedNamesListsEveryFile: every YAML file of the folder is
// embedded and listed, so the tests that load each config see them all.
func TestEmbeddedNamesListsEveryFile(t *testing.T) {
	var disk []string
	for _, pat := range []string{"*.yaml", "ablations/*.yaml"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		disk = append(disk, m...)
	}
	names := map[string]bool{}
	for _, n := range EmbeddedNames() {
		names[n] = true
	}
	for _, f := range disk {
		if !names[filepath.ToSlash(f)] {
			t.Errorf("%s is not embedded", f)
		}
	}
	if len(names) != len(disk) {
		t.Errorf("%d embedded names for %d files", len(names), len(disk))
	}
}

// TestGeneratorRelations: knobs that only fail together are refused at
// load time, not after the synthetic videos are made.
func TestGeneratorRelations(t *testing.T) {
	for set, want := range map[string]string{
		"data.jigsaw.clips=5":        "data.jigsaw.clips: 5 does not divide sampling.frames (16)",
		"data.grounding.max_len=40":  "data.grounding.max_len: 40 exceeds sampling.frames (16)",
		"data.sampling.end_frac=.01": "data.sampling.end_frac: 0.01",
	} {
		if msg := loadErr(t, nil, set); !strings.Contains(msg, want) {
			t.Errorf("--set %s: error %q lacks %q", set, msg, want)
		}
	}
}
