package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/model/ort"
)

// TestBenchRolloutCommand runs `bench rollout` once on a small shape and
// checks the table it prints.
func TestBenchRolloutCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput")
	}
	rt, err := ort.Open("")
	if errors.Is(err, ort.ErrNoLibrary) || errors.Is(err, ort.ErrNoCgo) {
		t.Skipf("ONNX Runtime not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	rt.Close()
	out, _, err := execCmd(t, newBenchCmd(), "", "rollout", "--runs", "1", "--prompts", "2", "--group", "2", "--max-new", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rows := 0
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 9 && (f[0] == "1" || f[0] == "2") && strings.HasSuffix(f[8], "%") {
			rows++
		}
	}
	if rows != 3 || !strings.Contains(out, "963584 parameters") || !strings.Contains(out, "read bandwidth") || !strings.Contains(out, "GFLOP/s") {
		t.Fatalf("bench rollout output (%d table rows):\n%s", rows, out)
	}
}

// TestBenchGPUCommand: the modelled GPU step is labelled a model and has
// three phases for each of the four cases; the resident decode step of the
// two Qwen3-VL-8B cases moves kilobytes in where the host-fed one moves
// gigabytes.
func TestBenchGPUCommand(t *testing.T) {
	out, _, err := execCmd(t, newBenchCmd(), "", "gpu")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "MODELLED GPU step (a roofline model, not a measurement)") || !strings.Contains(out, "Where float32 costs") {
		t.Fatalf("bench gpu output:\n%s", out)
	}
	var decode []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "decode" {
			decode = append(decode, l)
		}
	}
	if len(decode) != 4 || strings.Count(out, "  prefill ") != 4 || strings.Count(out, "  train step ") != 4 {
		t.Fatalf("bench gpu: %d decode rows:\n%s", len(decode), out)
	}
	for _, l := range decode[2:] {
		f := strings.Fields(l)
		// phase(2) h2d-before(2) d2h-before(2) h2d-after(2) ...
		if f[3] != "GiB" || (f[7] != "KiB" && f[7] != "B") {
			t.Errorf("8B decode row: %s", l)
		}
	}
}
