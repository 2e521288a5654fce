package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/videossr/videossr-go/model"
)

// Sharded rolls a step's prompts out over several engines, one per device
// (each over its own replica of the policy, model.Replicas), each device's
// share in its own goroutine. Prompts are dealt to the devices balanced by
// ExpectedTokens; every row keeps the random stream of its prompt's index
// in the step, so what a prompt samples does not depend on which device
// rolls it out or how many there are.
type Sharded struct {
	engines []*Engine
	names   []string
}

// NewSharded returns a sharded rollout over engines, which must each run
// on a model of their own (two engines over one policy would drive it
// from two goroutines); names label the devices in errors and statistics
// (nil: "0", "1", ...).
func NewSharded(engines []*Engine, names []string) (*Sharded, error) {
	if len(engines) == 0 {
		return nil, fmt.Errorf("rollout: no engines to shard over")
	}
	if names == nil {
		for i := range engines {
			names = append(names, fmt.Sprint(i))
		}
	}
	if len(names) != len(engines) {
		return nil, fmt.Errorf("rollout: %d device names for %d engines", len(names), len(engines))
	}
	seen := map[*Engine]bool{}
	for i, e := range engines {
		if e == nil || seen[e] {
			return nil, fmt.Errorf("rollout: engine %d is nil or given twice", i)
		}
		seen[e] = true
	}
	return &Sharded{engines: slices.Clone(engines), names: slices.Clone(names)}, nil
}

// Devices is the number of engines.
func (sh *Sharded) Devices() int { return len(sh.engines) }

// ExpectedTokens is the work a prompt is dealt by: its prompt tokens
// (vision tokens included), the patches its videos send through the
// vision tower (frames x patches per frame) and the g x maxNew tokens its
// group may decode.
func ExpectedTokens(p Prompt, g, maxNew int) int {
	n := len(p.IDs) + g*maxNew
	for _, v := range p.Videos {
		n += v.Grid.GT * v.Grid.GH * v.Grid.GW
	}
	return n
}

// DeviceStats is one device's part of a sharded rollout.
type DeviceStats struct {
	Device   string
	Indices  []int // the prompts it rolled out
	Expected int   // their ExpectedTokens
	Stats    Stats // its rollout counts and times
	// Wall is the time from the start of the call to the end of its share.
	Wall time.Duration
}

// TokensPerSec is the device's decoded tokens per second of its Wall.
func (d DeviceStats) TokensPerSec() float64 {
	if d.Wall <= 0 {
		return 0
	}
	return float64(d.Stats.DecodeTokens) / d.Wall.Seconds()
}

// ShardStats is what a sharded rollout did: every device's counts and
// times added up in Total (so its Vision, Prefill and Gen are device time,
// and its DecodeTPS the mean rate of one device), the wall-clock time of
// the whole call, and each device's part.
type ShardStats struct {
	Total   Stats
	Wall    time.Duration
	Devices []DeviceStats
}

// TokensPerSec is the decoded tokens of all devices per second of wall
// time: the rollout throughput of the node.
func (s ShardStats) TokensPerSec() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.Total.DecodeTokens) / s.Wall.Seconds()
}

// Generate samples g responses for each prompt, as Engine.GenerateChunks
// does with chunk = unit, over the devices:
//
//   - unit > 0: the prompts are cut into packs of unit consecutive prompts
//     (GenerateChunks' chunks) and whole packs are dealt to the devices;
//     each pack is one batch on its device. The samples, log-probs
//     included, are bit for bit those of one engine's
//     GenerateChunks(..., unit) whatever the number of devices.
//   - unit <= 0: the prompts are dealt one by one and each device rolls
//     its share out as one batch (the most rows per decode step). Every row
//     keeps its random stream, but a prompt's batch neighbours, and so its
//     padding, depend on the number of devices; padding changes the float
//     rounding of attention (log-probs differ in the last bits, about 1e-6)
//     and could flip a token whose two candidates tie to that precision.
//
// Packs or prompts are dealt longest-first to the least-loaded device by
// ExpectedTokens. Samples come back in prompt order, as from
// GenerateChunks. The first device to fail cancels the others and its
// error, a *model.DeviceError, names it.
func (sh *Sharded) Generate(ctx context.Context, prompts []Prompt, g int, s Sampling, seed uint64, unit int) ([]Sample, ShardStats, error) {
	var st ShardStats
	if len(prompts) == 0 || g < 1 {
		return nil, st, fmt.Errorf("rollout: %d prompts with group size %d", len(prompts), g)
	}
	if err := s.Validate(); err != nil {
		return nil, st, err
	}
	// Work items: packs of consecutive prompts, or single prompts.
	size := max(unit, 1)
	var items [][]int
	for lo := 0; lo < len(prompts); lo += size {
		items = append(items, indexRange(lo, min(lo+size, len(prompts))))
	}
	costs := make([]int, len(items))
	for k, it := range items {
		for _, i := range it {
			costs[k] += ExpectedTokens(prompts[i], g, s.MaxNewTokens)
		}
	}
	deal := dealLongestFirst(costs, len(sh.engines))

	st.Devices = make([]DeviceStats, len(sh.engines))
	outs := make([][]Sample, len(sh.engines))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	t0 := time.Now()
	for d := range sh.engines {
		ds := &st.Devices[d]
		ds.Device = sh.names[d]
		var batches [][]int // prompt indices of each Generate call
		for _, k := range deal[d] {
			ds.Expected += costs[k]
			ds.Indices = append(ds.Indices, items[k]...)
			if unit > 0 {
				batches = append(batches, items[k])
			}
		}
		if len(ds.Indices) == 0 {
			continue
		}
		if unit <= 0 {
			slices.Sort(ds.Indices)
			batches = [][]int{ds.Indices}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := sh.runDevice(ctx, sh.engines[d], prompts, batches, g, s, seed, ds)
			ds.Wall = time.Since(t0)
			if err == nil {
				outs[d] = out
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if first == nil || (isCancel(first) && !isCancel(err)) {
				first = &model.DeviceError{Replica: d, Device: sh.names[d], Err: err}
			}
			cancel()
		}()
	}
	wg.Wait()
	st.Wall = time.Since(t0)
	if first != nil {
		return nil, st, first
	}
	var all []Sample
	for d := range outs {
		all = append(all, outs[d]...)
		st.Total.add(st.Devices[d].Stats)
	}
	st.Total.rates()
	slices.SortFunc(all, func(a, b Sample) int { return cmp.Or(cmp.Compare(a.Prompt, b.Prompt), cmp.Compare(a.Row, b.Row)) })
	return all, st, nil
}

// runDevice rolls out one device's batches in order, adding up their
// statistics into ds.
func (sh *Sharded) runDevice(ctx context.Context, e *Engine, prompts []Prompt, batches [][]int, g int, s Sampling, seed uint64, ds *DeviceStats) ([]Sample, error) {
	var out []Sample
	for _, idx := range batches {
		ps := make([]Prompt, len(idx))
		for j, i := range idx {
			ps[j] = prompts[i]
		}
		smp, cs, err := e.generate(ctx, ps, idx, g, s, seed)
		if err != nil {
			return nil, fmt.Errorf("prompts %v: %w", idx, err)
		}
		out = append(out, smp...)
		ds.Stats.add(cs)
	}
	ds.Stats.rates()
	return out, nil
}

func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// dealLongestFirst deals items of the given costs to d devices: the
// costliest first (ties by index), each to the device with the least cost
// so far (ties: the lowest device). Each device's items come back in
// index order.
func dealLongestFirst(costs []int, d int) [][]int {
	order := indexRange(0, len(costs))
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(costs[b], costs[a]) })
	load := make([]int, d)
	out := make([][]int, d)
	for _, k := range order {
		best := 0
		for i := 1; i < d; i++ {
			if load[i] < load[best] {
				best = i
			}
		}
		load[best] += costs[k]
		out[best] = append(out[best], k)
	}
	for i := range out {
		slices.Sort(out[i])
	}
	return out
}
