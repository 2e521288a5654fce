package model

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/safetensors"
)

// Benchmarks of the default tiny model (the tiny tokenizer's 1024-token
// vocabulary) at a realistic GRPO micro-batch: 8 rows of about 100 tokens,
// each with its own 2x8x8-patch video clip (4 frames of 112x112 pixels,
// 32 merged video tokens), a 66-token prompt and a 30..36-token response.
// ONNX Runtime uses VIDEOSSR_BENCH_THREADS intra-op threads (default: its
// own default, one per physical core).

const (
	benchVocab = 1024
	benchRows  = 8
)

var benchGrid = Grid{GT: 2, GH: 8, GW: 8}

func benchConfig() Config {
	s := benchVocab - 8
	return Tiny(benchVocab, TinyTokens{EndOfText: s, ImStart: s + 1, ImEnd: s + 2, VisionStart: s + 3,
		VisionEnd: s + 4, VisionPad: s + 5, ImagePad: s + 6, VideoPad: s + 7})
}

func benchPolicy(b *testing.B, c Config, graphs ...string) *Policy {
	b.Helper()
	return benchPolicyOn(b, c, nil, graphs...)
}

// benchPolicyOn is benchPolicy, device-resident on dev when not nil.
func benchPolicyOn(b *testing.B, c Config, dev *ort.Device, graphs ...string) *Policy {
	b.Helper()
	rt := openRuntime(b)
	threads := 0
	if s := os.Getenv("VIDEOSSR_BENCH_THREADS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("VIDEOSSR_BENCH_THREADS=%q: %v", s, err)
		}
		threads = n
	}
	store, err := c.InitParams(1)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.HoldBase(store); err != nil {
		b.Fatal(err)
	}
	// VIDEOSSR_BENCH_SPIN=1 lets ONNX Runtime's threads busy-wait (off by
	// default: see ort.Options.AllowSpinning).
	spin := os.Getenv("VIDEOSSR_BENCH_SPIN") == "1"
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: graphs, Device: dev, Session: ort.Options{IntraOpThreads: threads, InterOpThreads: 1, AllowSpinning: spin}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// benchBatch returns the vision batch and the rows (prompt + response) of
// the benchmark micro-batch.
func benchBatch(b testing.TB, c Config) (*VisionBatch, []Row) {
	b.Helper()
	vb := randomVision(b, c, benchRows, benchGrid, 1)
	rng := rand.New(rand.NewPCG(2, 3))
	word := func() int { return rng.IntN(c.VocabSize - 8) }
	rows := make([]Row, benchRows)
	for i := range rows {
		pre := make([]int, 22)
		post := make([]int, 10)
		for j := range pre {
			pre[j] = word()
		}
		for j := range post {
			post[j] = word()
		}
		resp := make([]int, 30+i%7)
		for j := range resp {
			resp[j] = word()
		}
		rows[i] = Row{Prompt: videoPrompt(c, pre, post, benchGrid), Response: resp, Videos: []int{i}}
	}
	return vb, rows
}

// benchPrompts encodes the benchmark batch's videos with p and lays its
// prompts out as a prefill batch.
func benchPrompts(b *testing.B, p *Policy) ([]Row, ort.Tensor, *PromptBatch) {
	b.Helper()
	c := p.Config
	vb, rows := benchBatch(b, c)
	emb, err := p.Encode(context.Background(), vb)
	if err != nil {
		b.Fatal(err)
	}
	prompts := make([][]int, len(rows))
	videos := make([][]int, len(rows))
	for i, r := range rows {
		prompts[i], videos[i] = r.Prompt, r.Videos
	}
	pb, err := c.NewPromptBatch(prompts, videos, vb.Videos, c.BosTokenID)
	if err != nil {
		b.Fatal(err)
	}
	return rows, emb, pb
}

func tokensOf(rows []Row) (prompt, total int) {
	for _, r := range rows {
		prompt += len(r.Prompt)
		total += len(r.Prompt) + len(r.Response)
	}
	return prompt, total
}

// timedLoop runs fn under b.Loop and reports the throughput, the fastest
// iteration (min-ms, robust on a shared machine) and the model size.
func timedLoop(b *testing.B, c Config, tokens int, fn func() error) {
	fastest := math.Inf(1)
	for b.Loop() {
		t0 := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		fastest = min(fastest, time.Since(t0).Seconds())
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(fastest*1e3, "min-ms")
	b.ReportMetric(float64(c.NumParams()), "params")
}

// BenchmarkVisionEncode: the vision tower over 8 clips (1024 patches, 256
// merged tokens).
func BenchmarkVisionEncode(b *testing.B) {
	c := benchConfig()
	p := benchPolicy(b, c, GraphVision)
	vb, _ := benchBatch(b, c)
	ctx := context.Background()
	timedLoop(b, c, vb.Videos.Tokens, func() error {
		_, err := p.Encode(ctx, vb)
		return err
	})
}

// BenchmarkPrefill: the decoder over 8 prompts of 66 tokens (vision
// embeddings precomputed), returning logits and the KV cache.
func BenchmarkPrefill(b *testing.B) {
	c := benchConfig()
	p := benchPolicy(b, c, GraphVision, GraphPrefill)
	rows, emb, pb := benchPrompts(b, p)
	ctx := context.Background()
	n, _ := tokensOf(rows)
	timedLoop(b, c, n, func() error {
		_, _, err := p.Prefill(ctx, pb, emb)
		return err
	})
}

// BenchmarkDecodeStep: one batched decode step of 8 rows over a 66-token
// KV cache.
func BenchmarkDecodeStep(b *testing.B) { benchDecode(b, benchConfig()) }

// benchLoRA is the benchmark model with rank-8 adapters on q_proj and
// v_proj over a base held in dtype.
func benchLoRA(dtype string) Config {
	c := withLoRA(benchConfig(), "q_proj", "v_proj")
	c.LoRA.BaseDType = dtype
	return c
}

// BenchmarkDecodeStepLoRABase: the decode step of a LoRA model with its
// base held in F32 and in BF16 (cast to float32 inside the graph at every
// step).
func BenchmarkDecodeStepLoRABase(b *testing.B) {
	for _, dt := range []string{safetensors.F32, safetensors.BF16} {
		b.Run(dt, func(b *testing.B) { benchDecode(b, benchLoRA(dt)) })
	}
}

// BenchmarkGRPOTrainStepLoRABase: the GRPO training step of the same LoRA
// models (adapter gradients only).
func BenchmarkGRPOTrainStepLoRABase(b *testing.B) {
	for _, dt := range []string{safetensors.F32, safetensors.BF16} {
		b.Run(dt, func(b *testing.B) { benchTrain(b, benchLoRA(dt), GraphGRPO) })
	}
}

func benchDecode(b *testing.B, c Config) {
	p := benchPolicy(b, c, GraphVision, GraphPrefill, GraphDecode)
	rows, emb, pb := benchPrompts(b, p)
	ctx := context.Background()
	_, cache, err := p.Prefill(ctx, pb, emb)
	if err != nil {
		b.Fatal(err)
	}
	valid := make([][]bool, len(pb.Valid))
	toks := make([]int64, len(pb.Valid))
	for r := range valid {
		valid[r] = append(append([]bool(nil), pb.Valid[r]...), true)
		toks[r] = int64(rows[r].Response[0])
	}
	timedLoop(b, c, len(toks), func() error {
		_, _, err := p.Decode(ctx, toks, pb.Next, valid, cache)
		return err
	})
}

// BenchmarkLogProb: the forward-only log-prob graph over the 8 whole
// sequences (vision embeddings precomputed), as for old-policy and
// reference log-probs.
func BenchmarkLogProb(b *testing.B) {
	c := benchConfig()
	p := benchPolicy(b, c, GraphVision, GraphLogProb)
	vb, rows := benchBatch(b, c)
	ctx := context.Background()
	emb, err := p.Encode(ctx, vb)
	if err != nil {
		b.Fatal(err)
	}
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		b.Fatal(err)
	}
	_, n := tokensOf(rows)
	timedLoop(b, c, n, func() error {
		_, _, err := p.LogProbs(ctx, sb, emb)
		return err
	})
}

// benchStepInputs draws the GRPO inputs of the benchmark batch: old and
// reference log-probs near the uniform policy's -log(1024) = -6.93.
func benchStepInputs(sb *SeqBatch) StepInputs {
	rng := rand.New(rand.NewPCG(4, 5))
	in := StepInputs{Advantages: make([]float64, sb.B), OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
	for i := range in.Advantages {
		in.Advantages[i] = rng.NormFloat64()
	}
	for i := range in.OldLogProb {
		in.OldLogProb[i] = -7 + 0.1*rng.NormFloat64()
		in.RefLogProb[i] = -7 + 0.1*rng.NormFloat64()
	}
	return in
}

func benchTrain(b *testing.B, c Config, graph string) {
	p := benchPolicy(b, c, graph)
	vb, rows := benchBatch(b, c)
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		b.Fatal(err)
	}
	in := benchStepInputs(sb)
	ctx := context.Background()
	_, n := tokensOf(rows)
	timedLoop(b, c, n, func() error {
		_, err := p.TrainStep(ctx, graph, sb, vb, in)
		return err
	})
}

// BenchmarkGRPOTrainStep: one run of the GRPO training graph over the
// micro-batch: vision tower, decoder, clipped surrogate + k3 KL loss and
// every parameter gradient (forward + backward, no optimizer update).
func BenchmarkGRPOTrainStep(b *testing.B) { benchTrain(b, benchConfig(), GraphGRPO) }

// BenchmarkSFTTrainStep: the same for the supervised warm-up loss.
func BenchmarkSFTTrainStep(b *testing.B) { benchTrain(b, benchConfig(), GraphSFT) }

// TestWriteTorchBenchBatch writes the benchmark model and micro-batch for
// scripts/bench_torch.py when VIDEOSSR_TORCH_BATCH names a folder: the
// exported model (config.json, model.safetensors) and batch.safetensors
// with every training-graph input plus the graph's outputs ("expected.*":
// loss, log-probs and every gradient) for the PyTorch side to check itself
// against before timing.
func TestWriteTorchBenchBatch(t *testing.T) {
	dir := os.Getenv("VIDEOSSR_TORCH_BATCH")
	if dir == "" {
		t.Skip("set VIDEOSSR_TORCH_BATCH=DIR to write the PyTorch benchmark batch")
	}
	rt := openRuntime(t)
	c := benchConfig()
	// Weights 4x the init scale, so logits and gradients are far from the
	// uniform policy's and the PyTorch parity check discriminates.
	store := sharpParams(t, c, 1, 4)
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: []string{GraphGRPO}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	vb, rows := benchBatch(t, c)
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	in := benchStepInputs(sb)
	res, err := p.TrainStep(context.Background(), GraphGRPO, sb, vb, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := Export(context.Background(), dir, c, store, ExportOptions{Graphs: []string{GraphGRPO}}); err != nil {
		t.Fatal(err)
	}
	feeds := sb.Feeds(onnx.Float32)
	for k, v := range vb.Feeds(c, onnx.Float32) {
		feeds[k] = v
	}
	B, R := int64(sb.B), int64(sb.R)
	feeds[InAdvantages] = FloatTensor(onnx.Float32, []int64{B}, in.Advantages)
	feeds[InOldLogProbs] = FloatTensor(onnx.Float32, []int64{B, R}, in.OldLogProb)
	feeds[InRefLogProbs] = FloatTensor(onnx.Float32, []int64{B, R}, in.RefLogProb)
	feeds["expected."+OutLoss] = FloatTensor(onnx.Float32, []int64{1}, []float64{res.Loss})
	feeds["expected."+OutPGLoss] = FloatTensor(onnx.Float32, []int64{1}, []float64{res.PGLoss})
	feeds["expected."+OutKLLoss] = FloatTensor(onnx.Float32, []int64{1}, []float64{res.KLLoss})
	feeds["expected."+OutLogProbs] = FloatTensor(onnx.Float32, []int64{B, R}, res.LogProbs)
	for _, prm := range store.Params() {
		shape := make([]int64, len(prm.Shape))
		for i, d := range prm.Shape {
			shape[i] = int64(d)
		}
		feeds["expected."+GradPrefix+prm.Name] = ort.Tensor{Shape: shape, DType: ort.Float32, Data: res.Grads[prm.Name]}
	}
	var ts []safetensors.Tensor
	for name, f := range feeds {
		var st safetensors.Tensor
		switch d := f.Data.(type) {
		case []float32:
			st, err = safetensors.FromFloat32(name, safetensors.F32, f.Shape, d)
			if err != nil {
				t.Fatal(err)
			}
		case []int64:
			raw := make([]byte, 8*len(d))
			for i, v := range d {
				binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
			}
			st = safetensors.Tensor{Name: name, DType: safetensors.I64, Shape: f.Shape, Data: raw}
		default:
			t.Fatalf("%s: unexpected data %T", name, f.Data)
		}
		ts = append(ts, st)
	}
	meta := map[string]string{
		"clip_low": "0.2", "clip_high": "0.2", "clip_c": "3", "kl_coef": strconv.FormatFloat(DefaultGRPOLoss().KLCoef, 'g', -1, 64),
		"tokens": strconv.Itoa(func() int { _, n := tokensOf(rows); return n }()),
	}
	if err := safetensors.Write(filepath.Join(dir, "batch.safetensors"), ts, meta); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: loss %.6f, %d tensors", dir, res.Loss, len(ts))
}
