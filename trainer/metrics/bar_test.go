package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock is a manual clock for bar tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestBar(buf *bytes.Buffer, total int, terminal bool) (*Bar, *fakeClock) {
	clk := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newBar(buf, "grpo", total, terminal, clk.now), clk
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestBarLogMode(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(&buf, 40, false)
	for i := 1; i <= 40; i++ {
		clk.advance(1200 * time.Millisecond)
		b.Set(i, "reward 0.41", "kl 0.002")
	}
	b.Finish()
	b.Finish()
	got := lines(buf.String())
	// Step 1, then each tenth: 4, 8, ..., 40.
	if len(got) != 11 {
		t.Fatalf("%d lines, want 11:\n%s", len(got), buf.String())
	}
	if strings.Contains(buf.String(), "\r") {
		t.Error("log mode wrote a carriage return")
	}
	wantFirst := "grpo   1/40 [>                   ]   2% 1.2s/step eta 47s reward 0.41 kl 0.002"
	if got[0] != wantFirst {
		t.Errorf("first line\n got %q\nwant %q", got[0], wantFirst)
	}
	wantMid := "grpo  12/40 [======>             ]  30% 1.2s/step eta 34s reward 0.41 kl 0.002"
	if got[3] != wantMid {
		t.Errorf("line at 30%%\n got %q\nwant %q", got[3], wantMid)
	}
	wantLast := "grpo  40/40 [====================] 100% 1.2s/step eta 0s reward 0.41 kl 0.002"
	if got[10] != wantLast {
		t.Errorf("last line\n got %q\nwant %q", got[10], wantLast)
	}
}

func TestBarLogModeTimeAndFinish(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(&buf, 1000, false)
	for i := 1; i <= 9; i++ {
		clk.advance(2 * time.Second)
		b.Set(i)
	}
	b.Set(9) // no progress: no line
	b.Finish()
	b.Set(10) // after Finish: ignored
	got := lines(buf.String())
	// Step 1 (t=2s), then every 5 s: steps 4 (8s), 7 (14s); Finish adds 9.
	want := []string{"1/1000", "4/1000", "7/1000", "9/1000"}
	if len(got) != len(want) {
		t.Fatalf("lines %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("line %d %q, want %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[3], "2.0s/step eta 33m02s") {
		t.Errorf("final line %q", got[3])
	}
}

func TestBarTerminalMode(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(&buf, 10, true)
	clk.advance(time.Second)
	b.Set(1, "reward 0.123456")
	clk.advance(time.Second)
	b.Set(2, "r 1")
	if strings.Contains(buf.String(), "\n") {
		t.Fatal("terminal mode ended a line before Finish")
	}
	draws := strings.Split(buf.String(), "\r")
	if len(draws) != 3 || draws[0] != "" {
		t.Fatalf("draws %q, want two", draws)
	}
	if len(draws[2]) != len(draws[1]) || !strings.HasSuffix(strings.TrimRight(draws[2], " "), "eta 8s r 1") {
		t.Errorf("shorter redraw %q does not blank the old line %q", draws[2], draws[1])
	}
	b.Finish()
	if !strings.HasSuffix(buf.String(), "\n") || strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("Finish output %q", buf.String())
	}
}

func TestBarResumeAndUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	b, clk := newTestBar(&buf, 40, false)
	clk.advance(time.Hour) // time spent before resuming does not count
	b.Start(20)
	clk.advance(2 * time.Second)
	b.Set(21)
	if want := "grpo  21/40 [==========>         ]  52% 2.0s/step eta 38s\n"; buf.String() != want {
		t.Errorf("resumed bar %q, want %q", buf.String(), want)
	}

	buf.Reset()
	u, clk := newTestBar(&buf, 0, false)
	u.Set(0)
	clk.advance(500 * time.Millisecond)
	u.Set(1, "kl 0") // no tenths without a total: only every 5 s
	clk.advance(5 * time.Second)
	u.Set(11, "kl 1")
	want := "grpo  0 -/step\ngrpo  11 500ms/step kl 1\n"
	if buf.String() != want {
		t.Errorf("unknown total %q, want %q", buf.String(), want)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		rate string
		eta  string
	}{
		{400 * time.Microsecond, "400us", "0s"},
		{850 * time.Millisecond, "850ms", "1s"},
		{1200 * time.Millisecond, "1.2s", "1s"},
		{34 * time.Second, "34.0s", "34s"},
		{125 * time.Second, "2m05s", "2m05s"},
		{3720 * time.Second, "1h02m", "1h02m"},
	}
	for _, tc := range tests {
		if got := formatRate(tc.d); got != tc.rate {
			t.Errorf("formatRate(%v) = %q, want %q", tc.d, got, tc.rate)
		}
		if got := formatDuration(tc.d); got != tc.eta {
			t.Errorf("formatDuration(%v) = %q, want %q", tc.d, got, tc.eta)
		}
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a regular file or buffer was taken for a terminal")
	}
	if nb := NewBar(f, "x", 3); nb.terminal {
		t.Error("NewBar chose terminal mode for a regular file")
	}
	if dn, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		defer dn.Close()
		if !isTerminal(dn) {
			t.Error("/dev/null (a character device) was not detected")
		}
	}
}
