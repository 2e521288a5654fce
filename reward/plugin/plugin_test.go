package plugin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/videossr/videossr-go/reward"
)

// examplePlugin is the plug-in shipped in scripts/.
const examplePlugin = "../../scripts/reward_plugin_example.py"

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
}

func newPlugin(t *testing.T, cfg Config) *Plugin {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// shell returns a plug-in config running a POSIX shell script.
func shell(script string) Config {
	return Config{Command: []string{"sh", "-c", script}, Timeout: 10 * time.Second}
}

func TestExamplePluginScores(t *testing.T) {
	needPython(t)
	p := newPlugin(t, Config{Command: []string{"python3", examplePlugin}})
	items := []reward.Item{
		{DataSource: "number", Response: "it is 42", GroundTruth: "42"},
		{DataSource: "number", Response: "41", GroundTruth: "42"},
		{DataSource: "number", Response: "no idea", GroundTruth: "42"},
		{DataSource: "keyword", Response: "A red Ball", GroundTruth: "ball", ExtraInfo: []byte(`{"split":"train"}`)},
		{DataSource: "keyword", Response: "a cube", GroundTruth: "ball"},
		{DataSource: "counting", Response: "3,1,2", GroundTruth: "3,0,2"},
	}
	got, err := p.Score(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 1 - 1.0/42, 0, 1, 0, 2.0 / 3}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("item %d: score %v, want %v", i, got[i], want[i])
		}
	}
	// The same process serves the next batch.
	pid := p.proc.cmd.Process.Pid
	if _, err := p.Score(context.Background(), items[:1]); err != nil {
		t.Fatal(err)
	}
	if p.proc.cmd.Process.Pid != pid {
		t.Error("the plug-in was restarted between two good batches")
	}
}

// TestExamplePluginErrorIsNotZero checks that an item the plug-in cannot
// score (a malformed ground truth) is an error naming the item.
func TestExamplePluginErrorIsNotZero(t *testing.T) {
	needPython(t)
	p := newPlugin(t, Config{Command: []string{"python3", examplePlugin}})
	_, err := p.Score(context.Background(), []reward.Item{
		{DataSource: "number", Response: "1", GroundTruth: "1"},
		{DataSource: "number", Response: "1", GroundTruth: "one"},
	})
	if !errors.Is(err, ErrItem) || !strings.Contains(err.Error(), "item 1") || !strings.Contains(err.Error(), "ValueError") {
		t.Fatalf("err = %v, want ErrItem for item 1 with the plug-in's message", err)
	}
	// The plug-in works again afterwards (a fresh process).
	got, err := p.Score(context.Background(), []reward.Item{{DataSource: "number", Response: "3", GroundTruth: "3"}})
	if err != nil || got[0] != 1 {
		t.Fatalf("after an error: %v, %v", got, err)
	}
}

// TestLargeBatchNoDeadlock sends more data than a pipe buffer holds in
// both directions, in several exchanges.
func TestLargeBatchNoDeadlock(t *testing.T) {
	needPython(t)
	for _, maxBatch := range []int{0, 700} {
		p := newPlugin(t, Config{Command: []string{"python3", examplePlugin}, MaxBatch: maxBatch})
		items := make([]reward.Item, 5000)
		for i := range items {
			items[i] = reward.Item{DataSource: "number", Response: strings.Repeat("x", 100) + fmt.Sprint(i%10), GroundTruth: "5"}
		}
		got, err := p.Score(context.Background(), items)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			want := max(0, 1-math.Abs(float64(i%10)-5)/5)
			if math.Abs(v-want) > 1e-12 {
				t.Fatalf("max batch %d: item %d: %v, want %v", maxBatch, i, v, want)
			}
		}
	}
}

func TestProtocolErrors(t *testing.T) {
	item := []reward.Item{{DataSource: "x", Response: "r", GroundTruth: "g"}}
	for _, c := range []struct {
		name, script string
		want         error
		text         string
	}{
		{"garbage", `while read -r l; do echo 'this is not json'; done`, ErrProtocol, "not a JSON object"},
		{"bare number", `while read -r l; do echo '0.5'; done`, ErrProtocol, "not a JSON object"},
		{"missing score", `while read -r l; do echo '{"id":0}'; done`, ErrProtocol, `no "score"`},
		{"null score", `while read -r l; do echo '{"id":0,"score":null}'; done`, ErrProtocol, `no "score"`},
		{"string score", `while read -r l; do echo '{"id":0,"score":"1"}'; done`, ErrProtocol, "not a JSON object"},
		{"wrong id", `while read -r l; do echo '{"id":7,"score":1}'; done`, ErrProtocol, "id 7"},
		{"missing id", `while read -r l; do echo '{"score":1}'; done`, ErrProtocol, "no id"},
		{"item error", `while read -r l; do echo '{"id":0,"error":"bad sample"}'; done`, ErrItem, "bad sample"},
		{"exits at once", `echo 'boom: no model' >&2; exit 3`, ErrExited, "boom: no model"},
		{"exits mid-line", `read -r l; printf '{"id":0,'; exit 0`, ErrExited, "inside a line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPlugin(t, shell(c.script))
			got, err := p.Score(context.Background(), item)
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("scores %v, err = %v; want %v containing %q", got, err, c.want, c.text)
			}
			if got != nil {
				t.Errorf("scores %v returned with the error", got)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	cfg := shell(`read -r l; exec sleep 30`)
	cfg.Timeout = 200 * time.Millisecond
	p := newPlugin(t, cfg)
	_, err := p.Score(context.Background(), []reward.Item{{DataSource: "x"}})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "item 0") {
		t.Fatalf("err = %v, want ErrTimeout naming item 0", err)
	}
	if p.proc != nil {
		t.Error("a timed-out plug-in is still held")
	}
}

func TestContextCancel(t *testing.T) {
	p := newPlugin(t, shell(`read -r l; exec sleep 30`))
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	if _, err := p.Score(ctx, []reward.Item{{DataSource: "x"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// TestRestartAfterCrash: a plug-in that dies during its first batch is
// restarted and the batch retried; one that always dies fails after one
// retry.
func TestRestartAfterCrash(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "started")
	// Each start appends a line to the marker; the first run dies on its
	// first request.
	script := fmt.Sprintf(`echo x >> %q
if [ "$(wc -l < %q)" -eq 1 ]; then read -r l; exit 1; fi
while read -r l; do id=$(printf '%%s' "$l" | sed 's/^{"id":\([0-9]*\).*/\1/'); echo "{\"id\":$id,\"score\":0.25}"; done`, marker, marker)
	p := newPlugin(t, shell(script))
	got, err := p.Score(context.Background(), []reward.Item{{DataSource: "x"}, {DataSource: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 0.25 || got[1] != 0.25 {
		t.Fatalf("scores %v", got)
	}
	b, _ := os.ReadFile(marker)
	if n := strings.Count(string(b), "x"); n != 2 {
		t.Fatalf("plug-in started %d times, want 2", n)
	}
	// Killed between batches: the next batch starts it again.
	p.proc.cmd.Process.Kill()
	p.proc.cmd.Process.Wait()
	if _, err := p.Score(context.Background(), []reward.Item{{DataSource: "x"}}); err != nil {
		t.Fatalf("after a kill between batches: %v", err)
	}

	always := newPlugin(t, shell(fmt.Sprintf(`echo x >> %q; echo dying >&2; exit 2`, filepath.Join(dir, "always"))))
	if _, err := always.Score(context.Background(), []reward.Item{{DataSource: "x"}}); !errors.Is(err, ErrExited) {
		t.Fatalf("err = %v, want ErrExited", err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "always"))
	if n := strings.Count(string(b), "x"); n != 2 {
		t.Fatalf("always-dying plug-in started %d times, want 2 (one retry)", n)
	}
}

func TestCloseAndConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("empty command accepted")
	}
	if _, err := New(Config{Command: []string{"x"}, Timeout: -1}); err == nil {
		t.Error("negative timeout accepted")
	}
	p := newPlugin(t, shell(`while read -r l; do echo '{"id":0,"score":1}'; done`))
	if _, err := p.Score(context.Background(), []reward.Item{{}}); err != nil {
		t.Fatal(err)
	}
	proc := p.proc
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if proc.cmd.ProcessState == nil {
		t.Error("Close left the process running")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Score(context.Background(), []reward.Item{{}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Score after Close: %v", err)
	}
	missing := newPlugin(t, Config{Command: []string{filepath.Join(t.TempDir(), "no-such-plugin")}})
	if _, err := missing.Score(context.Background(), []reward.Item{{}}); err == nil || !strings.Contains(err.Error(), "no-such-plugin") {
		t.Errorf("missing command: %v", err)
	}
}

// TestRegistryWithPlugin mixes built-in and plug-in data sources in one
// batch through a registry, as the trainer scores a step.
func TestRegistryWithPlugin(t *testing.T) {
	needPython(t)
	reg := reward.DefaultRegistry()
	p, err := New(Config{Command: []string{"python3", examplePlugin}})
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"number", "keyword"} {
		if err := reg.Register(src, p); err != nil {
			t.Fatal(err)
		}
	}
	items := []reward.Item{
		{DataSource: "grounding", Response: "10 - 20", GroundTruth: "10-20"},
		{DataSource: "number", Response: "7", GroundTruth: "7"},
		{DataSource: "counting", Response: "3,1,2", GroundTruth: "3,1,2"},
		{DataSource: "keyword", Response: "no", GroundTruth: "yes"},
	}
	got, err := reg.Score(context.Background(), items)
	if err != nil {
		t.Fatal(err)
	}
	if want := []float64{1, 1, 1, 0}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scores %v, want %v", got, want)
	}
	if err := reg.ValidateGroundTruth("number", "anything"); err != nil {
		t.Errorf("plug-in ground truths are not checked before training: %v", err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Score(context.Background(), items[1:2]); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
