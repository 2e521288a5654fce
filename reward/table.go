package reward

import (
	"fmt"
	"strconv"
	"strings"
)

// ReferenceRow is a published VIUBench result: only the overall score is
// known (spec section 7), as a fraction in [0,1].
type ReferenceRow struct {
	Name    string
	Overall float64
}

// PaperReference returns the overall VIUBench scores reported in the
// VideoSSR paper: random guess 16.1, Qwen3-VL-8B 19.5, VideoSSR-8B 51.9,
// GPT-5 58.7, Gemini-2.5-Pro 56.7 (x100).
func PaperReference() []ReferenceRow {
	return []ReferenceRow{
		{Name: "Random guess", Overall: 0.161},
		{Name: "Qwen3-VL-8B", Overall: 0.195},
		{Name: "VideoSSR-8B", Overall: 0.519},
		{Name: "GPT-5", Overall: 0.587},
		{Name: "Gemini-2.5-Pro", Overall: 0.567},
	}
}

// VIUBenchTable renders VIUBench reports in the layout of the paper's
// Table 1: grouped columns Counting (Easy, Hard) | Grounding (Ch.Swap,
// Rot.180, Zoom-out, Mirror, Shuffle) | Jigsaw (Easy, Hard) | Overall, one
// row per report, scores x100 with one decimal. A subtype without questions
// shows "-", and an Overall computed over fewer than nine subtypes is
// marked "*"; both are explained under the table.
type VIUBenchTable struct {
	// Rows are the reports, one table row each (e.g. "before", "after").
	Rows []VIUBenchReport
	// Reference appends the paper's published overall scores
	// (PaperReference); their subtype cells stay empty.
	Reference bool
	// Counts adds under each row a row with the number of questions per
	// subtype (and the total under Overall).
	Counts bool
}

// tableColumn is one score column of Table 1.
type tableColumn struct{ group, header, subtype string }

// table1Columns returns the nine subtype columns of Table 1 in order.
func table1Columns() []tableColumn {
	return []tableColumn{
		{"Counting", "Easy", SubtypeCountingEasy},
		{"Counting", "Hard", SubtypeCountingHard},
		{"Grounding", "Ch.Swap", SubtypeGroundingChannelSwap},
		{"Grounding", "Rot.180", SubtypeGroundingRotate180},
		{"Grounding", "Zoom-out", SubtypeGroundingZoomOut},
		{"Grounding", "Mirror", SubtypeGroundingMirror},
		{"Grounding", "Shuffle", SubtypeGroundingShuffle},
		{"Jigsaw", "Easy", SubtypeJigsawEasy},
		{"Jigsaw", "Hard", SubtypeJigsawHard},
	}
}

// tableRow is one rendered row: a name, nine subtype cells and the overall.
type tableRow struct {
	name    string
	cells   []string
	overall string
	rule    bool // draw a rule above this row
}

// pct formats a fraction x100 with one decimal.
func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) }

// rowsAndNotes builds the rendered rows and the footnotes.
func (t VIUBenchTable) rowsAndNotes() ([]tableRow, []string) {
	cols := table1Columns()
	var rows []tableRow
	incomplete := false
	for _, rep := range t.Rows {
		row := tableRow{name: rep.Name, cells: make([]string, len(cols))}
		counts := tableRow{name: rep.Name + " (n)", cells: make([]string, len(cols))}
		for i, c := range cols {
			res, ok := rep.Result(c.subtype)
			counts.cells[i] = strconv.Itoa(res.N)
			if !ok || res.N == 0 {
				row.cells[i] = "-"
				continue
			}
			row.cells[i] = pct(res.Mean)
		}
		switch present := rep.Present(); {
		case present == 0:
			row.overall = "-"
			incomplete = true
		case present < numSubtypes:
			row.overall = pct(rep.Overall) + "*"
			incomplete = true
		default:
			row.overall = pct(rep.Overall)
		}
		counts.overall = strconv.Itoa(rep.Total())
		rows = append(rows, row)
		if t.Counts {
			rows = append(rows, counts)
		}
	}
	if t.Reference {
		for i, ref := range PaperReference() {
			rows = append(rows, tableRow{
				name: ref.Name + " (paper)", cells: make([]string, len(cols)),
				overall: pct(ref.Overall), rule: i == 0 && len(t.Rows) > 0,
			})
		}
	}
	notes := []string{"Scores x100. Counting: fraction of the 3 classes counted exactly; grounding: mean IoU; jigsaw: exact order; Overall: unweighted mean of the 9 subtypes."}
	if incomplete {
		notes = append(notes, `"-": no questions of this subtype were scored. "*": Overall is the mean over the present subtypes only, not the paper's 9-subtype overall.`)
	}
	if t.Reference {
		notes = append(notes, "(paper): overall scores published in the VideoSSR paper; its per-subtype values are not reproduced here.")
	}
	return rows, notes
}

// Table renders the table as aligned plain text with the footnotes.
func (t VIUBenchTable) Table() string {
	cols := table1Columns()
	rows, notes := t.rowsAndNotes()
	nameW := len("Model")
	overallW := len("Overall")
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = max(len(c.header), len("100.0"))
	}
	for _, r := range rows {
		nameW = max(nameW, len(r.name))
		overallW = max(overallW, len(r.overall))
		for i, c := range r.cells {
			widths[i] = max(widths[i], len(c))
		}
	}
	// Widen the last column of a group whose title is wider than its
	// columns.
	type span struct {
		name     string
		from, to int
	}
	var groups []span
	for i, c := range cols {
		if len(groups) == 0 || groups[len(groups)-1].name != c.group {
			groups = append(groups, span{c.group, i, i})
		}
		groups[len(groups)-1].to = i
	}
	groupW := func(g span) int {
		w := 0
		for i := g.from; i <= g.to; i++ {
			w += 1 + widths[i]
		}
		return w
	}
	for _, g := range groups {
		if need := 1 + len(g.name); groupW(g) < need {
			widths[g.to] += need - groupW(g)
		}
	}

	starred := false
	for _, r := range rows {
		starred = starred || strings.HasSuffix(r.overall, "*")
	}
	var b strings.Builder
	line := func(name string, cell func(i int) string, overall string) {
		if starred && !strings.HasSuffix(overall, "*") {
			overall += " " // keep the digits aligned with starred values
		}
		fmt.Fprintf(&b, "%-*s", nameW, name)
		for _, g := range groups {
			b.WriteString(" |")
			for i := g.from; i <= g.to; i++ {
				fmt.Fprintf(&b, " %*s", widths[i], cell(i))
			}
		}
		fmt.Fprintf(&b, " | %*s\n", overallW, overall)
	}
	rule := func() {
		b.WriteString(strings.Repeat("-", nameW))
		for _, g := range groups {
			b.WriteString("-+" + strings.Repeat("-", groupW(g)))
		}
		b.WriteString("-+-" + strings.Repeat("-", overallW) + "\n")
	}
	// Group titles.
	fmt.Fprintf(&b, "%-*s", nameW, "")
	for _, g := range groups {
		fmt.Fprintf(&b, " | %-*s", groupW(g)-1, g.name)
	}
	fmt.Fprintf(&b, " | %*s\n", overallW, "")
	line("Model", func(i int) string { return cols[i].header }, "Overall")
	rule()
	for _, r := range rows {
		if r.rule {
			rule()
		}
		line(r.name, func(i int) string { return r.cells[i] }, r.overall)
	}
	b.WriteString("\n")
	for _, n := range notes {
		b.WriteString(n + "\n")
	}
	// Drop the padding at line ends.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// Markdown renders the table as a GitHub-flavoured Markdown table (column
// titles "Counting Easy" etc., since Markdown has no grouped headers),
// followed by the footnotes.
func (t VIUBenchTable) Markdown() string {
	cols := table1Columns()
	rows, notes := t.rowsAndNotes()
	var b strings.Builder
	b.WriteString("| Model |")
	for _, c := range cols {
		b.WriteString(" " + c.group + " " + c.header + " |")
	}
	b.WriteString(" Overall |\n|:--|")
	for range cols {
		b.WriteString("--:|")
	}
	b.WriteString("--:|\n")
	esc := strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ")
	for _, r := range rows {
		b.WriteString("| " + esc.Replace(r.name) + " |")
		for _, c := range r.cells {
			b.WriteString(" " + c + " |")
		}
		b.WriteString(" " + r.overall + " |\n")
	}
	b.WriteString("\n")
	for _, n := range notes {
		b.WriteString(n + "\n\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// Table renders this report alone as a plain-text Table 1 (see
// VIUBenchTable).
func (r VIUBenchReport) Table() string { return VIUBenchTable{Rows: []VIUBenchReport{r}}.Table() }

// Markdown renders this report alone as a Markdown Table 1 (see
// VIUBenchTable).
func (r VIUBenchReport) Markdown() string {
	return VIUBenchTable{Rows: []VIUBenchReport{r}}.Markdown()
}
