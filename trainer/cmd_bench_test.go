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
		if len(f) == 8 && (f[0] == "1" || f[0] == "2") && strings.HasSuffix(f[7], "%") {
			rows++
		}
	}
	if rows != 3 || !strings.Contains(out, "963584 parameters") || !strings.Contains(out, "copy bandwidth") {
		t.Fatalf("bench rollout output (%d table rows):\n%s", rows, out)
	}
}
