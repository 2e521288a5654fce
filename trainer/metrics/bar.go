package metrics

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar geometry and log-mode pacing.
const (
	barWidth    = 20
	logInterval = 5 * time.Second
)

// Bar is a text progress bar such as
//
//	grpo  12/40 [=====>              ]  30% 1.2s/step eta 34s reward 0.41 kl 0.002
//
// On a terminal it redraws one line in place with a carriage return. On
// anything else (a log file, a pipe, a buffer) it prints whole lines: the
// first update, each time progress crosses another tenth of the total,
// when 5 s have passed since the last line, and at the end. A Bar is safe
// for concurrent use; write errors are ignored (progress is best-effort).
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int
	terminal bool
	now      func() time.Time

	start     time.Time // when counting began
	startDone int       // steps already done when counting began
	done      int
	fields    []string
	drawn     bool      // something has been shown
	lastWidth int       // length of the last terminal line
	lastDone  int       // done at the last printed log line
	lastTime  time.Time // time of the last printed log line
	finished  bool
}

// NewBar returns a bar writing to w for total steps (total <= 0: unknown,
// shown without bar, percentage or ETA). Terminal mode is chosen when w is
// an *os.File on a character device.
func NewBar(w io.Writer, label string, total int) *Bar {
	return newBar(w, label, total, isTerminal(w), time.Now)
}

// newBar builds a bar with an explicit mode and clock (for tests).
func newBar(w io.Writer, label string, total int, terminal bool, now func() time.Time) *Bar {
	return &Bar{w: w, label: label, total: total, terminal: terminal, now: now, start: now(), lastDone: -1}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Start restarts the clock with done steps already complete, so that a
// resumed run's rate and ETA count only the steps done in this process.
// Call it before the first Set.
func (b *Bar) Start(done int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.start, b.startDone, b.done = b.now(), done, done
}

// Set records that done steps are complete and shows fields ("name value"
// strings such as "reward 0.41") after the bar.
func (b *Bar) Set(done int, fields ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.done = done
	b.fields = append(b.fields[:0], fields...)
	now := b.now()
	if b.terminal {
		b.redraw(now)
		return
	}
	if b.logDue(now) {
		b.printLine(now)
	}
}

// Finish shows the final state and ends the line. Later calls to Set and
// Finish do nothing.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	now := b.now()
	if b.terminal {
		b.redraw(now)
		io.WriteString(b.w, "\n")
		return
	}
	if b.lastDone != b.done || !b.drawn {
		b.printLine(now)
	}
}

// logDue reports whether log mode should print a line now.
func (b *Bar) logDue(now time.Time) bool {
	switch {
	case !b.drawn:
		return true
	case b.done == b.lastDone:
		return false // nothing new to report
	case b.total > 0 && b.done >= b.total:
		return true
	case b.total > 0 && tenth(b.done, b.total) > tenth(b.lastDone, b.total):
		return true
	}
	return now.Sub(b.lastTime) >= logInterval
}

// tenth returns which tenth of total done falls in.
func tenth(done, total int) int {
	if done <= 0 {
		return 0
	}
	return done * 10 / total
}

// printLine writes the current state as one log line.
func (b *Bar) printLine(now time.Time) {
	io.WriteString(b.w, b.line(now)+"\n")
	b.drawn, b.lastDone, b.lastTime = true, b.done, now
}

// redraw rewrites the terminal line in place.
func (b *Bar) redraw(now time.Time) {
	s := b.line(now)
	pad := b.lastWidth - len(s)
	if pad < 0 {
		pad = 0
	}
	io.WriteString(b.w, "\r"+s+strings.Repeat(" ", pad))
	b.lastWidth = len(s)
	b.drawn = true
}

// line formats the bar.
func (b *Bar) line(now time.Time) string {
	var sb strings.Builder
	sb.WriteString(b.label)
	sb.WriteString("  ")
	var rate time.Duration
	if n := b.done - b.startDone; n > 0 {
		rate = now.Sub(b.start) / time.Duration(n)
	}
	if b.total > 0 {
		width := len(fmt.Sprint(b.total))
		fmt.Fprintf(&sb, "%*d/%d [", width, b.done, b.total)
		frac := float64(b.done) / float64(b.total)
		frac = min(max(frac, 0), 1)
		fillN := int(frac * barWidth)
		switch {
		case fillN >= barWidth:
			sb.WriteString(strings.Repeat("=", barWidth))
		default:
			sb.WriteString(strings.Repeat("=", fillN))
			sb.WriteString(">")
			sb.WriteString(strings.Repeat(" ", barWidth-fillN-1))
		}
		fmt.Fprintf(&sb, "] %3d%%", int(frac*100))
	} else {
		fmt.Fprintf(&sb, "%d", b.done)
	}
	if rate > 0 {
		sb.WriteString(" " + formatRate(rate) + "/step")
		if b.total > 0 {
			left := max(b.total-b.done, 0)
			sb.WriteString(" eta " + formatDuration(rate*time.Duration(left)))
		}
	} else {
		sb.WriteString(" -/step")
		if b.total > 0 {
			sb.WriteString(" eta -")
		}
	}
	for _, f := range b.fields {
		sb.WriteString(" ")
		sb.WriteString(f)
	}
	return sb.String()
}

// formatRate formats a time per step: "850ms", "1.2s", "2m05s".
func formatRate(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dus", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return formatDuration(d)
}

// formatDuration formats a remaining time in whole units: "34s", "2m05s",
// "1h02m".
func formatDuration(d time.Duration) string {
	s := int((d + time.Second/2) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
}
