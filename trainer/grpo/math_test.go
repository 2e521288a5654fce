package grpo

import (
	"math"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestGroupAdvantages(t *testing.T) {
	// Group 1: rewards 1,0,0,1: mean 0.5, unbiased std sqrt(1/3) = 0.57735.
	// Group 2: all 0.3: zero variance, advantages 0.
	r := []float64{1, 0, 0, 1, 0.3, 0.3, 0.3, 0.3}
	adv, st, err := GroupAdvantages(r, 4, true, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	a := 0.5 / (math.Sqrt(1.0/3) + 1e-6) // 0.866024...
	want := []float64{a, -a, -a, a, 0, 0, 0, 0}
	for i := range want {
		if !near(adv[i], want[i], 1e-12) {
			t.Fatalf("adv[%d] = %v, want %v", i, adv[i], want[i])
		}
	}
	if !near(a, 0.8660239, 1e-6) {
		t.Fatalf("hand value %v", a)
	}
	if st[0].ZeroVar || !st[1].ZeroVar || !near(st[0].Std, 0.5773503, 1e-6) {
		t.Fatalf("stats %+v", st)
	}
	if f := ZeroVarianceFraction(st); f != 0.5 {
		t.Fatalf("zero-variance fraction %v", f)
	}
	// Without the std division: r - mean.
	adv, _, _ = GroupAdvantages([]float64{0.2, 0.6, 1.0}, 3, false, 1e-6)
	for i, w := range []float64{-0.4, 0, 0.4} {
		if !near(adv[i], w, 1e-12) {
			t.Fatalf("no-std adv %v", adv)
		}
	}
	// A group of one: mean 0, std 1 -> A = r / (1 + eps).
	adv, _, _ = GroupAdvantages([]float64{0.7}, 1, true, 1e-6)
	if !near(adv[0], 0.7/(1+1e-6), 1e-15) {
		t.Fatalf("group of one: %v", adv)
	}
	if _, _, err := GroupAdvantages([]float64{1, 2, 3}, 2, true, 1e-6); err == nil {
		t.Fatal("ragged groups accepted")
	}
}

func TestKLEstimators(t *testing.T) {
	cases := []struct {
		kind      string
		logp, ref float64
		want      float64
	}{
		{"k1", -1.0, -1.5, 0.5},
		{"abs", -1.5, -1.0, 0.5},
		{"k2", -1.0, -1.5, 0.125},
		// k3: x = 0.5, u = -0.5: e^-0.5 + 0.5 - 1 = 0.10653066.
		{"k3", -1.0, -1.5, 0.10653066},
		// x = -1: u = 1: e - 2 = 0.71828183.
		{"k3", -2.0, -1.0, 0.71828183},
		// x = -15: u = 15: e^15 - 16 clamps to 10.
		{"k3", -16, -1, 10},
		{"k3", -1, -1, 0},
	}
	for _, c := range cases {
		got, err := KLEstimate(c.kind, c.logp, c.ref)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, c.want, 1e-7) {
			t.Errorf("%s(%v, %v) = %v, want %v", c.kind, c.logp, c.ref, got, c.want)
		}
	}
	if _, err := KLEstimate("full", 0, 0); err == nil {
		t.Fatal("unknown estimator accepted")
	}
}

func TestAggregateLoss(t *testing.T) {
	l := [][]float64{{1, 2, 3}, {4, 5, 9}}
	m := [][]float64{{1, 1, 0}, {1, 1, 1}}
	cases := map[string]float64{
		// (1+2+4+5+9) / 5 = 4.2
		AggTokenMean: 21 / (5 + 1e-8),
		// ((1+2) + (4+5+9)) / 2 = 10.5
		AggSeqMeanTokenSum: 10.5,
		// (3/2 + 18/3) / 2 = 3.75
		AggSeqMeanTokenMean: 3.75,
	}
	for mode, want := range cases {
		got, err := AggregateLoss(mode, l, m)
		if err != nil {
			t.Fatal(err)
		}
		if !near(got, want, 1e-12) {
			t.Errorf("%s = %v, want %v", mode, got, want)
		}
	}
	if _, err := AggregateLoss("seq-sum", l, m); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

func TestPolicyLoss(t *testing.T) {
	cases := []struct {
		adv, logp, old float64
		want           float64
		clipped        bool
	}{
		// ratio 1: loss = -A.
		{2, -1, -1, -2, false},
		// A>0, ratio e^0.5 = 1.6487 > 1.2: max(-2*1.6487, -2*1.2) = -2.4, clipped.
		{2, -0.5, -1, -2.4, true},
		// A<0, ratio e^2 = 7.389: max(7.389, 1.2) = 7.389, dual clip min(., 3) = 3.
		{-1, 1, -1, 3, false},
		// A<0, ratio e^-1 = 0.3679: max(0.3679, 0.8) = 0.8, clipped.
		{-1, -2, -1, 0.8, true},
	}
	for _, c := range cases {
		got, clipped := PolicyLoss(c.adv, c.logp, c.old, 0.2, 0.2, 3)
		if !near(got, c.want, 1e-12) || clipped != c.clipped {
			t.Errorf("PolicyLoss(%v, %v, %v) = %v %v, want %v %v", c.adv, c.logp, c.old, got, clipped, c.want, c.clipped)
		}
	}
	// c = 0 turns the dual clip off (model.LossConfig.ClipC): A<0, ratio
	// e^2 keeps its loss e^2.
	if got, _ := PolicyLoss(-1, 1, -1, 0.2, 0.2, 0); !near(got, math.Exp(2), 1e-12) {
		t.Errorf("PolicyLoss without dual clip = %v, want e^2", got)
	}
}
