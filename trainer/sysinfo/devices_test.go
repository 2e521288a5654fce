package sysinfo

import (
	"strings"
	"testing"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
)

// TestPlanDevicesPaper plans the paper's full fine-tune
// (configs/videossr-qwen3vl8b.yaml, Qwen3-VL-8B) on one GPU and on 8: each
// of the 8 holds the whole model (weights with the reference copy,
// gradients, moments: as much as one GPU alone) and an eighth of the
// rollout's KV cache (8 of the 64 prompts); the host adds the all-reduce
// buffers, one float32 embedding per replica.
func TestPlanDevicesPaper(t *testing.T) {
	c, err := model.ReferenceConfig("qwen3-vl-8b")
	if err != nil {
		t.Fatal(err)
	}
	plan := func(sets ...string) (model.PlanInput, DevicesPlan) {
		cfg, err := configs.Load([]string{"../../configs/videossr-qwen3vl8b.yaml"}, append([]string{"model.path=/nonexistent"}, sets...))
		if err != nil {
			t.Fatal(err)
		}
		in, _ := PlanInputWith(cfg, c, nil)
		return in, PlanDevices(cfg, c, in)
	}
	in1, one := plan()
	in8, eight := plan("device.devices=[0, 1, 2, 3, 4, 5, 6, 7]")
	if in1.Batch != 64 || in8.Batch != 8 || eight.Devices != 8 || eight.BatchPerDevice != 8 || one.Devices != 1 {
		t.Fatalf("batch per device: one %d, eight %d (%d devices)", in1.Batch, in8.Batch, eight.Devices)
	}
	p1, p8 := one.PerDevice, eight.PerDevice
	if p8.Weights != p1.Weights || p8.Gradients != p1.Gradients || p8.Optimizer != p1.Optimizer || p8.Activations != p1.Activations {
		t.Errorf("a device of 8 holds weights %d, gradients %d, moments %d, activations %d; one GPU %d, %d, %d, %d",
			p8.Weights, p8.Gradients, p8.Optimizer, p8.Activations, p1.Weights, p1.Gradients, p1.Optimizer, p1.Activations)
	}
	if p8.KVCache*8 != p1.KVCache {
		t.Errorf("KV cache per device %d, one GPU's %d: want an eighth", p8.KVCache, p1.KVCache)
	}
	if p8.Device >= p1.Device {
		t.Errorf("a device of 8 needs %d, one GPU %d", p8.Device, p1.Device)
	}
	emb := int64(c.VocabSize) * int64(c.HiddenSize)
	if one.AllReduce != 0 || eight.AllReduce != 8*4*emb {
		t.Errorf("all-reduce buffers %d on one device, %d on 8 (want %d)", one.AllReduce, eight.AllReduce, 8*4*emb)
	}
	if want := p8.Host + 7*p8.Sessions + eight.AllReduce; eight.Host != want {
		t.Errorf("host %d, want %d", eight.Host, want)
	}
	lines := strings.Join(eight.Lines(), "\n")
	for _, w := range []string{"8 devices, each holds " + model.FormatBytes(p8.Device) + " of device memory", "the KV cache of 8 prompts", "host all-reduce buffers"} {
		if !strings.Contains(lines, w) {
			t.Errorf("lines lack %q:\n%s", w, lines)
		}
	}
	if one.Lines() != nil {
		t.Errorf("one device has device lines: %q", one.Lines())
	}
	t.Logf("one GPU: %s per device (weights %s, gradients %s, moments %s, KV %s, activations %s)", model.FormatBytes(p1.Device),
		model.FormatBytes(p1.Weights), model.FormatBytes(p1.Gradients), model.FormatBytes(p1.Optimizer), model.FormatBytes(p1.KVCache), model.FormatBytes(p1.Activations))
	t.Logf("8 GPUs: %s per device (weights %s, gradients %s, moments %s, KV %s, activations %s, train arenas %s, rollout arenas %s); host %s (all-reduce %s)",
		model.FormatBytes(p8.Device), model.FormatBytes(p8.Weights), model.FormatBytes(p8.Gradients), model.FormatBytes(p8.Optimizer),
		model.FormatBytes(p8.KVCache), model.FormatBytes(p8.Activations), model.FormatBytes(p8.TrainArenas), model.FormatBytes(p8.RolloutArenas),
		model.FormatBytes(eight.Host), model.FormatBytes(eight.AllReduce))
	t.Logf("8 devices:\n%s", lines)
}

// TestPlanDevicesCPU: on CPU every replica lives in RAM, so the host
// total grows by one replica's part per further device, and a micro-batch
// larger than a device's share of the prompts is planned whole.
func TestPlanDevicesCPU(t *testing.T) {
	c := model.Tiny(1024, model.TinyTokens{EndOfText: 1016, ImStart: 1017, ImEnd: 1018, VisionStart: 1019, VisionEnd: 1020, VisionPad: 1021, ImagePad: 1022, VideoPad: 1023})
	plan := func(sets ...string) (model.PlanInput, DevicesPlan) {
		cfg, err := configs.Load(nil, sets)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := PlanInputWith(cfg, c, nil)
		return in, PlanDevices(cfg, c, in)
	}
	_, one := plan("grpo.batch_prompts=8", "grpo.group_size=8", "grpo.micro_batch_rows=32")
	in2, two := plan("grpo.batch_prompts=8", "grpo.group_size=8", "grpo.micro_batch_rows=32", "device.devices=[0, 1]")
	if in2.Batch != 4 || two.Devices != 2 {
		t.Fatalf("2 devices: batch %d, devices %d", in2.Batch, two.Devices)
	}
	if one.Host != one.PerDevice.Total || two.Host <= two.PerDevice.Total || two.AllReduce <= 0 {
		t.Fatalf("host: one device %d (plan %d), two %d (plan of one %d, all-reduce %d)", one.Host, one.PerDevice.Total, two.Host, two.PerDevice.Total, two.AllReduce)
	}
	if err := two.Check(two.Host - 1); err == nil {
		t.Fatal("a host one byte short of the plan passed the check")
	}
	if err := two.Check(two.Host); err != nil {
		t.Fatal(err)
	}
	// One micro-batch of all 64 rows: it runs on one device.
	inAll, _ := plan("grpo.batch_prompts=8", "grpo.group_size=8", "grpo.micro_batch_rows=64", "device.devices=[0, 1]")
	if inAll.Batch != 8 {
		t.Fatalf("one micro-batch of every row on 2 devices: batch per device %d, want 8", inAll.Batch)
	}
}
