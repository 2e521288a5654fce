// Package onnxcheck runs the reference ONNX checker, Python's onnx package
// (Debian: apt-get install python3-onnx), over model files. Tests use it to
// hold the graph builder to the ONNX standard; the product never runs
// Python.
package onnxcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// ErrUnavailable is wrapped by Find when no interpreter imports onnx.
var ErrUnavailable = errors.New("ONNX checker unavailable (apt-get install python3-onnx, or set VIDEOSSR_PYTHON)")

// Checker is a Python interpreter that imports onnx.
type Checker struct {
	// Python is the interpreter's path.
	Python string
	// Version is onnx.__version__.
	Version string
	// MaxOpset is the newest opset of the default domain onnx knows.
	MaxOpset int
}

// Find returns the first of $VIDEOSSR_PYTHON, python3 and /usr/bin/python3
// that imports onnx; the error (wrapping ErrUnavailable) lists what was
// tried.
func Find(ctx context.Context) (Checker, error) {
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
		out, err := exec.CommandContext(ctx, py, "-c", "import onnx, onnx.defs; print(onnx.__version__, onnx.defs.onnx_opset_version())").Output()
		f := strings.Fields(string(out))
		if err != nil || len(f) != 2 {
			tried = append(tried, py+": no onnx module")
			continue
		}
		op, err := strconv.Atoi(f[1])
		if err != nil {
			tried = append(tried, py+": bad opset "+strconv.Quote(f[1]))
			continue
		}
		return Checker{Python: py, Version: f[0], MaxOpset: op}, nil
	}
	return Checker{}, fmt.Errorf("%w: %s", ErrUnavailable, strings.Join(tried, "; "))
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

// Check runs onnx.checker.check_model(path, full_check=True) on every file
// in one Python process and returns the message of each failing path.
func (c Checker) Check(ctx context.Context, paths []string) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, c.Python, append([]string{"-c", script}, paths...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("onnx checker: %w\n%s", err, stderr.String())
	}
	var res map[string]string
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("onnx checker reply: %w\n%s", err, out)
	}
	if len(res) != len(paths) {
		return nil, fmt.Errorf("onnx checker answered for %d of %d files", len(res), len(paths))
	}
	bad := map[string]string{}
	for p, msg := range res {
		if msg != "" {
			bad[p] = msg
		}
	}
	return bad, nil
}
