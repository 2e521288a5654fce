package model

import (
	"math"
	"testing"
)

// TestReferenceConfigs: the published configurations give the published
// parameter counts (Qwen2.5-VL-3B 3.75B, Qwen3-VL-8B 8.77B).
func TestReferenceConfigs(t *testing.T) {
	for name, want := range map[string]float64{"qwen2.5-vl-3b": 3.75e9, "qwen3-vl-8b": 8.77e9} {
		c, err := ReferenceConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(c.NumParams()); math.Abs(got/want-1) > 0.01 {
			t.Errorf("%s: %d parameters, want about %.3g", name, c.NumParams(), want)
		}
	}
	if _, err := ReferenceConfig("gpt-5"); err == nil {
		t.Error("unknown reference config accepted")
	}
}

// TestModelGPUStep: the modelled step of Qwen3-VL-8B at the paper's batch
// (the one-GPU rollout chunk of 4 prompts).
// Host-fed, a decode step moves every float32 weight over the link (tens of
// GB, most of a second); resident, it moves 16 bytes a row in and the
// logits out, the same for the 3B model, and the step is then bound by the
// device. Float32 costs a factor over bf16 on the device.
func TestModelGPUStep(t *testing.T) {
	w := StepWorkload{Prompts: 64, Group: 8, PromptTokens: 1636, VisionTokens: 1536, ResponseTokens: 2048, MicroRows: 8, Reference: true, ChunkPrompts: 4}
	g := H100()
	c8, _ := ReferenceConfig("qwen3-vl-8b")
	c3, _ := ReferenceConfig("qwen2.5-vl-3b")
	m8, m3 := ModelGPUStep(c8, w, g), ModelGPUStep(c3, w, g)
	for _, m := range [][]PhaseModel{m8, m3} {
		for _, ph := range m {
			if ph.GPU <= 0 || ph.BeforeSec < ph.AfterSec || ph.After.Bytes() >= ph.Before.Bytes() || ph.BF16 >= ph.GPU {
				t.Errorf("%s: %+v", ph.Phase, ph)
			}
		}
	}
	dec := m8[0]
	if w := int64(4 * c8.NumParams()); dec.Before.H2D < w {
		t.Errorf("host-fed decode step moves %d bytes in, less than the %d bytes of float32 weights", dec.Before.H2D, w)
	}
	B := int64(w.ChunkPrompts * w.Group)
	if dec.After != (Traffic{H2D: 16*B + 8, D2H: 4 * B * int64(c8.VocabSize)}) || m3[0].After != dec.After {
		t.Errorf("resident decode step traffic %+v (3B: %+v)", dec.After, m3[0].After)
	}
	if dec.BeforeSec < 0.5 || dec.AfterSec > dec.GPU*1.2 {
		t.Errorf("decode step: host-fed %s, resident %s, device %s", FormatSeconds(dec.BeforeSec), FormatSeconds(dec.AfterSec), FormatSeconds(dec.GPU))
	}
	trn := m8[2]
	if trn.After.Bytes() > trn.Before.Bytes()/100 {
		t.Errorf("train step: resident moves %d of the host-fed %d bytes", trn.After.Bytes(), trn.Before.Bytes())
	}
	for _, ph := range m8 {
		t.Logf("%-12s before %s (%d B), after %s (%d B), device %s %s-bound, bf16 %s", ph.Phase, FormatSeconds(ph.BeforeSec), ph.Before.Bytes(),
			FormatSeconds(ph.AfterSec), ph.After.Bytes(), FormatSeconds(ph.GPU), ph.Bound, FormatSeconds(ph.BF16))
	}
}
