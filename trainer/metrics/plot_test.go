package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// ramp returns records for steps 0..n-1 with metric name = f(step).
func ramp(n int, name string, f func(int) float64) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Step: i, Phase: "grpo", Values: map[string]float64{name: f(i)}}
	}
	return recs
}

// colourPixels lists the pixels of img inside r that have colour c.
func colourPixels(img *image.RGBA, r image.Rectangle, c color.RGBA) []image.Point {
	var pts []image.Point
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if img.RGBAAt(x, y) == c {
				pts = append(pts, image.Pt(x, y))
			}
		}
	}
	return pts
}

func TestPlotWritesPNG(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plots", "kl.png")
	recs := ramp(30, "kl", func(i int) float64 { return 0.001 * float64(i) })
	if err := Plot(path, recs, PlotSpec{Title: "kl", Series: []string{"kl"}}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 500 {
		t.Errorf("size %v, want 800x500", b.Size())
	}
	if c := color.RGBAModel.Convert(img.At(2, 2)).(color.RGBA); c != colWhite {
		t.Errorf("corner colour %v, want white", c)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("%d files in the plot directory, want only kl.png", len(entries))
	}
}

func TestPlotErrors(t *testing.T) {
	recs := ramp(5, "kl", func(i int) float64 { return float64(i) })
	recs = append(recs, Record{Step: 9, Values: map[string]float64{"bad": math.NaN()}})
	tests := []struct {
		name   string
		spec   PlotSpec
		noData bool
	}{
		{"empty spec", PlotSpec{}, false},
		{"bad pattern", PlotSpec{Series: []string{"reward/[/mean"}}, false},
		{"absent series", PlotSpec{Series: []string{"loss", "reward/*/mean"}}, true},
		{"only NaN", PlotSpec{Series: []string{"bad"}}, true},
		{"other phase", PlotSpec{Series: []string{"kl"}, Phase: "eval"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.png")
			err := Plot(path, recs, tc.spec)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrNoData) != tc.noData {
				t.Errorf("error %v: ErrNoData %v, want %v", err, !tc.noData, tc.noData)
			}
			if _, statErr := os.Stat(path); statErr == nil {
				t.Error("a failed plot wrote a file")
			}
		})
	}
	if err := Plot(filepath.Join(t.TempDir(), "p.png"), nil, PlotSpec{Series: []string{"kl"}}); !errors.Is(err, ErrNoData) {
		t.Errorf("no records: %v", err)
	}
}

func TestPlotLineDirection(t *testing.T) {
	tests := []struct {
		name   string
		f      func(int) float64
		rising bool
	}{
		{"rising", func(i int) float64 { return 0.1 + 0.02*float64(i) }, true},
		{"falling", func(i int) float64 { return 0.9 - 0.02*float64(i) }, false},
		{"rising noisy", func(i int) float64 { return float64(i) + 3*math.Sin(float64(i)) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, l, err := render(ramp(40, "reward/x/mean", tc.f), PlotSpec{Series: []string{"reward/*/mean"}})
			if err != nil {
				t.Fatal(err)
			}
			pts := colourPixels(img, l.plot, seriesColor(0))
			if len(pts) < 100 {
				t.Fatalf("only %d line pixels", len(pts))
			}
			third := l.plot.Dx() / 3
			var ly, ry, ln, rn float64
			for _, p := range pts {
				switch {
				case p.X < l.plot.Min.X+third:
					ly, ln = ly+float64(p.Y), ln+1
				case p.X >= l.plot.Max.X-third:
					ry, rn = ry+float64(p.Y), rn+1
				}
			}
			if ln == 0 || rn == 0 {
				t.Fatalf("line does not span the plot (%v left, %v right pixels)", ln, rn)
			}
			up := ry/rn < ly/ln // image rows grow downwards
			if up != tc.rising {
				t.Errorf("left mean row %.1f, right mean row %.1f: rising=%v, want %v", ly/ln, ry/rn, up, tc.rising)
			}
		})
	}
}

func TestPlotLineEndpoints(t *testing.T) {
	recs := ramp(11, "v", func(i int) float64 { return float64(i) / 10 })
	img, l, err := render(recs, PlotSpec{Series: []string{"v"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []point{{0, 0}, {5, 0.5}, {10, 1}} {
		x, y := int(math.Round(l.px(p.x))), int(math.Round(l.py(p.y)))
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2; dx++ {
				if img.RGBAAt(x+dx, y+dy) == seriesColor(0) {
					found = true
					break
				}
			}
		}
		if !found {
			t.Errorf("no line pixel near data point %v (pixel %d,%d)", p, x, y)
		}
	}
}

func TestPlotLegendColours(t *testing.T) {
	var recs []Record
	names := []string{"reward/a/mean", "reward/b/mean", "reward/c/mean", "reward/c/std"}
	for i := range 20 {
		v := map[string]float64{}
		for j, n := range names {
			v[n] = float64(i*(j+1)) / 10
		}
		recs = append(recs, Record{Step: i, Values: v})
	}
	img, l, err := render(recs, PlotSpec{Series: []string{"reward/*/mean"}})
	if err != nil {
		t.Fatal(err)
	}
	legend := image.Rect(0, l.plot.Max.Y+1, img.Rect.Dx(), img.Rect.Dy())
	for i := range 3 {
		if n := len(colourPixels(img, legend, seriesColor(i))); n < 40 {
			t.Errorf("series %d colour has %d legend pixels, want a swatch", i, n)
		}
		if n := len(colourPixels(img, l.plot, seriesColor(i))); n < 100 {
			t.Errorf("series %d colour has %d line pixels", i, n)
		}
	}
	if n := len(colourPixels(img, img.Rect, seriesColor(3))); n != 0 {
		t.Errorf("the unmatched std series left %d pixels", n)
	}
}

func TestPlotNaNGap(t *testing.T) {
	recs := ramp(11, "kl", func(i int) float64 { return float64(i) })
	recs[5].Values["kl"] = math.NaN()
	recs[8].Values["kl"] = math.Inf(1)
	delete(recs[2].Values, "kl") // missing: the line joins steps 1 and 3
	img, l, err := render(recs, PlotSpec{Series: []string{"kl"}})
	if err != nil {
		t.Fatal(err)
	}
	col := seriesColor(0)
	colHas := func(x int) bool {
		return len(colourPixels(img, image.Rect(x, l.plot.Min.Y, x+1, l.plot.Max.Y), col)) > 0
	}
	for _, gap := range [][2]float64{{4, 6}, {7, 9}} {
		for x := int(l.px(gap[0])) + 3; x < int(l.px(gap[1]))-2; x++ {
			if colHas(x) {
				t.Errorf("line pixels in column %d, inside the gap between steps %v", x, gap)
				break
			}
		}
	}
	for x := int(l.px(1)) + 1; x < int(l.px(3)); x++ {
		if !colHas(x) {
			t.Errorf("column %d is empty: a missing value should not break the line", x)
			break
		}
	}
}

func TestPlotSinglePoint(t *testing.T) {
	recs := []Record{{Step: 4, Values: map[string]float64{"kl": 0.5}}}
	img, l, err := render(recs, PlotSpec{Series: []string{"kl"}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(colourPixels(img, l.plot, seriesColor(0))); n < 9 {
		t.Errorf("single point drawn with %d pixels, want a dot", n)
	}
}

func TestCollectSeries(t *testing.T) {
	recs := []Record{
		{Step: 0, Phase: "warmup", Values: map[string]float64{"loss": 3}},
		{Step: 1, Phase: "warmup", Values: map[string]float64{"loss": 2}},
		{Step: 1, Phase: "grpo", Values: map[string]float64{"loss": 1, "reward/b/mean": 0.1, "reward/a/mean": 0.2, "reward/a/x/mean": 9}},
		{Step: 2, Phase: "grpo", Values: map[string]float64{"loss": 0.5, "reward/b/mean": 0.3}},
	}
	tests := []struct {
		name string
		spec PlotSpec
		want []string
	}{
		{"glob sorted", PlotSpec{Series: []string{"reward/*/mean"}}, []string{"reward/a/mean", "reward/b/mean"}},
		{"dedupe keeps first order", PlotSpec{Series: []string{"reward/b/mean", "reward/*/mean"}}, []string{"reward/b/mean", "reward/a/mean"}},
		{"phases split", PlotSpec{Series: []string{"loss"}}, []string{"loss (warmup)", "loss (grpo)"}},
		{"phase filter", PlotSpec{Series: []string{"loss"}, Phase: "grpo"}, []string{"loss"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss, err := collectSeries(recs, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range ss {
				got = append(got, s.label)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("series %q, want %q", got, tc.want)
			}
		})
	}
	ss, _ := collectSeries(recs, PlotSpec{Series: []string{"loss"}, Phase: "grpo"})
	if len(ss[0].pts) != 2 || ss[0].pts[0] != (point{1, 1}) {
		t.Errorf("grpo loss points %v", ss[0].pts)
	}
}

func TestPlotDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []Record
	for i := range 200 {
		recs = append(recs, Record{Step: i, Values: map[string]float64{
			"reward/a/mean": rng.Float64(), "reward/b/mean": rng.NormFloat64(),
		}})
	}
	shuffled := append([]Record(nil), recs...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	dir := t.TempDir()
	spec := PlotSpec{Title: "t", YLabel: "reward", Series: []string{"reward/*/mean"}}
	var files [][]byte
	for i, rs := range [][]Record{recs, recs, shuffled} {
		p := filepath.Join(dir, fmt.Sprintf("%d.png", i))
		if err := Plot(p, rs, spec); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) || !bytes.Equal(files[0], files[2]) {
		t.Error("same records gave different PNG bytes")
	}
}

func TestPlotAll(t *testing.T) {
	var recs []Record
	for i := range 10 {
		recs = append(recs, Record{Step: i, Phase: "grpo", Values: map[string]float64{
			"reward/grounding/mean": 0.1 * float64(i), "reward/counting/mean": 0.05 * float64(i),
			"zero_var_frac": 0.5, "kl": 0.001 * float64(i),
		}})
	}
	dir := filepath.Join(t.TempDir(), "plots")
	if err := PlotAll(dir, recs); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]bool{"reward.png": true, "zero_var.png": true, "kl.png": true, "loss.png": false, "eval.png": false} {
		_, err := os.Stat(filepath.Join(dir, file))
		if (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", file, err == nil, want)
		}
	}
	if err := PlotAll(filepath.Join(t.TempDir(), "empty"), nil); err != nil {
		t.Errorf("PlotAll with no records: %v", err)
	}
}

func TestPlotManySeries(t *testing.T) {
	v := map[string]float64{}
	for i := range 40 {
		v[fmt.Sprintf("reward/data_source_number_%02d/mean", i)] = float64(i)
	}
	recs := []Record{{Step: 0, Values: v}, {Step: 1, Values: v}}
	img, l, err := render(recs, PlotSpec{YLabel: "reward", Series: []string{"reward/*/mean"}})
	if err != nil {
		t.Fatal(err)
	}
	if l.plot.Dy() < 250 {
		t.Errorf("data area only %d pixels high with a large legend", l.plot.Dy())
	}
	if img.Rect.Dx() != 800 || img.Rect.Dy() != 500 {
		t.Errorf("size %v", img.Rect.Size())
	}
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi           float64
		n                int
		start, end, step float64
	}{
		{0, 1, 6, 0, 1, 0.2},
		{0.13, 0.87, 6, 0.1, 0.9, 0.1},
		{0.13, 0.87, 4, 0, 1, 0.2},
		{0, 37, 8, 0, 40, 5},
		{1, 1000, 8, 0, 1000, 100},
		{-0.3, 0.25, 6, -0.3, 0.3, 0.1},
		{0.0001, 0.0037, 6, 0, 0.004, 0.001},
		{5, 5, 6, 4.4, 5.6, 0.2},
		{0, 0, 6, -1, 1, 0.5},
		{3, 2, 6, 2, 3, 0.2},
	}
	for _, tc := range tests {
		start, end, step := niceTicks(tc.lo, tc.hi, tc.n)
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
		if !near(start, tc.start) || !near(end, tc.end) || !near(step, tc.step) {
			t.Errorf("niceTicks(%v, %v, %d) = %v, %v, %v; want %v, %v, %v",
				tc.lo, tc.hi, tc.n, start, end, step, tc.start, tc.end, tc.step)
		}
		if start > math.Min(tc.lo, tc.hi) || end < math.Max(tc.lo, tc.hi) {
			t.Errorf("niceTicks(%v, %v) range [%v, %v] does not cover the data", tc.lo, tc.hi, start, end)
		}
	}
	if got := len(tickValues(0, 1, 0.2)); got != 6 {
		t.Errorf("tickValues(0, 1, 0.2) has %d ticks, want 6", got)
	}
}

func TestTickLabel(t *testing.T) {
	tests := []struct {
		v, step, mag float64
		want         string
	}{
		{0.4, 0.2, 1, "0.4"},
		{0, 0.001, 0.004, "0.000"},
		{1e-17, 0.1, 1, "0.0"},
		{-0.3, 0.1, 0.3, "-0.3"},
		{40, 5, 40, "40"},
		{1000, 200, 1000, "1000"},
		{2e-8, 1e-8, 1e-7, "2e-08"},
		{3e9, 1e9, 5e9, "3e+09"},
	}
	for _, tc := range tests {
		if got := tickLabel(tc.v, tc.step, tc.mag); got != tc.want {
			t.Errorf("tickLabel(%v, %v, %v) = %q, want %q", tc.v, tc.step, tc.mag, got, tc.want)
		}
	}
}

func benchRecords(n int) []Record {
	rng := rand.New(rand.NewPCG(3, 4))
	recs := make([]Record, n)
	for i := range recs {
		v := map[string]float64{}
		for _, src := range []string{"grounding", "counting", "ordering", "rotation", "jigsaw"} {
			v["reward/"+src+"/mean"] = rng.Float64()
		}
		recs[i] = Record{Step: i, Phase: "grpo", Values: v}
	}
	return recs
}

func BenchmarkPlot(b *testing.B) {
	recs := benchRecords(500)
	path := filepath.Join(b.TempDir(), "reward.png")
	spec := PlotSpec{Title: "reward", YLabel: "reward", Series: []string{"reward/*/mean"}}
	for b.Loop() {
		if err := Plot(path, recs, spec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRenderEncode(b *testing.B) {
	recs := benchRecords(500)
	spec := PlotSpec{Title: "reward", YLabel: "reward", Series: []string{"reward/*/mean"}}
	for b.Loop() {
		img, _, err := render(recs, spec)
		if err != nil {
			b.Fatal(err)
		}
		if err := encodePNG(io.Discard, img); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMovingAverage(t *testing.T) {
	nan := math.NaN()
	pts := []point{{0, 1}, {1, 2}, {2, 3}, {3, nan}, {4, 5}, {5, nan}, {6, nan}, {7, nan}}
	tests := []struct {
		w    int
		want []float64
	}{
		{1, []float64{1, 2, 3, nan, 5, nan, nan, nan}},
		// Window 3: the mean of the finite values among i-1..i+1.
		{3, []float64{1.5, 2, 2.5, 4, 5, 5, nan, nan}},
		// An even window is widened to the next odd one (4 -> 5).
		{4, []float64{2, 2, 2.75, 10.0 / 3, 4, 5, 5, nan}},
		{5, []float64{2, 2, 2.75, 10.0 / 3, 4, 5, 5, nan}},
	}
	for _, tc := range tests {
		got := movingAverage(pts, tc.w)
		for i, p := range got {
			w := tc.want[i]
			if p.x != pts[i].x || (math.IsNaN(w) != math.IsNaN(p.y)) || (!math.IsNaN(w) && math.Abs(p.y-w) > 1e-12) {
				t.Errorf("window %d point %d = %v, want (%v, %v)", tc.w, i, p, pts[i].x, w)
			}
		}
	}
	for n, want := range map[int]int{0: 1, 5: 1, 6: 3, 29: 3, 40: 5, 60: 7, 469: 47, 10000: 51} {
		if got := SmoothWindow(n); got != want {
			t.Errorf("SmoothWindow(%d) = %d, want %d", n, got, want)
		}
	}
}

// rewardRecords are a GRPO run's records: the overall reward zigzags
// between 0.2 and 0.6 (mean 0.4), two constant sources, and held-out
// evaluations every 10 steps.
func rewardRecords() []Record {
	var recs []Record
	for i := range 40 {
		y := 0.2
		if i%2 == 1 {
			y = 0.6
		}
		recs = append(recs, Record{Step: i, Phase: "grpo", Values: map[string]float64{
			"reward/mean": y, "reward/a/mean": 0.15, "reward/b/mean": 0.65,
		}})
		if i%10 == 9 {
			recs = append(recs, Record{Step: i, Phase: "eval", Values: map[string]float64{HeldoutMetric: 0.3}})
		}
	}
	return recs
}

// TestRewardPlot: the overall mean is drawn smoothed in its colour over
// its raw values in a faint tint, each source has its own line, and each
// held-out evaluation is a marker at its step and score.
func TestRewardPlot(t *testing.T) {
	recs := rewardRecords()
	spec := standardPlots[0].spec
	if standardPlots[0].file != "reward.png" {
		t.Fatal("reward.png is not the first standard plot")
	}
	img, l, err := render(recs, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Smoothed over 5 steps the zigzag is 0.36 or 0.44 inside; every
	// pixel of the overall colour in the middle columns lies near there,
	// none near the raw extremes 0.2 and 0.6.
	mid := image.Rect(int(l.px(10)), l.plot.Min.Y, int(l.px(30)), l.plot.Max.Y)
	dark := colourPixels(img, mid, colOverall)
	if len(dark) < 50 {
		t.Fatalf("only %d pixels of the smoothed overall line", len(dark))
	}
	for _, p := range dark {
		if p.Y < int(l.py(0.48))-2 || p.Y > int(l.py(0.32))+2 {
			t.Fatalf("smoothed line pixel at row %d, outside rows %d..%d (0.32..0.48)", p.Y, int(l.py(0.48)), int(l.py(0.32)))
		}
	}
	faint := colourPixels(img, mid, tint(colOverall, 0.3))
	top, bottom := l.plot.Max.Y, l.plot.Min.Y
	for _, p := range faint {
		top, bottom = min(top, p.Y), max(bottom, p.Y)
	}
	if len(faint) < 50 || top > int(l.py(0.6))+2 || bottom < int(l.py(0.2))-2 {
		t.Errorf("faint raw line: %d pixels over rows %d..%d, want it to reach 0.6 (row %d) and 0.2 (row %d)", len(faint), top, bottom, int(l.py(0.6)), int(l.py(0.2)))
	}
	for i := range 2 {
		if n := len(colourPixels(img, l.plot, seriesColor(i))); n < 100 {
			t.Errorf("source %d: %d line pixels", i, n)
		}
	}
	for _, step := range []float64{9, 19, 29} {
		x, y := int(math.Round(l.px(step))), int(math.Round(l.py(0.3)))
		if n := len(colourPixels(img, image.Rect(x-3, y-3, x+4, y+4), colHeldout)); n < 40 {
			t.Errorf("evaluation at step %v: %d marker pixels around (%d,%d), want a 7x7 square", step, n, x, y)
		}
	}
	// The legend lists the smoothed mean, the sources and the
	// evaluations, not the faint raw line.
	legend := image.Rect(0, l.plot.Max.Y+20, img.Rect.Dx(), img.Rect.Dy())
	if n := len(colourPixels(img, legend, tint(colOverall, 0.3))); n != 0 {
		t.Errorf("the faint line has %d legend pixels", n)
	}
	if n := len(colourPixels(img, legend, colHeldout)); n < 49 {
		t.Errorf("the evaluations have %d legend pixels", n)
	}
	ss, err := collectSeries(recs, spec)
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, s := range ss {
		if !s.faint {
			labels = append(labels, s.label)
		}
	}
	want := []string{"reward/mean, all sources (lines: mean of 5 steps; faint: raw values)", "reward/a/mean", "reward/b/mean", "held-out VIUBench overall (eval)"}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Errorf("legend %q, want %q", labels, want)
	}
}

// TestPlotSummary: summary.png has six panels; one without data says so;
// no data at all writes nothing.
func TestPlotSummary(t *testing.T) {
	recs := rewardRecords()
	for i := range recs {
		if recs[i].Phase == "grpo" {
			recs[i].Values["kl"] = 0.01 * float64(i)
			recs[i].Values["entropy"] = 0.8
		}
	}
	dir := t.TempDir()
	if err := PlotAll(dir, recs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "summary.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 2*summaryPanelW || b.Dy() != 3*summaryPanelH {
		t.Fatalf("size %v", b.Size())
	}
	rgba := image.NewRGBA(img.Bounds())
	for y := range img.Bounds().Dy() {
		for x := range img.Bounds().Dx() {
			rgba.Set(x, y, img.At(x, y))
		}
	}
	panel := func(i int) image.Rectangle {
		x, y := (i%summaryCols)*summaryPanelW, (i/summaryCols)*summaryPanelH
		return image.Rect(x, y, x+summaryPanelW, y+summaryPanelH)
	}
	// Reward, KL, entropy and held-out panels have their lines; the
	// zero-variance and response-length panels have no data and no line.
	for i, col := range map[int]color.RGBA{0: colOverall, 2: seriesColor(0), 3: seriesColor(0), 4: colHeldout} {
		if n := len(colourPixels(rgba, panel(i), col)); n < 40 {
			t.Errorf("panel %d: %d pixels of its line colour", i, n)
		}
	}
	for _, i := range []int{1, 5} {
		if n := len(colourPixels(rgba, panel(i), seriesColor(0))); n != 0 {
			t.Errorf("empty panel %d has %d line pixels", i, n)
		}
		if n := len(colourPixels(rgba, panel(i), colFrame)); n < 500 {
			t.Errorf("empty panel %d: no frame and note (%d pixels)", i, n)
		}
	}
	empty := filepath.Join(dir, "none.png")
	if err := PlotSummary(empty, []Record{{Step: 1, Phase: "sft", Values: map[string]float64{"loss": 1}}}); !errors.Is(err, ErrNoData) {
		t.Errorf("summary of a warm-up only: %v", err)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Error("a summary without data was written")
	}
}

// TestEvalPlot: eval.png and the summary's evaluation panel draw every
// evaluation as points: the held-out VIUBench, the data.val_files reward
// and one series per eval.files file (its score), not the files' other
// metrics.
func TestEvalPlot(t *testing.T) {
	var recs []Record
	for i, step := range []int{10, 20, 30} {
		v := float64(i) / 10
		recs = append(recs, Record{Step: step, Phase: "grpo", Values: map[string]float64{RewardMean: v}})
		recs = append(recs, Record{Step: step, Phase: "eval", Values: map[string]float64{
			HeldoutMetric: v, ValRewardMean: v + 0.1, EvalFileMetric("mvbench", EvalScore): v + 0.2,
			EvalFileMetric("charades", EvalScore): v + 0.3, EvalFileMetric("charades", EvalTGMIoU): v,
		}})
	}
	ss, err := collectSeries(recs, PlotSpec{Layers: evalLayers})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range ss {
		got = append(got, s.label)
		if !s.points || len(s.pts) != 3 {
			t.Errorf("%s: points %v (%d)", s.label, s.points, len(s.pts))
		}
	}
	want := []string{"held-out VIUBench overall", "val/reward/mean (data.val_files)", "eval/charades/score", "eval/mvbench/score"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("series %q, want %q", got, want)
	}
	dir := t.TempDir()
	if err := PlotAll(dir, recs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"eval.png", "summary.png", "reward.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
}
