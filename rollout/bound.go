package rollout

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/videossr/videossr-go/model"
)

// CopyBandwidth measures this machine's memory copy bandwidth in bytes/s
// (best of several copies of a buffer far larger than the caches). A copy
// reads and writes each byte; the figure counts the bytes read.
func CopyBandwidth() float64 {
	const size = 256 << 20
	src := make([]byte, size)
	dst := make([]byte, size)
	for i := range src {
		src[i] = byte(i)
	}
	best := time.Duration(1 << 62)
	for range 5 {
		t0 := time.Now()
		copy(dst, src)
		best = min(best, time.Since(t0))
	}
	return float64(size) / best.Seconds()
}

// DecodeStepBytes is the memory a decode step must read at least: every
// parameter once (float32) and the KV cache of every row, rows x layers x
// 2 x kv_heads x context x head_dim floats.
func DecodeStepBytes(c model.Config, numParams int64, rows, context int) int64 {
	kv := int64(rows) * int64(c.NumHiddenLayers) * 2 * int64(c.NumKeyValueHeads) * int64(context) * int64(c.HeadDim())
	return 4 * (numParams + kv)
}

// SyntheticPrompts makes n prompts shaped like the pretext tasks' for
// benchmarks: text random non-special tokens around one video of frames
// random side x side frames.
func SyntheticPrompts(c model.Config, n, text, frames, side int, seed uint64) ([]Prompt, error) {
	rng := rand.New(rand.NewPCG(seed, 99))
	special := map[int]bool{c.BosTokenID: true, c.EosTokenID: true, c.VisionStartTokenID: true, c.VisionEndTokenID: true,
		c.VisionTokenID: true, c.ImageTokenID: true, c.VideoTokenID: true}
	word := func() int {
		for {
			if t := rng.IntN(c.VocabSize); !special[t] {
				return t
			}
		}
	}
	out := make([]Prompt, n)
	for i := range out {
		pix := make([][]byte, frames)
		for f := range pix {
			pix[f] = make([]byte, 3*side*side)
			for k := range pix[f] {
				pix[f][k] = byte(rng.IntN(256))
			}
		}
		vi, err := c.Patchify(pix, side, side)
		if err != nil {
			return nil, err
		}
		var ids []int
		for range text / 4 {
			ids = append(ids, word())
		}
		ids = append(ids, c.VisionStartTokenID)
		for range vi.Grid.Tokens(c.VisionConfig.SpatialMergeSize) {
			ids = append(ids, c.VideoTokenID)
		}
		ids = append(ids, c.VisionEndTokenID)
		for range text - text/4 {
			ids = append(ids, word())
		}
		out[i] = Prompt{IDs: ids, Videos: []model.VisionInput{vi}}
	}
	return out, nil
}

// Throughput is the outcome of MeasureThroughput.
type Throughput struct {
	Rows, PromptTokens, Context int
	PrefillTPS, DecodeTPS       float64
	StepSeconds                 float64 // mean decode step
	StepBytes                   int64   // DecodeStepBytes at the mean context
	Bandwidth                   float64 // CopyBandwidth, bytes/s
	BoundSeconds                float64 // StepBytes / Bandwidth
	Ratio                       float64 // BoundSeconds / StepSeconds: fraction of the bandwidth bound reached
}

// MeasureThroughput runs Generate runs times (after one warm-up run) and
// relates the decode step time to the memory-bandwidth bound.
func MeasureThroughput(ctx context.Context, e *Engine, numParams int64, prompts []Prompt, g int, s Sampling, runs int) (Throughput, error) {
	var tp Throughput
	if _, _, err := e.Generate(ctx, prompts, g, s, 0); err != nil {
		return tp, err
	}
	var pre, gen time.Duration
	var preTok, decTok, steps int
	for r := range max(1, runs) {
		_, st, err := e.Generate(ctx, prompts, g, s, uint64(r+1))
		if err != nil {
			return tp, err
		}
		pre += st.Prefill + st.Vision
		gen += st.Gen
		preTok += st.PrefillTokens
		decTok += st.DecodeTokens
		steps += st.DecodeSteps
	}
	for _, p := range prompts {
		tp.PromptTokens = max(tp.PromptTokens, len(p.IDs))
	}
	tp.Rows = len(prompts) * g
	tp.Context = tp.PromptTokens + s.MaxNewTokens/2
	tp.PrefillTPS = float64(preTok) / pre.Seconds()
	tp.DecodeTPS = float64(decTok) / gen.Seconds()
	if steps > 0 {
		tp.StepSeconds = gen.Seconds() / float64(steps)
	}
	tp.StepBytes = DecodeStepBytes(e.cfg, numParams, tp.Rows, tp.Context)
	if tp.Bandwidth == 0 {
		tp.Bandwidth = CopyBandwidth()
	}
	tp.BoundSeconds = float64(tp.StepBytes) / tp.Bandwidth
	if tp.StepSeconds > 0 {
		tp.Ratio = tp.BoundSeconds / tp.StepSeconds
	}
	return tp, nil
}
