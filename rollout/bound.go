package rollout

import (
	"context"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
)

// ReadBandwidth measures how fast one thread reads memory, in bytes/s:
// the best of several read-only scans of a buffer far larger than the
// caches. A decode step's weights and cache are read, not copied, so this
// is the bound to hold its time against (a copy also writes every byte and
// reads at about half this rate).
func ReadBandwidth() float64 {
	const n = 32 << 20 // 256 MiB of uint64
	buf := make([]uint64, n)
	for i := range buf {
		buf[i] = uint64(i)
	}
	best := time.Duration(1 << 62)
	var sink uint64
	for range 5 {
		t0 := time.Now()
		var a, b, c, d uint64
		for s := buf; len(s) >= 4; s = s[4:] {
			a += s[0]
			b += s[1]
			c += s[2]
			d += s[3]
		}
		best = min(best, time.Since(t0))
		sink += a ^ b ^ c ^ d
	}
	runtime.KeepAlive(sink)
	return float64(8*n) / best.Seconds()
}

// MatMulRate measures the float32 matrix-product rate of ONNX Runtime on
// this machine with session options opt, in FLOP/s: the best of several
// runs of a 512x512 by 512x512 MatMul (the size of the decode step's
// weight products, compute-heavy enough to show the kernels' peak).
func MatMulRate(ctx context.Context, rt *ort.Runtime, opt ort.Options) (float64, error) {
	const n = 512
	g := onnx.NewGraph("matmul_rate", onnx.Float32)
	a := g.Input("a", onnx.Float32, []int64{n, n}, "", "")
	b := g.Input("b", onnx.Float32, []int64{n, n}, "", "")
	g.Output("c", g.MatMul(a, b))
	m, err := g.Build(onnx.ExportOptions{})
	if err != nil {
		return 0, err
	}
	raw, err := onnx.MarshalModel(m)
	if err != nil {
		return 0, err
	}
	s, err := rt.NewSession(raw, opt)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	x := make([]float32, n*n)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	t := ort.Tensor{Shape: []int64{n, n}, Data: x}
	bind, err := s.Bind(map[string]ort.Tensor{"a": t, "b": t}, nil)
	if err != nil {
		return 0, err
	}
	defer bind.Close()
	best := time.Duration(1 << 62)
	for range 20 {
		t0 := time.Now()
		if err := bind.Run(ctx); err != nil {
			return 0, err
		}
		best = min(best, time.Since(t0))
	}
	return 2 * n * n * n / best.Seconds(), nil
}

// DecodeStepFLOPs is the arithmetic of a decode step: two FLOPs per
// parameter and row (numParams counts every weight, as DecodeStepBytes
// does) and the attention over the context, 4 x rows x context x layers x
// heads x head_dim.
func DecodeStepFLOPs(c model.Config, numParams int64, rows, context int) float64 {
	att := 4 * float64(rows) * float64(context) * float64(c.NumHiddenLayers) * float64(c.NumAttentionHeads*c.HeadDim())
	return 2*float64(numParams)*float64(rows) + att
}

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
	StepFLOPs                   float64 // DecodeStepFLOPs at the mean context
	Bandwidth                   float64 // ReadBandwidth, bytes/s
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
	tp.StepFLOPs = DecodeStepFLOPs(e.cfg, numParams, tp.Rows, tp.Context)
	if tp.Bandwidth == 0 {
		tp.Bandwidth = ReadBandwidth()
	}
	tp.BoundSeconds = float64(tp.StepBytes) / tp.Bandwidth
	if tp.StepSeconds > 0 {
		tp.Ratio = tp.BoundSeconds / tp.StepSeconds
	}
	return tp, nil
}
