package tokenizer_test

import (
	"testing"

	"github.com/videossr/videossr-go/model/tokenizer"
)

// benchEncode encodes the chat prompts of the three tasks, with answers,
// each video placeholder expanded to pads video pad tokens, and reports
// tokens/s.
func benchEncode(b *testing.B, tk *tokenizer.Tokenizer, pads int) {
	prompts, err := taskPrompts(pads, true)
	if err != nil {
		b.Fatal(err)
	}
	tokens, bytes := 0, 0
	for _, p := range prompts {
		tokens += len(tk.Encode(p))
		bytes += len(p)
	}
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	for b.Loop() {
		for _, p := range prompts {
			tk.Encode(p)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkEncodePromptsTiny(b *testing.B) {
	tk, err := tokenizer.Tiny()
	if err != nil {
		b.Fatal(err)
	}
	benchEncode(b, tk, 1)
}

func BenchmarkEncodePromptsQwen3(b *testing.B) { benchEncode(b, loadQwen(b), 1) }

// BenchmarkEncodeVideoPromptsQwen3 has 1024 pad tokens per video, as a
// real video prompt does.
func BenchmarkEncodeVideoPromptsQwen3(b *testing.B) { benchEncode(b, loadQwen(b), 1024) }

// BenchmarkEncodeUncached encodes text with words never seen before (BPE
// merges run every time, no cache hits).
func BenchmarkEncodeUncached(b *testing.B) {
	tk := loadQwen(b)
	texts := randomTexts(2000)
	tokens := 0
	for _, s := range texts {
		tokens += len(tk.Encode(s))
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		fresh, err := tokenizer.Load(qwenFile)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, s := range texts {
			fresh.Encode(s)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkDecodeQwen3(b *testing.B) {
	tk := loadQwen(b)
	prompts, err := taskPrompts(64, true)
	if err != nil {
		b.Fatal(err)
	}
	var ids [][]int
	tokens := 0
	for _, p := range prompts {
		ids = append(ids, tk.Encode(p))
		tokens += len(ids[len(ids)-1])
	}
	b.ResetTimer()
	for b.Loop() {
		for _, x := range ids {
			tk.Decode(x)
		}
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func BenchmarkLoadQwen3(b *testing.B) {
	loadQwen(b)
	for b.Loop() {
		if _, err := tokenizer.Load(qwenFile); err != nil {
			b.Fatal(err)
		}
	}
}
