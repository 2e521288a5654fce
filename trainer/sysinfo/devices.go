package sysinfo

import (
	"fmt"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/model"
)

// DevicesPlan is the memory plan of a run over the devices of
// device.devices (docs/multi-device.md): every device holds the whole
// model (weights, the reference copy, gradients and AdamW moments of the
// trainable parameters, its sessions), the KV cache of its share of a
// step's prompts and the activations of one micro-batch; the host holds
// the process (runtime, host store, prompt cache) once and, with several
// devices, one float32 vector per replica of the largest trainable
// parameter during the host all-reduce.
type DevicesPlan struct {
	// Devices is the number of replicas and BatchPerDevice each one's
	// share of grpo.batch_prompts, ceil(batch_prompts / devices).
	Devices, BatchPerDevice int
	// PerDevice is one device's plan (model.PlanMemory with Batch =
	// BatchPerDevice): on CUDA its Device is what each GPU must hold.
	PerDevice model.MemoryPlan
	// AllReduce is the host buffers of the host all-reduce (0 on one
	// device).
	AllReduce int64
	// Host is the host memory of the whole run: on CPU, where every
	// replica lives in RAM, the plan of one device plus each further
	// replica's part plus AllReduce; on CUDA the host part of one device's
	// plan plus each further replica's sessions plus AllReduce.
	Host int64
	// CUDA is true for device.provider cuda; Reference when every device
	// also holds the frozen reference's weights (full fine-tune with KL).
	CUDA, Reference bool
}

// PlanDevices plans cfg's run of the model c on its devices, from in, the
// input of one device (PlanInput: Batch already each device's share).
func PlanDevices(cfg *configs.Config, c model.Config, in model.PlanInput) DevicesPlan {
	n := len(cfg.Device.DeviceIDs())
	plan := model.PlanMemory(c, in)
	dp := DevicesPlan{Devices: n, BatchPerDevice: in.Batch, PerDevice: plan, Host: plan.Host, CUDA: in.CUDA, Reference: in.Reference}
	if n <= 1 {
		return dp
	}
	dp.AllReduce = int64(n) * 4 * largestTrainable(c)
	more := int64(n - 1)
	if in.CUDA {
		dp.Host = plan.Host + more*plan.Sessions + dp.AllReduce
	} else {
		dp.Host = plan.Total + more*replicaBytes(plan) + dp.AllReduce
	}
	return dp
}

// replicaBytes is one resident replica's part of a CPU plan: its sessions
// and arenas, its device copy of the weights (half of Weights: the host
// store holds the other), KV cache, gradients and moments.
func replicaBytes(p model.MemoryPlan) int64 {
	return p.Sessions + p.TrainArenas + p.RolloutArenas + p.Weights/2 + p.KVCache + p.Gradients + p.Optimizer
}

// largestTrainable is the number of values of the largest trainable
// parameter (the token embedding of a full fine-tune).
func largestTrainable(c model.Config) int64 {
	var most int64
	for _, s := range c.TrainableSpecs() {
		k := int64(1)
		for _, d := range s.Shape {
			k *= int64(d)
		}
		most = max(most, k)
	}
	return most
}

// Check checks the plan against the memory available: on CUDA each
// device's plan against free, the bytes free on one GPU; on CPU the host
// total against free, the available RAM.
func (dp DevicesPlan) Check(free int64) error {
	p := dp.PerDevice
	if !dp.CUDA {
		p.Total = dp.Host
	}
	return p.Check(free)
}

// Lines says in words what each device and the host hold, for the doctor
// and the trainer's log (none on one device, where the plan's own lines
// say it all).
func (dp DevicesPlan) Lines() []string {
	if dp.Devices <= 1 {
		return nil
	}
	p := dp.PerDevice
	where := "RAM"
	each := p.Total
	if dp.CUDA {
		where, each = "device memory", p.Device
	}
	holds := "the whole model"
	if dp.Reference {
		holds = "the whole model and its frozen reference copy"
	}
	return []string{
		fmt.Sprintf("%d devices, each holds %s of %s: %s, its gradients and AdamW moments, the KV cache of %d prompts (ceil(batch_prompts / %d)) and one micro-batch's activations",
			dp.Devices, model.FormatBytes(each), where, holds, dp.BatchPerDevice, dp.Devices),
		fmt.Sprintf("host %s: the process, the host store and prompt cache once, %s of host all-reduce buffers (%d x the largest trainable parameter in float32)",
			model.FormatBytes(dp.Host), model.FormatBytes(dp.AllReduce), dp.Devices),
	}
}
