package reward

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestIoU(t *testing.T) {
	inf, nan, maxf := math.Inf(1), math.NaN(), math.MaxFloat64
	cases := []struct {
		name           string
		a0, a1, b0, b1 float64
		want           float64
	}{
		{"identical", 1, 3, 1, 3, 1},
		{"half", 0, 2, 1, 2, 0.5},
		{"third", 15, 25, 10, 20, 1.0 / 3},
		{"disjoint", 0, 1, 2, 3, 0},
		{"touching", 0, 1, 1, 2, 0},
		{"a reversed", 3, 1, 1, 3, 0},
		{"b reversed", 1, 3, 3, 1, 0},
		{"zero-length identical", 5, 5, 5, 5, 0},
		{"zero-length inside", 5, 5, 0, 10, 0},
		{"tiny overlap below 1e-9", 0, 5e-10, 0, 1e-10, 1},
		{"negative bounds", -4, -2, -3, -1, 1.0 / 3},
		{"NaN", nan, 1, 0, 1, 0},
		{"Inf", 0, inf, 0, 1, 0},
		{"-Inf", -inf, 1, 0, 1, 0},
		{"whole float range identical", -maxf, maxf, -maxf, maxf, 1},
		{"whole float range vs half", -maxf, maxf, 0, maxf, 0.5},
		{"huge identical", 0, maxf, 0, maxf, 1},
	}
	for _, c := range cases {
		got := IoU(c.a0, c.a1, c.b0, c.b1)
		if !near(got, c.want) {
			t.Errorf("%s: IoU(%v,%v,%v,%v) = %v, want %v", c.name, c.a0, c.a1, c.b0, c.b1, got, c.want)
		}
		if sym := IoU(c.b0, c.b1, c.a0, c.a1); sym != got {
			t.Errorf("%s: IoU not symmetric: %v vs %v", c.name, got, sym)
		}
	}
}

func TestMultipleChoice(t *testing.T) {
	cases := []struct {
		response, answer string
		want             float64
	}{
		{"A", "A", 1},
		{"B. A dog runs.", "B", 1},
		{"  \n C", "C", 1},
		{"C", "C. The red one", 1},
		{"(C)", "C", 0}, // the paper compares the first character only
		{"b", "B", 0},   // case-sensitive: "a"/"b" starts many sentences
		{"The answer is A", "A", 0},
		{"D", "A", 0},
		{"", "A", 0},
		{"A", "", 0},
		{"\xff", "A", 0},
	}
	for _, c := range cases {
		if got := MultipleChoice(c.response, c.answer); got != c.want {
			t.Errorf("MultipleChoice(%q, %q) = %v, want %v", c.response, c.answer, got, c.want)
		}
	}
}

func TestFirstInterval(t *testing.T) {
	big := strings.Repeat("9", 400)
	cases := []struct {
		response   string
		start, end float64
		ok         bool
	}{
		{"12.5-20.1", 12.5, 20.1, true},
		{"The anomaly is at 12.5 - 20.1 seconds.", 12.5, 20.1, true},
		{"from 3.5-7.25.", 3.5, 7.25, true},
		{"10 -\n 20", 10, 20, true},
		{"10\t-\t20", 10, 20, true},
		{"At 3 seconds, then 10-20 and 30-40", 10, 20, true},
		{"10-20-30", 10, 20, true},
		{"-5-10", 5, 10, true},
		{"20-10", 20, 10, true}, // order not checked here; IoU scores it 0
		{".5-1.", 0.5, 1, true},
		{"1.2.3-4", 0.3, 4, true},
		{"12.-20", 12, 20, true},
		{"between 3 s and 7 s", 0, 0, false},
		{"3 to 7", 0, 0, false},
		{"3–7", 0, 0, false}, // en dash
		{"3 - seven", 0, 0, false},
		{"- 5", 0, 0, false},
		{"5 -", 0, 0, false},
		{"", 0, 0, false},
		{"no numbers", 0, 0, false},
		{big + "-1, then 2-3", 2, 3, true},
		{"１０-２０", 0, 0, false},
	}
	for _, c := range cases {
		s, e, ok := FirstInterval(c.response)
		if ok != c.ok || (ok && (!near(s, c.start) || !near(e, c.end))) {
			t.Errorf("FirstInterval(%q) = %v, %v, %v; want %v, %v, %v", c.response, s, e, ok, c.start, c.end, c.ok)
		}
	}
}

func TestEvalGroundingIoU(t *testing.T) {
	got, err := EvalGroundingIoU("The event is at 15 - 25 s.", "10-20")
	if err != nil || !near(got, 1.0/3) {
		t.Errorf("EvalGroundingIoU = %v, %v; want 1/3", got, err)
	}
	got, err = EvalGroundingIoU("I don't know", "10-20")
	if err != nil || got != 0 {
		t.Errorf("EvalGroundingIoU(no interval) = %v, %v; want 0, nil", got, err)
	}
	if _, err := EvalGroundingIoU("10-20", "twenty"); !errors.Is(err, ErrBadGroundTruth) {
		t.Errorf("bad gt: err = %v, want ErrBadGroundTruth", err)
	}
}

func TestGroundingAccumulator(t *testing.T) {
	var a GroundingAccumulator
	if s := a.Stats(); s != (GroundingStats{}) {
		t.Fatalf("empty Stats = %+v, want zero", s)
	}
	for _, v := range []float64{0.2, 0.3, 0.5, 0.7, 1.0} {
		a.Add(v)
	}
	s := a.Stats()
	if s.N != 5 || !near(s.MIoU, 2.7/5) || !near(s.R03, 0.8) || !near(s.R05, 0.6) || !near(s.R07, 0.4) {
		t.Errorf("Stats = %+v, want N=5 MIoU=0.54 R03=0.8 R05=0.6 R07=0.4", s)
	}
	a.Add(math.NaN())
	a.Add(-1)
	a.Add(2)
	s = a.Stats()
	if s.N != 8 || !near(s.MIoU, 3.7/8) || !near(s.R07, 3.0/8) {
		t.Errorf("after NaN, -1, 2: Stats = %+v, want N=8 MIoU=3.7/8 R07=3/8", s)
	}
}
