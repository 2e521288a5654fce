package grpo

// Several devices on one node (device.devices, docs/multi-device.md): one
// device-resident policy replica per device over the one host store, the
// step's prompts rolled out by rollout.Sharded, the micro-batches of an
// update and of the reference pass dealt to the replicas, gradients summed
// by model.ParallelAdamW. They sit behind the loop's interfaces (Policy,
// Rollout, Optimizer), so step.go is the same story on 1 and N devices.

import (
	"context"
	"fmt"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/optim"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
	"github.com/videossr/videossr-go/rollout"
)

// Rollout samples a step's G responses per prompt, on one device or
// sharded over several; the samples come back in prompt order and do not
// depend on the number of devices when chunk > 0 (rollout.Sharded).
type Rollout interface {
	Generate(ctx context.Context, prompts []rollout.Prompt, g int, s rollout.Sampling, seed uint64, chunk int) ([]rollout.Sample, rollout.ShardStats, error)
}

var (
	_ Rollout          = engineRollout{}
	_ Rollout          = (*rollout.Sharded)(nil)
	_ Policy           = replicaPolicy{}
	_ Optimizer        = parallelOptimizer{}
	_ gradientEditor   = parallelOptimizer{}
	_ referenceBatcher = replicaPolicy{}
)

// engineRollout is one device's Engine as a Rollout: GenerateChunks, with
// its statistics as those of a one-device sharded rollout.
type engineRollout struct {
	e    Engine
	name string
}

// Generate implements Rollout.
func (r engineRollout) Generate(ctx context.Context, prompts []rollout.Prompt, g int, s rollout.Sampling, seed uint64, chunk int) ([]rollout.Sample, rollout.ShardStats, error) {
	t0 := time.Now()
	out, st, err := r.e.GenerateChunks(ctx, prompts, g, s, seed, chunk)
	wall := time.Since(t0)
	idx := make([]int, len(prompts))
	for i := range idx {
		idx[i] = i
	}
	return out, rollout.ShardStats{Total: st, Wall: wall, Devices: []rollout.DeviceStats{{Device: r.name, Indices: idx, Stats: st, Wall: wall}}}, err
}

// rollouts is the trainer's Rollout: the sharded one of a multi-device
// run, else its Engine's GenerateChunks.
func (t *Trainer) rollouts() Rollout {
	if t.roll != nil {
		return t.roll
	}
	return engineRollout{e: t.engine, name: "0"}
}

// setRollout records a rollout's statistics in the step's: the node's
// decoded tokens per wall second and the wall time, how many devices
// rolled out prompts and, with several devices configured, each one's
// tokens per second (keyed by its entry in device.devices).
func (s *StepStats) setRollout(rs rollout.ShardStats, ids []int) {
	s.RolloutTokensPerS = rs.TokensPerSec()
	s.RolloutSeconds = rs.Wall.Seconds()
	s.Devices = 0
	for i, d := range rs.Devices {
		if len(d.Indices) == 0 {
			continue
		}
		s.Devices++
		if len(rs.Devices) > 1 && i < len(ids) {
			if s.DeviceTokensPerS == nil {
				s.DeviceTokensPerS = map[int]float64{}
			}
			s.DeviceTokensPerS[ids[i]] = d.TokensPerSec()
		}
	}
}

// addShardStats adds a refill round's rollout to acc: wall times, decoded
// tokens and each device's share add up, so the step's tokens per second
// cover every round.
func addShardStats(acc *rollout.ShardStats, rs rollout.ShardStats) {
	acc.Wall += rs.Wall
	acc.Total.DecodeTokens += rs.Total.DecodeTokens
	acc.Total.Vision += rs.Total.Vision
	acc.Total.Prefill += rs.Total.Prefill
	acc.Total.Gen += rs.Total.Gen
	for i, d := range rs.Devices {
		if i == len(acc.Devices) {
			acc.Devices = append(acc.Devices, rollout.DeviceStats{Device: d.Device})
		}
		a := &acc.Devices[i]
		a.Indices = append(a.Indices, d.Indices...)
		a.Expected += d.Expected
		a.Stats.DecodeTokens += d.Stats.DecodeTokens
		a.Wall += d.Wall
	}
}

// referenceBatcher is a Policy that runs the reference pass of several
// micro-batches at once (over its replicas).
type referenceBatcher interface {
	ReferenceLogProbsAll(ctx context.Context, ref *params.Store, mbs []microBatch) ([][]float64, error)
}

// referencePass returns the reference log-probs of every micro-batch:
// dealt to the replicas of a multi-device policy, else one after the other.
func referencePass(ctx context.Context, p Policy, ref *params.Store, mbs []microBatch) ([][]float64, error) {
	if rb, ok := p.(referenceBatcher); ok {
		return rb.ReferenceLogProbsAll(ctx, ref, mbs)
	}
	out := make([][]float64, len(mbs))
	for k, mb := range mbs {
		lp, err := p.ReferenceLogProbs(ctx, ref, mb.seq, mb.vision)
		if err != nil {
			return nil, err
		}
		out[k] = lp
	}
	return out, nil
}

// replicaPolicy is model.Replicas as the loop's Policy: the reference
// pass, the reference upload and the host sync run on every replica;
// SyncHost checks the replicas equal by checksum first (a mismatch is a
// *model.DeviceError naming the device).
type replicaPolicy struct{ r *model.Replicas }

// TrainStep implements Policy on replica 0 (the parallel optimizer runs
// the training graphs; nothing in a multi-device run calls this).
func (p replicaPolicy) TrainStep(ctx context.Context, graph string, sb *model.SeqBatch, vb *model.VisionBatch, in model.StepInputs) (*model.StepResult, error) {
	return p.r.Policy(0).TrainStep(ctx, graph, sb, vb, in)
}

// ReferenceLogProbs implements Policy on replica 0.
func (p replicaPolicy) ReferenceLogProbs(ctx context.Context, ref *params.Store, sb *model.SeqBatch, vb *model.VisionBatch) ([]float64, error) {
	return modelPolicy{p.r.Policy(0)}.ReferenceLogProbs(ctx, ref, sb, vb)
}

// ReferenceLogProbsAll implements referenceBatcher: the micro-batches are
// dealt to the replicas in contiguous runs, each replica's in its own
// goroutine; a failure names the device.
func (p replicaPolicy) ReferenceLogProbsAll(ctx context.Context, ref *params.Store, mbs []microBatch) ([][]float64, error) {
	out := make([][]float64, len(mbs))
	err := p.r.ForEach(ctx, len(mbs), func(ctx context.Context, _ int, pol *model.Policy, items []int) error {
		for _, k := range items {
			lp, err := modelPolicy{pol}.ReferenceLogProbs(ctx, ref, mbs[k].seq, mbs[k].vision)
			if err != nil {
				return fmt.Errorf("reference log-probs of micro-batch %d: %w", k, err)
			}
			out[k] = lp
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PrepareReference implements Policy: the reference's weights go to every
// replica.
func (p replicaPolicy) PrepareReference(ref *params.Store) error {
	return p.r.ForEach(context.Background(), p.r.Len(), func(_ context.Context, _ int, pol *model.Policy, _ []int) error {
		return modelPolicy{pol}.PrepareReference(ref)
	})
}

// SyncHost implements Policy: the replicas' checksums compared, then
// replica 0's weights into the host store.
func (p replicaPolicy) SyncHost() error { return p.r.SyncHost() }

// UploadWeights implements Policy: the host store to every replica.
func (p replicaPolicy) UploadWeights() error { return p.r.UploadWeights() }

// Transfers implements Policy: every replica's ledger added up.
func (p replicaPolicy) Transfers() (ort.Transfers, bool) { return p.r.Transfers(), true }

// parallelOptimizer is model.ParallelAdamW as the loop's Optimizer.
type parallelOptimizer struct {
	*model.ParallelAdamW
	n int // replicas
}

// Micros implements Optimizer: the micro-batches dealt to the replicas.
func (o parallelOptimizer) Micros(ctx context.Context, graph string, mbs []Micro) ([]*model.StepResult, error) {
	ms := make([]model.Micro, len(mbs))
	for i, mb := range mbs {
		ms[i] = model.Micro(mb)
	}
	return o.ParallelAdamW.Micros(ctx, graph, ms)
}

// Gradients implements gradientEditor: the all-reduced sum.
func (o parallelOptimizer) Gradients() (map[string][]float32, error) {
	return o.ParallelAdamW.Gradients(context.Background())
}

// SetGradients implements gradientEditor: every replica's (already
// reduced) sum is replaced.
func (o parallelOptimizer) SetGradients(grads map[string][]float32) error {
	for i := range o.n {
		if err := o.Replica(i).SetGradients(grads); err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
	}
	return nil
}

// openReplicas loads the policy onto every device of ids (device.devices,
// with device.resident): one replica each over store, one rollout engine
// each sharded by rollout.Sharded, and the parallel optimizer. Evaluation
// decodes on replica 0.
func (t *Trainer) openReplicas(mc model.Config, store *params.Store, ids []int) error {
	cfg := t.cfg
	devs, err := model.ReplicaDevices(cfg.Device.Provider, ids)
	if err != nil {
		return fmt.Errorf("device.devices: %w", err)
	}
	reps, err := model.NewReplicas(t.rt, mc, store, policyOptions(cfg), devs)
	if err != nil {
		return err
	}
	t.sessions = reps
	t.policy = replicaPolicy{reps}
	if t.opt.onReplicas != nil {
		t.opt.onReplicas(reps)
	}
	engines := make([]*rollout.Engine, reps.Len())
	for i := range engines {
		engines[i] = rollout.NewEngine(reps.Policy(i), mc, t.tok, t.pad)
	}
	sh, err := rollout.NewSharded(engines, reps.Names())
	if err != nil {
		return err
	}
	t.roll = sh
	t.engine = engines[0]
	t.makeOptimizer = func(oc optim.Config) (Optimizer, error) {
		o, err := model.NewParallelAdamW(reps, oc, nil)
		if err != nil {
			return nil, err
		}
		return parallelOptimizer{o, reps.Len()}, nil
	}
	return nil
}
