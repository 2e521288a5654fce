package perturb

import (
	"fmt"
	"math"
	"testing"
)

// chiSquareOK reports whether counts are plausibly uniform: the statistic
// against equal expected counts stays below the 0.999 quantile
// (Wilson-Hilferty approximation).
func chiSquareOK(obs []int) (stat, crit float64, ok bool) {
	total := 0
	for _, o := range obs {
		total += o
	}
	exp := float64(total) / float64(len(obs))
	for _, o := range obs {
		d := float64(o) - exp
		stat += d * d / exp
	}
	df := float64(len(obs) - 1)
	a := 2 / (9 * df)
	crit = df * math.Pow(1-a+3.090*math.Sqrt(a), 3)
	return stat, crit, stat <= crit
}

func checkUniform(t *testing.T, name string, obs []int) {
	t.Helper()
	if stat, crit, ok := chiSquareOK(obs); !ok {
		t.Errorf("%s: chi-square %.1f > %.1f: not uniform: %v", name, stat, crit, obs)
	}
}

func TestChiSquareCanFail(t *testing.T) {
	if _, _, ok := chiSquareOK([]int{1000, 1000, 1000, 1200}); ok {
		t.Fatal("a 20% excess in one of 4 bins of 1000 passed as uniform")
	}
	if _, _, ok := chiSquareOK([]int{1000, 1010, 990, 1005}); !ok {
		t.Fatal("near-equal counts failed")
	}
}

// TestParameterDistributions draws each random parameter 10,000 times and
// checks its range and uniformity: noise sigma on [35, 70), zoom-in scale
// on [1.3, 1.5), zoom-out scale on [1.2, 1.4), stutter holds on 2..5, the
// swap donor start over the valid starts, and the shuffle permutation over
// the non-identity orders (never the identity).
func TestParameterDistributions(t *testing.T) {
	const draws = 10000
	tiny := constClip(16, 2, 2, 10, 20, 30)
	for i, f := range tiny {
		f.Pix[0] = byte(i) // distinct frames
	}
	donor := constClip(24, 2, 2, 1, 2, 3)
	rng := newRNG(2026)
	bins := func(kind Kind, key string, lo, hi float64, in Input) {
		t.Helper()
		obs := make([]int, 10)
		for range draws {
			_, p, err := Apply(kind, in, rng)
			if err != nil {
				t.Fatal(err)
			}
			v := p[key].(float64)
			if v < lo || v >= hi {
				t.Fatalf("%s %s = %g outside [%g, %g)", kind, key, v, lo, hi)
			}
			obs[int((v-lo)/(hi-lo)*10)]++
		}
		checkUniform(t, fmt.Sprintf("%s %s", kind, key), obs)
	}
	one := Input{Frames: tiny, Start: 3, Length: 1}
	bins(Noise, "sigma", 35, 70, one)
	big := constClip(1, 20, 20, 50, 60, 70)
	bins(ZoomIn, "scale", 1.3, 1.5, Input{Frames: big, Start: 0, Length: 1})
	bins(ZoomOut, "scale", 1.2, 1.4, Input{Frames: big, Start: 0, Length: 1})

	holds := make([]int, 4)
	starts := make([]int, 24-8+1)
	for range draws {
		_, p, err := Apply(Stutter, Input{Frames: tiny, Start: 2, Length: 12}, rng)
		if err != nil {
			t.Fatal(err)
		}
		holds[len(p["holds"].([]int))-2]++
		_, p, err = Apply(Swap, Input{Frames: tiny, Start: 4, Length: 8, Donor: donor}, rng)
		if err != nil {
			t.Fatal(err)
		}
		starts[p["donor_start"].(int)]++
	}
	checkUniform(t, "stutter holds 2..5", holds)
	checkUniform(t, "swap donor start", starts)

	perms := map[string]int{}
	for range draws {
		out, p, err := Apply(Shuffle, Input{Frames: tiny, Start: 5, Length: 4}, rng)
		if err != nil {
			t.Fatal(err)
		}
		perm := p["permutation"].([]int)
		key := fmt.Sprint(perm)
		if key == "[0 1 2 3]" {
			t.Fatal("shuffle drew the identity")
		}
		for i, j := range perm {
			if !out[5+i].Equal(tiny[5+j]) {
				t.Fatalf("position %d does not show segment frame %d", i, j)
			}
		}
		perms[key]++
	}
	if len(perms) != 23 {
		t.Fatalf("shuffle of 4 frames drew %d distinct orders, want all 23 non-identity ones", len(perms))
	}
	var obs []int
	for _, c := range perms {
		obs = append(obs, c)
	}
	checkUniform(t, "shuffle orders", obs)
}
