package model

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/onnx"
)

// findONNXPython returns the first of $VIDEOSSR_PYTHON, python3 and
// /usr/bin/python3 that imports onnx (Debian: apt-get install
// python3-onnx), with the newest opset that onnx knows, or skips the test.
// Python serves this test only; the product never runs it.
func findONNXPython(t *testing.T) (python, version string, maxOpset int) {
	t.Helper()
	var tried []string
	for _, c := range []string{os.Getenv("VIDEOSSR_PYTHON"), "python3", "/usr/bin/python3"} {
		if c == "" {
			continue
		}
		py, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, py, "-c", "import onnx, onnx.defs; print(onnx.__version__, onnx.defs.onnx_opset_version())").Output()
		cancel()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 {
			tried = append(tried, py+": no onnx module")
			continue
		}
		op, err := strconv.Atoi(f[1])
		if err != nil {
			tried = append(tried, py+": bad opset "+f[1])
			continue
		}
		return py, f[0], op
	}
	t.Skipf("ONNX checker unavailable (apt-get install python3-onnx, or set VIDEOSSR_PYTHON): %s", strings.Join(tried, "; "))
	return "", "", 0
}

// TestONNXCheckerExportedGraphs exports every graph of the tiny model (large
// initializers as external data) and runs onnx.checker.check_model with
// full_check (strict shape inference) on each file. With an onnx older than
// 1.13 (Debian 12 ships 1.12, opsets up to 17) the graphs are exported in
// their opset-17 form.
func TestONNXCheckerExportedGraphs(t *testing.T) {
	py, version, maxOpset := findONNXPython(t)
	opset := min(maxOpset, onnx.DefaultOpset)
	if opset < onnx.MinOpset {
		t.Skipf("onnx %s knows opsets up to %d; export needs %d", version, maxOpset, onnx.MinOpset)
	}
	c := tinyTest()
	store, err := c.InitParams(3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "export")
	if err := Export(context.Background(), dir, c, store, ExportOptions{Opset: opset, ExternalDataThreshold: 4096}); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadIOSpec(filepath.Join(dir, ONNXDir, IOFile))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, g := range spec.Graphs {
		paths = append(paths, filepath.Join(dir, ONNXDir, g.File))
	}
	const script = `
import json, sys, onnx
res = {}
for p in sys.argv[1:]:
    try:
        onnx.checker.check_model(p, full_check=True)
        res[p] = ""
    except Exception as e:
        res[p] = "%s: %s" % (type(e).__name__, str(e).strip())
print(json.dumps(res))
`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, append([]string{"-c", script}, paths...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("onnx checker: %v\n%s", err, stderr.String())
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("onnx checker reply: %v\n%s", err, out)
	}
	if len(res) != len(paths) {
		t.Fatalf("checker answered for %d of %d graphs", len(res), len(paths))
	}
	for _, p := range paths {
		if msg := res[p]; msg != "" {
			t.Errorf("%s: %s", filepath.Base(p), msg)
		}
	}
	t.Logf("onnx %s checker (full_check, opset %d) on %d exported graphs", version, opset, len(paths))
}
