package model

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/videossr/videossr-go/model/onnx"
	"github.com/videossr/videossr-go/model/ort"
	"github.com/videossr/videossr-go/model/params"
)

// paramFeeds returns the parameters of store as float tensors of type dt
// and, for float64, the slices that finite differences perturb.
func paramFeeds(store *params.Store, dt onnx.DType, feeds map[string]ort.Tensor) map[string][]float64 {
	p64 := map[string][]float64{}
	for _, p := range store.Params() {
		shape := make([]int64, len(p.Shape))
		for i, d := range p.Shape {
			shape[i] = int64(d)
		}
		if dt == onnx.Float32 {
			feeds[p.Name] = ort.Tensor{Shape: shape, DType: ort.Float32, Data: p.Data}
			continue
		}
		d := make([]float64, len(p.Data))
		for i, v := range p.Data {
			d[i] = float64(v)
		}
		p64[p.Name] = d
		feeds[p.Name] = ort.Tensor{Shape: shape, DType: ort.Float64, Data: d}
	}
	return p64
}

func recomputeLoss(on bool) LossConfig {
	lc := DefaultGRPOLoss()
	lc.KLCoef = 0.5
	lc.EntropyCoef = 0.1
	lc.Recompute = on
	return lc
}

// TestTrainingGraphGradientsRecompute is TestTrainingGraphGradients with
// activation recomputation on: the gradient outputs of the whole float64
// GRPO training graph match central finite differences.
func TestTrainingGraphGradientsRecompute(t *testing.T) {
	rt := openRuntime(t)
	c := tinyTest()
	b, err := BuildTrain(c, onnx.Float64, recomputeLoss(true))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Graph.NumCheckpoints(), c.NumHiddenLayers+1+c.VisionConfig.Depth+1; got != want {
		t.Fatalf("training graph has %d checkpoints, want %d", got, want)
	}
	names := []string{
		"visual.blocks.0.attn.qkv.weight", "visual.blocks.1.mlp.fc2.weight", "visual.blocks.0.norm2.bias",
		"visual.patch_embed.proj.weight", "model.layers.0.self_attn.v_proj.weight", "model.layers.1.mlp.gate_proj.weight",
		"model.layers.2.post_attention_layernorm.weight", "model.layers.0.self_attn.o_proj.weight", "model.embed_tokens.weight",
	}
	checkTrainGradients(t, rt, c, b, names, 2, 17, 19)
}

// TestRecomputeSameGradients runs the float32 training graph (ONNX Runtime
// optimizations on, as in training) of each architecture with and without
// recomputation: every output agrees within 1e-6 of the largest magnitude
// of its tensor (Qwen2.5-VL: window bias; Qwen3-VL: deepstack features
// leave the recomputed vision blocks).
func TestRecomputeSameGradients(t *testing.T) {
	rt := openRuntime(t)
	cases := []struct {
		name  string
		c     Config
		grids []Grid
	}{
		{"qwen2-vl", tinyTest(), []Grid{{GT: 2, GH: 4, GW: 4}, {GT: 1, GH: 4, GW: 4}}},
		{"qwen2.5-vl", parseConfig(t, smallVocab(hfConfigQwen25VL())), []Grid{{GT: 2, GH: 12, GW: 10}, {GT: 1, GH: 12, GW: 10}}},
		{"qwen3-vl", parseConfig(t, smallVocab3(hfConfigQwen3VL())), []Grid{{GT: 1, GH: 8, GW: 6}, {GT: 1, GH: 8, GW: 6}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			feeds := trainFeeds(t, c, onnx.Float32, tc.grids, 2)
			paramFeeds(sharpParams(t, c, 5, 3), onnx.Float32, feeds)
			run := func(on bool) map[string]ort.Tensor {
				b, err := BuildTrain(c, onnx.Float32, recomputeLoss(on))
				if err != nil {
					t.Fatal(err)
				}
				out, err := newSession(t, rt, b, onnx.ExportOptions{ParamsAsInputs: true}).Run(context.Background(), feeds, nil)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			ref, got := run(false), run(true)
			if len(ref) != len(got) {
				t.Fatalf("%d outputs without recompute, %d with", len(ref), len(got))
			}
			worst := 0.0
			for name, r := range ref {
				want, have := asFloat64(t, r), asFloat64(t, got[name])
				scale, diff := 0.0, 0.0
				for i := range want {
					scale = math.Max(scale, math.Abs(want[i]))
					diff = math.Max(diff, math.Abs(want[i]-have[i]))
				}
				rel := diff / math.Max(scale, 1e-30)
				worst = math.Max(worst, rel)
				if len(have) != len(want) || !(rel <= 1e-6) {
					t.Errorf("%s: recomputed output differs by %g (largest magnitude %g)", name, diff, scale)
				}
			}
			t.Logf("worst relative difference over %d outputs: %.3g", len(ref), worst)
		})
	}
}

// memEnv selects the child mode of TestRecomputeMemory: "0" or "1" runs
// one training step without or with recomputation and prints its memory.
const memEnv = "VIDEOSSR_RECOMPUTE_MEM_CHILD"

// memLayers, memRows and memResp size the memory test: the tiny model with
// 8 decoder layers on 4 sequences of about 560 tokens.
const memLayers, memRows, memResp = 8, 4, 480

// TestRecomputeMemory measures the peak resident memory of one float32
// training step of an 8-layer tiny model with and without recomputation,
// each in a child process, and fails unless recomputation halves the
// step's peak (measured: 484 MiB without, 114 MiB with). Not run with
// -short.
func TestRecomputeMemory(t *testing.T) {
	res := runMemChildren(t, "TestRecomputeMemoryChild", memEnv, "0", "1")
	off, on := res["0"], res["1"]
	for _, k := range []string{"peak_mib", "step_ms", "nodes"} {
		t.Logf("%-9s without recompute %8.1f, with %8.1f", k, off[k], on[k])
	}
	if !(on["peak_mib"] < off["peak_mib"]/2) {
		t.Errorf("recomputation peak %.1f MiB is not below half of %.1f MiB", on["peak_mib"], off["peak_mib"])
	}
}

// runMemChildren runs the test child once per mode in a child process of
// its own (env=mode) and returns the "mem-result KEY VALUE" lines each
// printed. It skips in a child process itself, with -short, without ONNX
// Runtime and without Linux /proc (peak RSS reset).
func runMemChildren(t *testing.T, child, env string, modes ...string) map[string]map[string]float64 {
	t.Helper()
	if os.Getenv(env) != "" {
		t.Skip("child process")
	}
	if testing.Short() {
		t.Skip("memory measurement runs child processes; not with -short")
	}
	openRuntime(t)
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		t.Skipf("needs Linux /proc: %v", err)
	}
	res := map[string]map[string]float64{}
	for _, mode := range modes {
		cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.v")
		cmd.Env = append(os.Environ(), env+"="+mode)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child %s: %v\n%s", mode, err, out)
		}
		res[mode] = parseMem(t, string(out))
	}
	return res
}

// medianOf3 runs step three times and returns the median time in ms.
func medianOf3(step func()) float64 {
	var times []float64
	for range 3 {
		start := time.Now()
		step()
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(times)
	return times[1]
}

// printMem prints one measurement of a memory test child.
func printMem(key string, v float64) { fmt.Printf("mem-result %s %.1f\n", key, v) }

func parseMem(t *testing.T, out string) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "mem-result" {
			v, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				t.Fatalf("bad child line %q", sc.Text())
			}
			m[f[1]] = v
		}
	}
	if len(m) == 0 {
		t.Fatalf("child printed no measurements:\n%s", out)
	}
	return m
}

// resetPeakRSS collects garbage, resets VmHWM and returns the resident
// size in KiB.
func resetPeakRSS(t *testing.T) float64 {
	t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
	return procStatus(t, "VmRSS")
}

// procStatus returns a field of /proc/self/status in KiB.
func procStatus(t *testing.T, field string) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestRecomputeMemoryChild is the child of TestRecomputeMemory: it builds
// the session, resets the peak RSS (clear_refs 5), runs one step and
// prints the rise of VmHWM over the resident size before the step, then
// the median time of three more steps.
func TestRecomputeMemoryChild(t *testing.T) {
	mode := os.Getenv(memEnv)
	if mode == "" {
		t.Skip("run by TestRecomputeMemory")
	}
	rt := openRuntime(t)
	c := tinyTest()
	c.NumHiddenLayers = memLayers
	b, err := BuildTrain(c, onnx.Float32, recomputeLoss(mode == "1"))
	if err != nil {
		t.Fatal(err)
	}
	sess := newSession(t, rt, b, onnx.ExportOptions{ParamsAsInputs: true})
	store := sharpParams(t, c, 5, 1)
	grid := Grid{GT: 2, GH: 8, GW: 8}
	vs := c.NewVideos([]Grid{grid})
	rng := rand.New(rand.NewPCG(1, 2))
	toks := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = 9 + rng.IntN(c.VocabSize-9)
		}
		return s
	}
	rows := make([]Row, memRows)
	for i := range rows {
		rows[i] = Row{Prompt: videoPrompt(c, toks(40), toks(8), grid), Response: toks(memResp - 7*i), Videos: []int{0}}
	}
	sb, err := c.NewSeqBatch(rows, vs, c.BosTokenID)
	if err != nil {
		t.Fatal(err)
	}
	feeds := sb.Feeds(onnx.Float32)
	patches, cos, sin, T, S := testVideos(c, []Grid{grid}, 3)
	for k, v := range visionFeeds(c, onnx.Float32, patches, cos, sin, T, S) {
		feeds[k] = v
	}
	adv := make([]float64, sb.B)
	old := make([]float64, sb.B*sb.R)
	for i := range adv {
		adv[i] = rng.NormFloat64()
	}
	for i := range old {
		old[i] = -3
	}
	feeds[InAdvantages] = FloatTensor(onnx.Float32, []int64{int64(sb.B)}, adv)
	feeds[InOldLogProbs] = FloatTensor(onnx.Float32, []int64{int64(sb.B), int64(sb.R)}, old)
	feeds[InRefLogProbs] = FloatTensor(onnx.Float32, []int64{int64(sb.B), int64(sb.R)}, old)
	paramFeeds(store, onnx.Float32, feeds)

	base := resetPeakRSS(t)
	ctx := context.Background()
	if _, err := sess.Run(ctx, feeds, nil); err != nil {
		t.Fatal(err)
	}
	peak := procStatus(t, "VmHWM")
	ms := medianOf3(func() {
		if _, err := sess.Run(ctx, feeds, nil); err != nil {
			t.Fatal(err)
		}
	})
	printMem("peak_mib", (peak-base)/1024)
	printMem("step_ms", ms)
	printMem("nodes", float64(b.Graph.NumNodes()))
	printMem("seq_len", float64(sb.L))
}
