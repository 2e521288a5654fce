package metrics

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart size in pixels.
const (
	chartWidth  = 800
	chartHeight = 500
)

// ErrNoData is returned (wrapped) by [Plot] when none of the requested
// series has a finite value in the records.
var ErrNoData = errors.New("no data for any series")

// PlotSpec says what one chart shows.
type PlotSpec struct {
	// Title is drawn above the chart; when empty the series patterns are
	// used.
	Title string
	// YLabel is drawn rotated beside the y axis; it may be empty.
	YLabel string
	// Series lists metric names to draw, one line each. A name may be a
	// glob in path.Match syntax ("reward/*/mean"; '*' does not cross '/'),
	// which stands for every matching metric, in sorted order.
	Series []string
	// Phase, when not empty, keeps only records of that phase. When empty
	// and a metric occurs in several phases, each phase gets its own line,
	// labelled "name (phase)".
	Phase string
	// Layers, when set, are drawn instead of Series and Phase: groups of
	// lines with their own style, in order (later layers on top). A metric
	// keeps one colour across layers, so a smoothed line and the faint raw
	// values behind it match.
	Layers []Layer
}

// AutoSmooth as a Layer's Smooth picks the moving-average window from the
// number of points: see [SmoothWindow].
const AutoSmooth = -1

// Layer is one group of lines of a chart.
type Layer struct {
	// Series lists metric names or globs, as PlotSpec.Series.
	Series []string
	// Phase keeps only records of that phase, as PlotSpec.Phase.
	Phase string
	// Smooth draws the centred moving average over this many points
	// instead of the values: each point becomes the mean of the finite
	// values within Smooth/2 points either side (the window shrinks at
	// the ends). 0 or 1 = the raw values; AutoSmooth = [SmoothWindow] of
	// the point count. The legend says the window.
	Smooth int
	// Faint draws thin lines in a light tint of the colour, with no legend
	// entry: the raw values behind a smoothed line.
	Faint bool
	// Points marks each value with a square and joins the marks with a
	// thin line (sparse values such as held-out evaluations).
	Points bool
	// Thin draws 1-pixel lines instead of 2.
	Thin bool
	// Color, when not zero, is the colour of every line of the layer;
	// otherwise each metric gets the next palette colour.
	Color color.RGBA
	// Label replaces the legend label of the layer's lines: "{metric}"
	// in it stands for the metric name (with " (phase)" when split by
	// phase) and "{window}" for the moving-average window. "" = the metric
	// name, followed by ", mean of N steps" when smoothed.
	Label string
}

// series is one line of a chart. A NaN y value breaks the line.
type series struct {
	label string
	name  string // the metric, for colours shared across layers
	color color.RGBA
	pts   []point
	// Style, from the series' layer.
	faint, points, thin, fixed bool
}

// point is one (step, value) pair.
type point struct{ x, y float64 }

// layout maps data coordinates to pixels.
type layout struct {
	plot                   image.Rectangle // the data area, axes on its left and bottom edges
	xmin, xmax, ymin, ymax float64
	xstep, ystep           float64
}

// px returns the pixel column of step x.
func (l *layout) px(x float64) float64 {
	return float64(l.plot.Min.X) + (x-l.xmin)/(l.xmax-l.xmin)*float64(l.plot.Dx()-1)
}

// py returns the pixel row of value y.
func (l *layout) py(y float64) float64 {
	return float64(l.plot.Max.Y-1) - (y-l.ymin)/(l.ymax-l.ymin)*float64(l.plot.Dy()-1)
}

// Colours of the chart.
var (
	colWhite  = color.RGBA{255, 255, 255, 255}
	colBlack  = color.RGBA{0, 0, 0, 255}
	colGrid   = color.RGBA{230, 230, 230, 255}
	colFrame  = color.RGBA{160, 160, 160, 255}
	colorList = [...]color.RGBA{
		{31, 119, 180, 255},  // blue
		{255, 127, 14, 255},  // orange
		{44, 160, 44, 255},   // green
		{214, 39, 40, 255},   // red
		{148, 103, 189, 255}, // purple
		{140, 86, 75, 255},   // brown
		{227, 119, 194, 255}, // pink
		{188, 189, 34, 255},  // olive
		{23, 190, 207, 255},  // cyan
		{0, 0, 128, 255},     // navy
	}
)

// seriesColor returns the colour of the i-th series; colours repeat after
// ten series.
func seriesColor(i int) color.RGBA { return colorList[i%len(colorList)] }

// Plot draws the series of spec from recs as a PNG line chart (800x500,
// white background, axes with round tick values, title, legend, one colour
// per series, raw values with no smoothing) and writes it to path
// atomically (temporary file and rename), creating its directory when
// missing. The x axis is the step. A record that lacks a metric is skipped
// for that line; a NaN or infinite value breaks the line. An empty spec is
// an error; a spec none of whose series has data returns an error wrapping
// [ErrNoData]. The same records always give the same bytes.
func Plot(path string, recs []Record, spec PlotSpec) error {
	img, _, err := render(recs, spec)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("metrics: create plot directory: %w", err)
		}
	}
	return writeAtomic(path, func(w io.Writer) error { return encodePNG(w, img) })
}

// encodePNG writes img as PNG.
func encodePNG(w io.Writer, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, img)
}

// Colours of the reward chart's fixed lines.
var (
	colOverall = color.RGBA{40, 40, 40, 255}  // the mean over every source
	colHeldout = color.RGBA{214, 39, 40, 255} // held-out evaluations
)

// rewardLayers draw the training reward: the mean over every source as a
// moving average with its raw values faint behind, one smoothed thin line
// per data source, and the held-out evaluations (phase "eval",
// "viubench/overall") as points.
var rewardLayers = []Layer{
	{Series: []string{RewardMean}, Phase: "grpo", Faint: true, Color: colOverall},
	{Series: []string{RewardMean}, Phase: "grpo", Smooth: AutoSmooth, Color: colOverall, Label: "{metric}, all sources (lines: mean of {window} steps; faint: raw values)"},
	{Series: []string{SourceRewardMeans}, Phase: "grpo", Smooth: AutoSmooth, Thin: true, Label: "{metric}"},
	{Series: []string{HeldoutMetric}, Phase: "eval", Points: true, Color: colHeldout, Label: "held-out VIUBench overall (eval)"},
	{Series: []string{ValRewardMean}, Phase: "eval", Points: true, Label: "{metric}: data.val_files (eval)"},
}

// evalLayers draw every evaluation as points: the held-out VIUBench, the
// mean reward on data.val_files and the score of each file of eval.files.
var evalLayers = []Layer{
	{Series: []string{HeldoutMetric}, Phase: "eval", Points: true, Color: colHeldout, Label: "held-out VIUBench overall"},
	{Series: []string{ValRewardMean}, Phase: "eval", Points: true, Label: "{metric} (data.val_files)"},
	{Series: []string{EvalFileScores}, Phase: "eval", Points: true, Label: "{metric}"},
}

// smoothed returns the layers of a noisy per-step metric: its moving
// average over its raw values drawn faint.
func smoothed(name, phase string) []Layer {
	return []Layer{
		{Series: []string{name}, Phase: phase, Faint: true},
		{Series: []string{name}, Phase: phase, Smooth: AutoSmooth},
	}
}

// standardPlots are the charts PlotAll writes.
var standardPlots = []struct {
	file string
	spec PlotSpec
}{
	{"reward.png", PlotSpec{Title: "training reward (held-out evaluations as points)", YLabel: "reward", Layers: rewardLayers}},
	{"zero_var.png", PlotSpec{Title: "fraction of zero-variance groups", YLabel: "fraction", Series: []string{ZeroVarFrac}}},
	{"kl.png", PlotSpec{Title: "KL to the reference policy", YLabel: "kl", Series: []string{KL}}},
	{"loss.png", PlotSpec{Title: "loss", YLabel: "loss", Series: []string{Loss, PGLoss}}},
	{"eval.png", PlotSpec{Title: "evaluations: held-out VIUBench, data.val_files, eval.files", YLabel: "score", Layers: evalLayers}},
}

// summaryPanels are the panels of summary.png, left to right, top to
// bottom, with what a panel without data says.
var summaryPanels = []struct {
	spec  PlotSpec
	empty string
}{
	{PlotSpec{Title: "training reward", YLabel: "reward", Layers: rewardLayers}, "no GRPO step yet"},
	{PlotSpec{Title: "zero-variance groups", YLabel: "fraction", Layers: smoothed(ZeroVarFrac, "grpo")}, "no GRPO step yet"},
	{PlotSpec{Title: "KL to the reference", YLabel: "kl", Layers: smoothed(KL, "grpo")}, "no GRPO step yet"},
	{PlotSpec{Title: "entropy of the sampled responses", YLabel: "entropy", Layers: smoothed(Entropy, "grpo")}, "no GRPO step yet"},
	{PlotSpec{Title: "held-out evaluations", YLabel: "score", Layers: evalLayers}, "no held-out evaluation (a held-out VIUBench, data.val_files or eval.files)"},
	{PlotSpec{Title: "response length", YLabel: "tokens", Layers: smoothed(ResponseLength, "grpo")}, "no GRPO step yet"},
}

// Summary size: two columns of three panels.
const (
	summaryCols   = 2
	summaryPanelW = 640
	summaryPanelH = 360
)

// PlotSummary writes one PNG with a panel per headline metric of a GRPO
// run: the training reward (overall mean smoothed over its faint raw
// values, each data source smoothed, held-out evaluations as points), the
// fraction of zero-variance groups, the KL to the reference, the entropy
// of the sampled responses, the held-out evaluations (VIUBench,
// data.val_files, eval.files) as points, and the response length. A panel without data says so; with no data for any panel it
// returns an error wrapping [ErrNoData] and writes nothing.
func PlotSummary(path string, recs []Record) error {
	rows := (len(summaryPanels) + summaryCols - 1) / summaryCols
	c := newCanvas(summaryCols*summaryPanelW, rows*summaryPanelH)
	// Every panel shares the x axis: the steps of all of them.
	panels := make([][]series, len(summaryPanels))
	xr := [2]float64{math.Inf(1), math.Inf(-1)}
	drawn := 0
	for i, p := range summaryPanels {
		ss, err := collectSeries(recs, p.spec)
		if err != nil && !errors.Is(err, ErrNoData) {
			return err
		}
		if err == nil {
			panels[i] = ss
			lo, hi := stepRange(ss)
			xr = [2]float64{math.Min(xr[0], lo), math.Max(xr[1], hi)}
			drawn++
		}
	}
	for i, p := range summaryPanels {
		x, y := (i%summaryCols)*summaryPanelW, (i/summaryCols)*summaryPanelH
		area := image.Rect(x, y, x+summaryPanelW, y+summaryPanelH)
		if panels[i] == nil {
			c.emptyPanel(area, p.spec.Title, p.empty)
			continue
		}
		c.chart(area, panels[i], p.spec.Title, p.spec.YLabel, &xr)
	}
	if drawn == 0 {
		return fmt.Errorf("metrics: summary: %w", ErrNoData)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("metrics: create plot directory: %w", err)
		}
	}
	return writeAtomic(path, func(w io.Writer) error { return encodePNG(w, c.img) })
}

// emptyPanel draws a panel's title and a note in place of its chart.
func (c *canvas) emptyPanel(area image.Rectangle, title, note string) {
	tw := c.textWidth(title)
	tx := area.Min.X + (area.Dx()-tw)/2
	c.text(title, tx, area.Min.Y+22, colBlack)
	c.text(title, tx+1, area.Min.Y+22, colBlack)
	inner := image.Rect(area.Min.X+40, area.Min.Y+36, area.Max.X-24, area.Max.Y-40)
	c.fill(image.Rect(inner.Min.X, inner.Min.Y, inner.Max.X, inner.Min.Y+1), colFrame)
	c.fill(image.Rect(inner.Min.X, inner.Max.Y-1, inner.Max.X, inner.Max.Y), colFrame)
	c.fill(image.Rect(inner.Min.X, inner.Min.Y, inner.Min.X+1, inner.Max.Y), colFrame)
	c.fill(image.Rect(inner.Max.X-1, inner.Min.Y, inner.Max.X, inner.Max.Y), colFrame)
	nw := c.textWidth(note)
	c.text(note, inner.Min.X+(inner.Dx()-nw)/2, inner.Min.Y+inner.Dy()/2, colFrame)
}

// PlotAll writes the standard charts into dir (created when missing):
// reward.png (the mean reward over every source as a moving average over
// its faint raw values, one smoothed line per data source, and the
// held-out evaluations as points), zero_var.png ("zero_var_frac"), kl.png
// ("kl"), loss.png ("loss" and "pg_loss"), eval.png (every evaluation as
// points: the held-out VIUBench, data.val_files' mean reward, each
// eval.files file's score) and summary.png ([PlotSummary]). A chart whose series are all absent is skipped (an
// older file of that name is left as it is).
func PlotAll(dir string, recs []Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("metrics: create plot directory: %w", err)
	}
	for _, p := range standardPlots {
		err := Plot(filepath.Join(dir, p.file), recs, p.spec)
		if err != nil && !errors.Is(err, ErrNoData) {
			return err
		}
	}
	if err := PlotSummary(filepath.Join(dir, "summary.png"), recs); err != nil && !errors.Is(err, ErrNoData) {
		return err
	}
	return nil
}

// collectSeries builds the lines of spec: its layers, or one layer of
// its Series and Phase. Lines with no finite value are left out; a spec
// with no line at all is an error wrapping [ErrNoData].
func collectSeries(recs []Record, spec PlotSpec) ([]series, error) {
	layers := spec.Layers
	if len(layers) == 0 {
		layers = []Layer{{Series: spec.Series, Phase: spec.Phase}}
	}
	var out []series
	var patterns []string
	for _, ly := range layers {
		if len(ly.Series) == 0 {
			return nil, errors.New("metrics: plot spec has no series")
		}
		ss, err := collectLayer(recs, ly)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
		patterns = append(patterns, ly.Series...)
	}
	// Colours: a fixed layer colour, else one palette colour per metric
	// name in order of first appearance.
	byName := map[string]color.RGBA{}
	next := 0
	for i := range out {
		if out[i].fixed {
			continue
		}
		c, ok := byName[out[i].name]
		if !ok {
			c = seriesColor(next)
			next++
			byName[out[i].name] = c
		}
		out[i].color = c
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metrics: plot %q: %w", strings.Join(patterns, ", "), ErrNoData)
	}
	return out, nil
}

// collectLayer expands one layer's patterns against recs and builds its
// lines, sorted by step, smoothed when the layer says so.
func collectLayer(recs []Record, ly Layer) ([]series, error) {
	var kept []Record
	names := map[string]bool{}
	for _, r := range recs {
		if ly.Phase != "" && r.Phase != ly.Phase {
			continue
		}
		kept = append(kept, r)
		for k := range r.Values {
			names[k] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var chosen []string
	seen := map[string]bool{}
	for _, pat := range ly.Series {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("metrics: bad series pattern %q: %w", pat, err)
		}
		for _, k := range sorted {
			if ok, _ := path.Match(pat, k); ok && !seen[k] {
				seen[k] = true
				chosen = append(chosen, k)
			}
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].Step < kept[j].Step })

	var out []series
	for _, name := range chosen {
		// Phases carrying this metric, in order of first appearance.
		var phases []string
		seenPhase := map[string]bool{}
		for _, r := range kept {
			if _, ok := r.Values[name]; ok && !seenPhase[r.Phase] {
				seenPhase[r.Phase] = true
				phases = append(phases, r.Phase)
			}
		}
		split := len(phases) > 1
		for _, ph := range phases {
			s := series{label: name, name: name, faint: ly.Faint, points: ly.Points, thin: ly.Thin}
			if split {
				s.label = name + " (" + ph + ")"
				if ph == "" {
					s.label = name + " (no phase)"
				}
			}
			finite := false
			for _, r := range kept {
				if split && r.Phase != ph {
					continue
				}
				v, ok := r.Values[name]
				if !ok {
					continue
				}
				if math.IsNaN(v) || math.IsInf(v, 0) {
					v = math.NaN()
				} else {
					finite = true
				}
				s.pts = append(s.pts, point{float64(r.Step), v})
			}
			if !finite {
				continue
			}
			// The colour key is the metric's label before the layer's
			// own label or smoothing note, so layers of one metric match.
			key := s.label
			w := ly.Smooth
			if w == AutoSmooth {
				w = SmoothWindow(len(s.pts))
			}
			if w > 1 {
				s.pts = movingAverage(s.pts, w)
				w |= 1
			}
			switch {
			case ly.Label != "":
				s.label = strings.NewReplacer("{metric}", s.label, "{window}", strconv.Itoa(w)).Replace(ly.Label)
			case w > 1:
				s.label = fmt.Sprintf("%s, mean of %d steps", s.label, w)
			}
			if ly.Color != (color.RGBA{}) {
				s.color, s.fixed = ly.Color, true
			}
			s.name = key
			out = append(out, s)
		}
	}
	return out, nil
}

// SmoothWindow is the moving-average window AutoSmooth picks for n
// points: about a tenth of them, odd, from 3 to 51; 1 (no smoothing)
// below 6 points.
func SmoothWindow(n int) int {
	if n < 6 {
		return 1
	}
	w := min(max(n/10, 3), 51)
	return w | 1
}

// movingAverage returns the centred moving average of pts over a window
// of w points (w rounded up to odd, h = w/2 on each side): point i gets
// the mean of the finite values among points i-h..i+h, the window
// shrinking at the ends, and NaN when it holds none. Steps are kept.
func movingAverage(pts []point, w int) []point {
	h := w / 2
	out := make([]point, len(pts))
	for i := range pts {
		sum, n := 0.0, 0
		for j := max(0, i-h); j <= min(len(pts)-1, i+h); j++ {
			if y := pts[j].y; !math.IsNaN(y) {
				sum += y
				n++
			}
		}
		out[i] = point{pts[i].x, math.NaN()}
		if n > 0 {
			out[i].y = sum / float64(n)
		}
	}
	return out
}

// niceNum returns the round number (1, 2, 5 or 10 times a power of ten)
// nearest to x > 0.
func niceNum(x float64) float64 {
	base := math.Pow(10, math.Floor(math.Log10(x)))
	switch f := x / base; {
	case f < 1.5:
		return base
	case f < 3:
		return 2 * base
	case f < 7:
		return 5 * base
	}
	return 10 * base
}

// niceTicks returns an axis range [start, end] covering [lo, hi] whose
// ends are multiples of the round tick spacing step, with about n ticks.
// An empty range is widened around its value.
func niceTicks(lo, hi float64, n int) (start, end, step float64) {
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		pad := math.Abs(lo) * 0.1
		if pad == 0 {
			pad = 1
		}
		lo, hi = lo-pad, hi+pad
	}
	if n < 2 {
		n = 2
	}
	span := hi - lo
	if math.IsInf(span, 0) {
		span = math.MaxFloat64
	}
	step = niceNum(span / float64(n-1))
	start = math.Floor(lo/step+1e-9) * step
	end = math.Ceil(hi/step-1e-9) * step
	return start, end, step
}

// tickValues lists the ticks from start to end by step (at most 100).
func tickValues(start, end, step float64) []float64 {
	k0 := math.Round(start / step)
	var out []float64
	for i := 0; i < 100; i++ {
		v := (k0 + float64(i)) * step
		if v > end+step*1e-6 {
			break
		}
		out = append(out, v)
	}
	return out
}

// tickLabel formats tick value v on an axis with tick spacing step and
// largest magnitude mag, with just enough decimals for the spacing.
func tickLabel(v, step, mag float64) string {
	if math.Abs(v) < step*1e-6 {
		v = 0
	}
	dec := int(math.Ceil(-math.Log10(step) - 1e-9))
	if dec < 0 {
		dec = 0
	}
	if dec > 6 || mag >= 1e7 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// canvas is an RGBA image with drawing helpers.
type canvas struct {
	img  *image.RGBA
	face font.Face
}

// set paints one pixel when it lies inside clip.
func (c *canvas) set(x, y int, col color.RGBA, clip image.Rectangle) {
	if x < clip.Min.X || y < clip.Min.Y || x >= clip.Max.X || y >= clip.Max.Y {
		return
	}
	i := c.img.PixOffset(x, y)
	p := c.img.Pix[i : i+4 : i+4]
	p[0], p[1], p[2], p[3] = col.R, col.G, col.B, col.A
}

// fill paints rectangle r.
func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	r = r.Intersect(c.img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c.set(x, y, col, r)
		}
	}
}

// textWidth returns the advance of s in pixels.
func (c *canvas) textWidth(s string) int {
	return font.MeasureString(c.face, s).Ceil()
}

// text draws s with its left end at x and its baseline at y.
func (c *canvas) text(s string, x, y int, col color.RGBA) {
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: c.face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// textUp draws s rotated a quarter turn anticlockwise (reading upwards),
// centred on (cx, cy).
func (c *canvas) textUp(s string, cx, cy int, col color.RGBA) {
	w := c.textWidth(s)
	m := c.face.Metrics()
	h := (m.Ascent + m.Descent).Ceil()
	tmp := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), face: c.face}
	tmp.text(s, 0, m.Ascent.Ceil(), col)
	x0, y0 := cx-h/2, cy+w/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := tmp.img.PixOffset(x, y)
			if tmp.img.Pix[i+3] == 0 {
				continue
			}
			c.set(x0+y, y0-x, col, c.img.Rect)
		}
	}
}

// stamp paints a size x size square with its top-left corner at (x, y).
func (c *canvas) stamp(x, y, size int, col color.RGBA, clip image.Rectangle) {
	for dy := 0; dy < size; dy++ {
		for dx := 0; dx < size; dx++ {
			c.set(x+dx, y+dy, col, clip)
		}
	}
}

// line draws a line width pixels wide from (x0, y0) to (x1, y1)
// (Bresenham).
func (c *canvas) line(x0, y0, x1, y1 int, col color.RGBA, width int, clip image.Rectangle) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		c.stamp(x0, y0, width, col, clip)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// legendItem is one placed legend entry.
type legendItem struct {
	x, row int
	s      *series
}

// Legend geometry in pixels.
const (
	swatchLen  = 20
	swatchGap  = 6
	legendGap  = 18
	legendRowH = 18
	// maxLegendRows bounds the legend so the data area keeps its height.
	maxLegendRows = 5
)

// render draws the chart for spec into an image.
func render(recs []Record, spec PlotSpec) (*image.RGBA, *layout, error) {
	ss, err := collectSeries(recs, spec)
	if err != nil {
		return nil, nil, err
	}
	c := newCanvas(chartWidth, chartHeight)
	title := spec.Title
	if title == "" {
		title = strings.Join(spec.Series, ", ")
	}
	return c.img, c.chart(c.img.Rect, ss, title, spec.YLabel, nil), nil
}

// newCanvas returns a white w x h canvas.
func newCanvas(w, h int) *canvas {
	c := &canvas{img: image.NewRGBA(image.Rect(0, 0, w, h)), face: basicfont.Face7x13}
	c.fill(c.img.Rect, colWhite)
	return c
}

// tint returns col blended towards white, keeping a fraction keep of it.
func tint(col color.RGBA, keep float64) color.RGBA {
	f := func(v uint8) uint8 { return uint8(math.Round(255 - (255-float64(v))*keep)) }
	return color.RGBA{f(col.R), f(col.G), f(col.B), 255}
}

// chart draws a chart of ss inside area (title, axes, grid, lines and
// legend) and returns its layout. The x axis covers the steps of ss, or
// xr (lowest and highest step) when given, so panels can share it.
func (c *canvas) chart(area image.Rectangle, ss []series, title, ylabel string, xr *[2]float64) *layout {
	// Data ranges.
	xlo, xhi := stepRange(ss)
	if xr != nil {
		xlo, xhi = xr[0], xr[1]
	}
	ylo, yhi := math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.pts {
			if !math.IsNaN(p.y) {
				ylo, yhi = math.Min(ylo, p.y), math.Max(yhi, p.y)
			}
		}
	}
	l := &layout{}
	l.xmin, l.xmax, l.xstep = niceTicks(xlo, xhi, max(3, area.Dx()/100))
	if l.xstep < 1 {
		l.xstep = 1
		l.xmin, l.xmax = math.Floor(xlo), math.Ceil(xhi)
		if l.xmin == l.xmax {
			l.xmin, l.xmax = l.xmin-1, l.xmax+1
		}
	}
	l.ymin, l.ymax, l.ystep = niceTicks(ylo, yhi, max(3, area.Dy()/80))
	xticks := tickValues(l.xmin, l.xmax, l.xstep)
	yticks := tickValues(l.ymin, l.ymax, l.ystep)
	xmag := math.Max(math.Abs(l.xmin), math.Abs(l.xmax))
	ymag := math.Max(math.Abs(l.ymin), math.Abs(l.ymax))
	ylabels := make([]string, len(yticks))
	labelW := 0
	for i, v := range yticks {
		ylabels[i] = tickLabel(v, l.ystep, ymag)
		labelW = max(labelW, c.textWidth(ylabels[i]))
	}

	// Margins.
	const (
		top      = 36
		right    = 24
		fontH    = 13
		tickLen  = 5
		tickPad  = 3
		axisSpan = 6
	)
	left := area.Min.X + 10 + labelW + tickLen + tickPad
	if ylabel != "" {
		left += fontH + 8
	}
	// Legend placement, flowing left to right under the axis label.
	// At most maxLegendRows rows; the rest is summarised as "+N more" at
	// the end of the last row. Faint lines have no entry.
	var items []legendItem
	var listed []*series
	for i := range ss {
		if !ss[i].faint {
			listed = append(listed, &ss[i])
		}
	}
	x, row, more := left, 0, 0
	for i, s := range listed {
		w := swatchLen + swatchGap + c.textWidth(s.label)
		if x > left && x+w > area.Max.X-right {
			x, row = left, row+1
		}
		if row >= maxLegendRows {
			more = len(listed) - i
			row = maxLegendRows - 1
			break
		}
		items = append(items, legendItem{x: x, row: row, s: s})
		x += w + legendGap
	}
	moreX := 0
	for more > 0 {
		last := items[len(items)-1]
		moreX = last.x + swatchLen + swatchGap + c.textWidth(last.s.label) + legendGap
		if moreX+c.textWidth(fmt.Sprintf("+%d more", more)) <= area.Max.X-right || last.x == left {
			break
		}
		items = items[:len(items)-1]
		more++
	}
	rows := row + 1
	bottom := tickLen + tickPad + fontH + axisSpan + fontH + 10 + rows*legendRowH
	l.plot = image.Rect(left, area.Min.Y+top, area.Max.X-right, area.Max.Y-bottom)

	// Title.
	tw := c.textWidth(title)
	tx := area.Min.X + (area.Dx()-tw)/2
	c.text(title, tx, area.Min.Y+22, colBlack)
	c.text(title, tx+1, area.Min.Y+22, colBlack) // bold by overdraw

	// Grid, frame, axes, ticks and labels.
	pr := l.plot
	for _, v := range yticks {
		y := int(math.Round(l.py(v)))
		c.fill(image.Rect(pr.Min.X, y, pr.Max.X, y+1), colGrid)
	}
	for _, v := range xticks {
		x := int(math.Round(l.px(v)))
		c.fill(image.Rect(x, pr.Min.Y, x+1, pr.Max.Y), colGrid)
	}
	c.fill(image.Rect(pr.Min.X, pr.Min.Y, pr.Max.X, pr.Min.Y+1), colFrame)
	c.fill(image.Rect(pr.Max.X-1, pr.Min.Y, pr.Max.X, pr.Max.Y), colFrame)
	c.fill(image.Rect(pr.Min.X, pr.Max.Y-1, pr.Max.X, pr.Max.Y), colBlack)
	c.fill(image.Rect(pr.Min.X, pr.Min.Y, pr.Min.X+1, pr.Max.Y), colBlack)
	ascent := c.face.Metrics().Ascent.Ceil()
	for i, v := range yticks {
		y := int(math.Round(l.py(v)))
		c.fill(image.Rect(pr.Min.X-tickLen, y, pr.Min.X, y+1), colBlack)
		w := c.textWidth(ylabels[i])
		c.text(ylabels[i], pr.Min.X-tickLen-tickPad-w, y+ascent/2, colBlack)
	}
	for _, v := range xticks {
		x := int(math.Round(l.px(v)))
		c.fill(image.Rect(x, pr.Max.Y, x+1, pr.Max.Y+tickLen), colBlack)
		s := tickLabel(v, l.xstep, xmag)
		c.text(s, x-c.textWidth(s)/2, pr.Max.Y+tickLen+tickPad+ascent, colBlack)
	}
	xl := "step"
	xlBase := pr.Max.Y + tickLen + tickPad + fontH + axisSpan + ascent
	c.text(xl, pr.Min.X+(pr.Dx()-c.textWidth(xl))/2, xlBase, colBlack)
	if ylabel != "" {
		c.textUp(ylabel, area.Min.X+10+fontH/2, pr.Min.Y+pr.Dy()/2, colBlack)
	}

	// Lines, faint ones first; a point with no neighbour in its run is
	// drawn as a dot, and a Points series marks every value.
	clip := image.Rect(pr.Min.X+1, pr.Min.Y, pr.Max.X, pr.Max.Y-1)
	for _, faint := range []bool{true, false} {
		for _, s := range ss {
			if s.faint != faint {
				continue
			}
			c.series(l, s, clip)
		}
	}

	// Legend.
	legendTop := xlBase + 10
	for _, it := range items {
		cy := legendTop + it.row*legendRowH + legendRowH/2
		if it.s.points {
			c.fill(image.Rect(it.x, cy, it.x+swatchLen, cy+1), it.s.color)
			c.stamp(it.x+swatchLen/2-3, cy-3, 7, it.s.color, c.img.Rect)
		} else {
			h := 3
			if it.s.thin {
				h = 1
			}
			c.fill(image.Rect(it.x, cy-h/2, it.x+swatchLen, cy-h/2+h), it.s.color)
		}
		c.text(it.s.label, it.x+swatchLen+swatchGap, cy+ascent/2, colBlack)
	}
	if more > 0 {
		cy := legendTop + (rows-1)*legendRowH + legendRowH/2
		c.text(fmt.Sprintf("+%d more", more), moreX, cy+ascent/2, colBlack)
	}
	return l
}

// stepRange returns the lowest and highest step of ss.
func stepRange(ss []series) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range ss {
		for _, p := range s.pts {
			lo, hi = math.Min(lo, p.x), math.Max(hi, p.x)
		}
	}
	return lo, hi
}

// series draws one line of a chart.
func (c *canvas) series(l *layout, s series, clip image.Rectangle) {
	col, width := s.color, 2
	if s.faint {
		col = tint(col, 0.3)
	}
	if s.faint || s.thin || s.points {
		width = 1
	}
	for i, p := range s.pts {
		if math.IsNaN(p.y) {
			continue
		}
		x0, y0 := int(math.Round(l.px(p.x))), int(math.Round(l.py(p.y)))
		prevOK := i > 0 && !math.IsNaN(s.pts[i-1].y)
		nextOK := i+1 < len(s.pts) && !math.IsNaN(s.pts[i+1].y)
		if nextOK {
			q := s.pts[i+1]
			c.line(x0, y0, int(math.Round(l.px(q.x))), int(math.Round(l.py(q.y))), col, width, clip)
		}
		switch {
		case s.points:
			c.stamp(x0-3, y0-3, 7, col, clip)
		case !prevOK && !nextOK:
			c.stamp(x0-1, y0-1, 4, col, clip)
		}
	}
}
