package model

import (
	"testing"

	"github.com/videossr/videossr-go/model/onnx"
)

func tinyTest() Config {
	c := Tiny(48, testTokens())
	return c
}

func TestBuildAllGraphs(t *testing.T) {
	c := tinyTest()
	store, err := c.InitParams(1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := int(store.NumParams()), c.NumParams(); got != want {
		t.Fatalf("store has %d params, specs %d", got, want)
	}
	builders := map[string]func() (*Built, error){
		"vision":  func() (*Built, error) { return BuildVision(c, onnx.Float32) },
		"prefill": func() (*Built, error) { return BuildPrefill(c, onnx.Float32) },
		"decode":  func() (*Built, error) { return BuildDecode(c, onnx.Float32) },
		"logprob": func() (*Built, error) { return BuildLogProb(c, onnx.Float32, 1) },
		"grpo":    func() (*Built, error) { return BuildTrain(c, onnx.Float32, DefaultGRPOLoss()) },
		"sft":     func() (*Built, error) { return BuildTrain(c, onnx.Float32, SFTLoss()) },
	}
	for name, build := range builders {
		b, err := build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := b.Graph.Build(onnx.ExportOptions{ParamData: ParamData(store)}); err != nil {
			t.Fatalf("%s: export: %v", name, err)
		}
		if _, err := b.Graph.Build(onnx.ExportOptions{ParamsAsInputs: true}); err != nil {
			t.Fatalf("%s: export with params as inputs: %v", name, err)
		}
	}
}
