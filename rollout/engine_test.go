package rollout

import (
	"context"
	"errors"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
)

func testTokens() model.TinyTokens {
	return model.TinyTokens{EndOfText: 0, ImStart: 1, ImEnd: 2, VisionStart: 3, VisionEnd: 4, VisionPad: 5, ImagePad: 6, VideoPad: 7}
}

// fakeModel returns fixed logits: prefill row i gets base shifted by i, every
// decode row gets base. Its cache holds one value per row: the prompt index,
// so tests can see which rows were shared.
type fakeModel struct {
	base              []float32
	prefills, decodes int
	prefillRows       int
	decodeRows        [][]float32 // cache row contents seen by each decode
}

func (f *fakeModel) Encode(ctx context.Context, vb *model.VisionBatch) (ort.Tensor, error) {
	return ort.Tensor{}, errors.New("fake: no vision")
}

func (f *fakeModel) Prefill(ctx context.Context, pb *model.PromptBatch, _ ort.Tensor) ([]float32, model.KVCache, error) {
	f.prefills++
	f.prefillRows += pb.B
	V := len(f.base)
	logits := make([]float32, pb.B*V)
	keys := make([]float32, pb.B)
	for i := 0; i < pb.B; i++ {
		copy(logits[i*V:], f.base)
		keys[i] = float32(i)
	}
	kt := ort.Tensor{Shape: []int64{int64(pb.B), 1, 1, 1}, DType: ort.Float32, Data: keys}
	return logits, model.KVCache{Keys: []ort.Tensor{kt}, Values: []ort.Tensor{kt}}, nil
}

func (f *fakeModel) Decode(ctx context.Context, tokens, pos []int64, valid [][]bool, c model.KVCache) ([]float32, model.KVCache, error) {
	f.decodes++
	if int(c.Keys[0].Shape[0]) != len(tokens) {
		return nil, c, errors.New("fake: cache rows do not match tokens")
	}
	f.decodeRows = append(f.decodeRows, append([]float32(nil), c.Keys[0].Data.([]float32)...))
	V := len(f.base)
	logits := make([]float32, len(tokens)*V)
	for i := range tokens {
		copy(logits[i*V:], f.base)
	}
	return logits, c, nil
}

func fakeConfig(V int) model.Config {
	c := model.Tiny(V, testTokens())
	return c
}

// TestFirstTokenChiSquare: over many seeded draws through the engine, the
// first response tokens follow the (truncated) softmax of the logits.
func TestFirstTokenChiSquare(t *testing.T) {
	const V = 32
	base := testLogits(V, 5)
	base[2] = -30 // keep EOS (im_end) out of the way
	for _, s := range []Sampling{
		{Temperature: 1, TopP: 1},
		{Temperature: 0.6, TopP: 1},
		{Temperature: 1, TopP: 0.7},
		{Temperature: 1.5, TopP: 0.95, TopK: 8},
	} {
		s.MaxNewTokens = 1
		f := &fakeModel{base: base}
		e := NewEngine(f, fakeConfig(V), nil, 0)
		counts := make([]int, V)
		const prompts, g, rounds = 4, 50, 60
		ps := make([]Prompt, prompts)
		for i := range ps {
			ps[i] = Prompt{IDs: []int{9, 10, 11 + i}}
		}
		for round := range rounds {
			out, _, err := e.Generate(context.Background(), ps, g, s, uint64(round))
			if err != nil {
				t.Fatal(err)
			}
			for _, smp := range out {
				counts[smp.Tokens[0]]++
			}
		}
		n := prompts * g * rounds
		stat, df := chiSquare(counts, expected(base, s), n)
		if stat > chiSquareBound(df) {
			t.Errorf("%+v: chi-square %.1f > %.1f (df %d)", s, stat, chiSquareBound(df), df)
		}
	}
}

func TestPrefillOncePerPromptAndSharing(t *testing.T) {
	const V = 16
	base := make([]float32, V)
	base[2] = -30 // never stop early
	for _, g := range []int{1, 4, 9} {
		f := &fakeModel{base: base}
		e := NewEngine(f, fakeConfig(V), nil, 0)
		ps := []Prompt{{IDs: []int{9, 10}}, {IDs: []int{11}}, {IDs: []int{12, 13, 14}}}
		out, st, err := e.Generate(context.Background(), ps, g, Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 3}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if f.prefills != 1 || f.prefillRows != len(ps) || st.PrefillRows != len(ps) {
			t.Fatalf("G=%d: %d prefill runs over %d rows, want 1 run over %d", g, f.prefills, f.prefillRows, len(ps))
		}
		if len(out) != len(ps)*g || f.decodes != 2 {
			t.Fatalf("G=%d: %d samples, %d decode steps", g, len(out), f.decodes)
		}
		// Every decode sees prompt i's cache in rows i*g..i*g+g-1.
		for _, rows := range f.decodeRows {
			for r, v := range rows {
				if int(v) != r/g {
					t.Fatalf("G=%d: decode row %d holds prompt %v's cache", g, r, v)
				}
			}
		}
		for _, s := range out {
			if len(s.Tokens) != 3 || s.Finish != FinishLength || len(s.LogProbs) != 3 {
				t.Fatalf("sample %+v", s)
			}
		}
	}
}

func TestRaggedStop(t *testing.T) {
	const V = 16
	base := make([]float32, V)
	for i := range base {
		base[i] = -5
	}
	base[2], base[8] = -1.5, 0 // EOS (18%) or token 8
	f := &fakeModel{base: base}
	e := NewEngine(f, fakeConfig(V), nil, 0)
	out, st, err := e.Generate(context.Background(), []Prompt{{IDs: []int{9}}}, 32, Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 6}, 3)
	if err != nil {
		t.Fatal(err)
	}
	stops, lengths := 0, 0
	for _, s := range out {
		last := s.Tokens[len(s.Tokens)-1]
		switch s.Finish {
		case FinishStop:
			stops++
			if last != 2 {
				t.Fatalf("stopped on %d", last)
			}
		case FinishLength:
			lengths++
			if len(s.Tokens) != 6 {
				t.Fatalf("length finish after %d tokens", len(s.Tokens))
			}
		}
		for _, tok := range s.Tokens[:len(s.Tokens)-1] {
			if tok == 2 {
				t.Fatalf("EOS inside a response: %v", s.Tokens)
			}
		}
	}
	if stops == 0 || lengths == 0 {
		t.Fatalf("stops %d lengths %d: want both", stops, lengths)
	}
	// Decode batches shrink as rows stop.
	if n := len(f.decodeRows[len(f.decodeRows)-1]); n >= 32 {
		t.Fatalf("last decode still ran %d rows", n)
	}
	if st.DecodeTokens == 0 {
		t.Fatal("no decode tokens counted")
	}
	// Same seed, same samples.
	again, _, _ := NewEngine(&fakeModel{base: base}, fakeConfig(V), nil, 0).Generate(context.Background(), []Prompt{{IDs: []int{9}}}, 32, Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 6}, 3)
	for i := range out {
		if len(out[i].Tokens) != len(again[i].Tokens) {
			t.Fatal("same seed gave different samples")
		}
	}
}

type textDecoder struct{}

func (textDecoder) DecodeSkipSpecial(ids []int) string {
	b := make([]byte, len(ids))
	for i, id := range ids {
		b[i] = byte('a' + id%26)
	}
	return string(b)
}

func TestStopStringsAndCancel(t *testing.T) {
	const V = 8
	base := make([]float32, V)
	for i := range base {
		base[i] = -20
	}
	base[5] = 0 // always 'f'
	e := NewEngine(&fakeModel{base: base}, fakeConfig(V), textDecoder{}, 0)
	out, _, err := e.Generate(context.Background(), []Prompt{{IDs: []int{1}}}, 2, Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 10, StopStrings: []string{"fff"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Finish != FinishStop || len(out[0].Tokens) != 3 || out[0].Text != "" {
		t.Fatalf("stop string: %+v", out[0])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := e.Generate(ctx, []Prompt{{IDs: []int{1}}}, 2, Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 10}, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
}

// TestDecodeStepFLOPs: two FLOPs per parameter and row plus the attention
// over the context, by hand for the fake model.
func TestDecodeStepFLOPs(t *testing.T) {
	c := fakeConfig(10)
	att := 4.0 * 3 * 7 * float64(c.NumHiddenLayers) * float64(c.NumAttentionHeads*c.HeadDim())
	if got, want := DecodeStepFLOPs(c, 1000, 3, 7), 2.0*1000*3+att; got != want {
		t.Fatalf("DecodeStepFLOPs = %g, want %g", got, want)
	}
}
