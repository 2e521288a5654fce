package model

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/onnx/onnxcheck"
)

// TestONNXCheckerExportedGraphs exports every graph of the tiny model, plain
// and with LoRA on a BF16 base (large initializers as external data), and
// runs onnx.checker.check_model with full_check (strict shape inference) on
// each file. With an onnx older than
// 1.13 (Debian 12 ships 1.12, opsets up to 17) the graphs are exported in
// their opset-17 form.
func TestONNXCheckerExportedGraphs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chk, err := onnxcheck.Find(ctx)
	if err != nil {
		t.Skip(err)
	}
	opset := min(chk.MaxOpset, onnx.DefaultOpset)
	if opset < onnx.MinOpset {
		t.Skipf("onnx %s knows opsets up to %d; export needs %d", chk.Version, chk.MaxOpset, onnx.MinOpset)
	}
	// The plain tiny model, and the same with LoRA over a BF16 base (16-bit
	// inputs and initializers, in-graph casts, the backward pass's gated
	// re-casts).
	plain := tinyTest()
	half := withLoRA(tinyTest(), "q_proj", "v_proj")
	half.LoRA.BaseDType = "BF16"
	var paths []string
	for i, c := range []Config{plain, half} {
		store, err := c.InitParams(3)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.HoldBase(store); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("export%d", i))
		if err := Export(context.Background(), dir, c, store, ExportOptions{Opset: opset, ExternalDataThreshold: 4096}); err != nil {
			t.Fatal(err)
		}
		spec, err := LoadIOSpec(filepath.Join(dir, ONNXDir, IOFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range spec.Graphs {
			paths = append(paths, filepath.Join(dir, ONNXDir, g.File))
		}
	}
	bad, err := chk.Check(ctx, paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if msg := bad[p]; msg != "" {
			t.Errorf("%s: %s", filepath.Base(p), msg)
		}
	}
	t.Logf("onnx %s checker (full_check, opset %d) on %d exported graphs", chk.Version, opset, len(paths))
}
