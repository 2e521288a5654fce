package grpo

import (
	"context"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/rollout"
	"github.com/videossr/videossr-go/trainer/eval"
)

// What the training loop needs of the model, the rollout engine and the
// optimizer. The trainer runs *model.Policy (through modelPolicy),
// *rollout.Engine and *optim.AdamW; tests run the loop on pure-Go fakes.

// Policy is the model being trained, as the loop uses it.
type Policy interface {
	// TrainStep runs a training graph (model.GraphGRPO or GraphSFT) over
	// one micro-batch and returns the loss, its diagnostics and one
	// gradient per trainable parameter; it does not change the weights.
	TrainStep(ctx context.Context, graph string, sb *model.SeqBatch, vb *model.VisionBatch, in model.StepInputs) (*model.StepResult, error)
	// ReferenceLogProbs returns the log-probs [B*R] of sb's response
	// tokens under the weights ref (the frozen reference policy).
	ReferenceLogProbs(ctx context.Context, ref *params.Store, sb *model.SeqBatch, vb *model.VisionBatch) ([]float64, error)
}

// Engine generates responses with the policy.
type Engine interface {
	eval.Generator
	// GenerateChunks samples g responses per prompt, group by group,
	// chunk prompts at a time (rollout.Engine.GenerateChunks).
	GenerateChunks(ctx context.Context, prompts []rollout.Prompt, g int, s rollout.Sampling, seed uint64, chunk int) ([]rollout.Sample, rollout.Stats, error)
}

// Optimizer updates the trainable weights from gradients and keeps the
// state a checkpoint saves.
type Optimizer interface {
	// Step applies one update; an error wrapping optim.ErrNonFinite leaves
	// the weights untouched.
	Step(grads map[string][]float32) (optim.StepStats, error)
	// Save and Load write and read the optimizer state (moments, step).
	Save(path string) error
	Load(path string) error
}

var (
	_ Policy    = modelPolicy{}
	_ Engine    = (*rollout.Engine)(nil)
	_ Optimizer = (*optim.AdamW)(nil)
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
