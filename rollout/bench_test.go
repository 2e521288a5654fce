package rollout

import (
	"context"
	"testing"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/ort"
)

// BenchmarkGenerate measures group generation on the default tiny
// architecture (1024-token vocabulary): 8 prompts of ~134 tokens (one
// 16-frame 56x56 video) x G=8, 12 new tokens. It reports decode tokens/s
// and the fraction of the memory-bandwidth bound a decode step reaches.
func BenchmarkGenerate(b *testing.B) {
	rt := openRuntime(b)
	c := model.Tiny(1024, model.TinyTokens{EndOfText: 1016, ImStart: 1017, ImEnd: 1018, VisionStart: 1019, VisionEnd: 1020, VisionPad: 1021, ImagePad: 1022, VideoPad: 1023})
	store, err := c.InitParams(1)
	if err != nil {
		b.Fatal(err)
	}
	p, err := model.NewPolicy(rt, c, store, model.PolicyOptions{Graphs: []string{model.GraphVision, model.GraphPrefill, model.GraphDecodeStatic}, Session: ort.Options{IntraOpThreads: 2, InterOpThreads: 1}})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ps, err := SyntheticPrompts(c, 8, 100, 16, 56, 1)
	if err != nil {
		b.Fatal(err)
	}
	e := NewEngine(p, c, nil, c.BosTokenID)
	s := Sampling{Temperature: 1, TopP: 1, MaxNewTokens: 12}
	var tp Throughput
	for b.Loop() {
		if tp, err = MeasureThroughput(context.Background(), e, store.NumParams(), ps, 8, s, 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(tp.DecodeTPS, "decode-tok/s")
	b.ReportMetric(tp.PrefillTPS, "prefill-tok/s")
	b.ReportMetric(1e3*tp.StepSeconds, "ms/step")
	b.ReportMetric(tp.Ratio, "bound-ratio")
}
