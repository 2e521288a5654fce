package grpo

import (
	"context"
	"errors"
	"fmt"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/trainer/eval"
)

// What the training loop needs of the model, the rollout engine and the
// optimizer. The trainer runs *model.Policy (through modelPolicy),
// *rollout.Engine, and either the host optimizer (hostOptimizer: gradients
// to the host, *optim.AdamW) or the device one (deviceOptimizer:
// *model.DeviceAdamW, device.resident); tests run the loop on pure-Go
// fakes.

// Policy is the model being trained, as the loop uses it.
type Policy interface {
	// TrainStep runs a training graph (model.GraphGRPO or GraphSFT) over
	// one micro-batch and returns the loss, its diagnostics and one
	// gradient per trainable parameter; it does not change the weights.
	TrainStep(ctx context.Context, graph string, sb *model.SeqBatch, vb *model.VisionBatch, in model.StepInputs) (*model.StepResult, error)
	// ReferenceLogProbs returns the log-probs [B*R] of sb's response
	// tokens under the weights ref (the frozen reference policy).
	ReferenceLogProbs(ctx context.Context, ref *params.Store, sb *model.SeqBatch, vb *model.VisionBatch) ([]float64, error)
	// PrepareReference puts the reference's weights where
	// ReferenceLogProbs reads them, once, when the reference is made or
	// restored: a device-resident policy uploads them (a LoRA reference's
	// frozen base is the policy's own); a host-fed one has nothing to do.
	PrepareReference(ref *params.Store) error
	// SyncHost brings the weights changed on the device into the host
	// store (before a checkpoint or an export); UploadWeights sends the
	// host store to the device after it was changed there (a restored
	// checkpoint). Both do nothing for a host-fed policy.
	SyncHost() error
	UploadWeights() error
	// Transfers returns the host<->device copies so far by kind, and false
	// when nothing is counted (a host-fed policy).
	Transfers() (ort.Transfers, bool)
}

// Engine generates responses with the policy.
type Engine interface {
	eval.Generator
	// GenerateChunks samples g responses per prompt, group by group,
	// chunk prompts at a time (rollout.Engine.GenerateChunks).
	GenerateChunks(ctx context.Context, prompts []rollout.Prompt, g int, s rollout.Sampling, seed uint64, chunk int) ([]rollout.Sample, rollout.Stats, error)
}

// Micro is one micro-batch of an update: a training graph's batch and the
// weight of its gradients in the update's sum (its fields are those of
// model.Micro in the multi-device work, so one converts to the other).
type Micro struct {
	Seq    *model.SeqBatch
	Vision *model.VisionBatch
	Inputs model.StepInputs
	Weight float64
}

// Optimizer runs the training graph over the micro-batches of an update,
// sums their weighted gradients, and updates the trainable weights; it
// keeps the state a checkpoint saves. Where the gradients live is its
// business: the host optimizer brings them to Go memory, the device one
// keeps them in device buffers next to the weights.
type Optimizer interface {
	// Micros runs graph (model.GraphGRPO or GraphSFT) over the
	// micro-batches and adds each one's gradients times its Weight to the
	// pending sum; it returns the results in order (their Grads may be
	// nil). It may be called several times before Step or Discard; an
	// error discards the pending sum.
	Micros(ctx context.Context, graph string, mbs []Micro) ([]*model.StepResult, error)
	// Discard forgets the pending sum (an update skipped for a non-finite
	// loss).
	Discard()
	// Step applies one update with the pending sum and clears it; an
	// error wrapping optim.ErrNonFinite leaves the weights untouched.
	Step(ctx context.Context) (optim.StepStats, error)
	// Save and Load write and read the optimizer state (moments, step).
	Save(path string) error
	Load(path string) error
}

// gradientEditor is an Optimizer whose pending gradients can be read and
// replaced (the tests' gradient hook, Options.gradHook).
type gradientEditor interface {
	Gradients() (map[string][]float32, error)
	SetGradients(grads map[string][]float32) error
}

var (
	_ Policy         = modelPolicy{}
	_ Engine         = (*rollout.Engine)(nil)
	_ Optimizer      = (*hostOptimizer)(nil)
	_ Optimizer      = deviceOptimizer{}
	_ gradientEditor = (*hostOptimizer)(nil)
	_ gradientEditor = deviceOptimizer{}
	_ hostStepper    = (*optim.AdamW)(nil)
)

// modelPolicy is a *model.Policy as the loop's Policy.
type modelPolicy struct{ *model.Policy }

// ReferenceLogProbs implements Policy: the policy's log-prob graph run
// with the reference weights.
func (p modelPolicy) ReferenceLogProbs(ctx context.Context, ref *params.Store, sb *model.SeqBatch, vb *model.VisionBatch) ([]float64, error) {
	rp := p.WithStore(ref)
	emb, err := rp.Encode(ctx, vb)
	if err != nil {
		return nil, err
	}
	lp, _, err := rp.LogProbs(ctx, sb, emb)
	return lp, err
}

// PrepareReference implements Policy.
func (p modelPolicy) PrepareReference(ref *params.Store) error {
	if err := p.WithStore(ref).UploadNew(); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	return nil
}

// Transfers implements Policy: the resident policy's ledger.
func (p modelPolicy) Transfers() (ort.Transfers, bool) {
	if l := p.Ledger(); l != nil {
		return l.Snapshot(), true
	}
	return ort.Transfers{}, false
}

// hostStepper is an optimizer over host gradients (*optim.AdamW).
type hostStepper interface {
	// Step applies one update; an error wrapping optim.ErrNonFinite leaves
	// the weights untouched.
	Step(grads map[string][]float32) (optim.StepStats, error)
	Save(path string) error
	Load(path string) error
}

// hostOptimizer is the host path: each micro-batch's gradients come to the
// host (Policy.TrainStep) and are summed there; the step is a hostStepper's.
type hostOptimizer struct {
	policy Policy
	opt    hostStepper
	grads  map[string][]float32 // the pending sum (nil: none)
}

// Micros implements Optimizer.
func (o *hostOptimizer) Micros(ctx context.Context, graph string, mbs []Micro) ([]*model.StepResult, error) {
	out := make([]*model.StepResult, len(mbs))
	for i, mb := range mbs {
		res, err := o.policy.TrainStep(ctx, graph, mb.Seq, mb.Vision, mb.Inputs)
		if err != nil {
			o.Discard()
			return nil, err
		}
		if o.grads == nil {
			o.grads = map[string][]float32{}
		}
		accumulate(o.grads, res.Grads, mb.Weight)
		out[i] = res
	}
	return out, nil
}

// Discard implements Optimizer.
func (o *hostOptimizer) Discard() { o.grads = nil }

// Step implements Optimizer.
func (o *hostOptimizer) Step(context.Context) (optim.StepStats, error) {
	if o.grads == nil {
		return optim.StepStats{}, errors.New("optimizer: step without gradients")
	}
	g := o.grads
	o.grads = nil
	return o.opt.Step(g)
}

// Save implements Optimizer.
func (o *hostOptimizer) Save(path string) error { return o.opt.Save(path) }

// Load implements Optimizer.
func (o *hostOptimizer) Load(path string) error { o.grads = nil; return o.opt.Load(path) }

// Gradients implements gradientEditor: the pending sum itself.
func (o *hostOptimizer) Gradients() (map[string][]float32, error) { return o.grads, nil }

// SetGradients implements gradientEditor.
func (o *hostOptimizer) SetGradients(grads map[string][]float32) error {
	o.grads = grads
	return nil
}

// deviceOptimizer is the device path (*model.DeviceAdamW): gradients are
// summed in device buffers and AdamW updates the weights there.
type deviceOptimizer struct{ *model.DeviceAdamW }

// Micros implements Optimizer, one micro-batch after the other.
func (o deviceOptimizer) Micros(ctx context.Context, graph string, mbs []Micro) ([]*model.StepResult, error) {
	out := make([]*model.StepResult, len(mbs))
	for i, mb := range mbs {
		res, err := o.Micro(ctx, graph, mb.Seq, mb.Vision, mb.Inputs, mb.Weight)
		if err != nil {
			o.Discard()
			return nil, err
		}
		out[i] = res
	}
	return out, nil
}
