package model

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/videossr/videossr-go/model/ort"
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
	p, err := NewPolicy(rt, c, store, PolicyOptions{Graphs: graphs, Session: ort.Options{IntraOpThreads: threads, InterOpThreads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return p
}

// benchBatch returns the vision batch and the rows (prompt + response) of
// the benchmark micro-batch.
func benchBatch(b *testing.B, c Config) (*VisionBatch, []Row) {
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

func tokensOf(rows []Row) (prompt, total int) {
	for _, r := range rows {
		prompt += len(r.Prompt)
		total += len(r.Prompt) + len(r.Response)
	}
	return prompt, total
}

// reportTokens reports the throughput and the model size; call it after
// the timed loop (resetting the timer drops reported metrics).
func reportTokens(b *testing.B, c Config, tokens int) {
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(c.NumParams()), "params")
}

// BenchmarkVisionEncode: the vision tower over 8 clips (1024 patches, 256
// merged tokens).
func BenchmarkVisionEncode(b *testing.B) {
	c := benchConfig()
	p := benchPolicy(b, c, GraphVision)
	vb, _ := benchBatch(b, c)
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.Encode(ctx, vb); err != nil {
			b.Fatal(err)
		}
	}
	reportTokens(b, c, vb.Videos.Tokens)
}

// BenchmarkPrefill: the decoder over 8 prompts of 66 tokens (vision
// embeddings precomputed), returning logits and the KV cache.
func BenchmarkPrefill(b *testing.B) {
	c := benchConfig()
	p := benchPolicy(b, c, GraphVision, GraphPrefill)
	vb, rows := benchBatch(b, c)
	ctx := context.Background()
	emb, err := p.Encode(ctx, vb)
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
	for b.Loop() {
		if _, _, err := p.Prefill(ctx, pb, emb); err != nil {
			b.Fatal(err)
		}
	}
	n, _ := tokensOf(rows)
	reportTokens(b, c, n)
}

// BenchmarkDecodeStep: one batched decode step of 8 rows over a 66-token
// KV cache.
func BenchmarkDecodeStep(b *testing.B) {
	c := benchConfig()
	p := benchPolicy(b, c, GraphVision, GraphPrefill, GraphDecode)
	vb, rows := benchBatch(b, c)
	ctx := context.Background()
	emb, err := p.Encode(ctx, vb)
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
	for b.Loop() {
		if _, _, err := p.Decode(ctx, toks, pb.Next, valid, cache); err != nil {
			b.Fatal(err)
		}
	}
	reportTokens(b, c, len(toks))
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
	for b.Loop() {
		if _, _, err := p.LogProbs(ctx, sb, emb); err != nil {
			b.Fatal(err)
		}
	}
	_, n := tokensOf(rows)
	reportTokens(b, c, n)
}

func benchTrain(b *testing.B, graph string) {
	c := benchConfig()
	p := benchPolicy(b, c, graph)
	vb, rows := benchBatch(b, c)
	sb, err := c.NewSeqBatch(rows, vb.Videos, c.BosTokenID)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 5))
	in := StepInputs{Advantages: make([]float64, sb.B), OldLogProb: make([]float64, sb.B*sb.R), RefLogProb: make([]float64, sb.B*sb.R)}
	for i := range in.Advantages {
		in.Advantages[i] = rng.NormFloat64()
	}
	for i := range in.OldLogProb {
		in.OldLogProb[i] = -7 + 0.1*rng.NormFloat64()
		in.RefLogProb[i] = -7 + 0.1*rng.NormFloat64()
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := p.TrainStep(ctx, graph, sb, vb, in); err != nil {
			b.Fatal(err)
		}
	}
	_, n := tokensOf(rows)
	reportTokens(b, c, n)
}

// BenchmarkGRPOTrainStep: one run of the GRPO training graph over the
// micro-batch: vision tower, decoder, clipped surrogate + k3 KL loss and
// every parameter gradient (forward + backward, no optimizer update).
func BenchmarkGRPOTrainStep(b *testing.B) { benchTrain(b, GraphGRPO) }

// BenchmarkSFTTrainStep: the same for the supervised warm-up loss.
func BenchmarkSFTTrainStep(b *testing.B) { benchTrain(b, GraphSFT) }
