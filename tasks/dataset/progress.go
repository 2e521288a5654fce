package dataset

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar; it is used under the caller's
// lock.
type progress struct {
	w          io.Writer
	total, n   int
	start      time.Time
	startN     int
	lastDrawAt time.Time
}

func newProgress(w io.Writer, total, done int) *progress {
	p := &progress{w: w, total: total, n: done, startN: done, start: time.Now()}
	p.draw(true)
	return p
}

func (p *progress) add(k int) {
	p.n += k
	p.draw(p.n == p.total)
}

// log prints a line above the bar and passes it to logf.
func (p *progress) log(line string, logf func(string, ...any)) {
	if p.w != nil {
		fmt.Fprintf(p.w, "\r\033[K")
	}
	logf("%s", line)
	p.draw(true)
}

func (p *progress) draw(force bool) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.lastDrawAt) < 200*time.Millisecond {
		return
	}
	p.lastDrawAt = now
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = float64(p.n) / float64(p.total)
	}
	fill := int(frac * width)
	rate := float64(p.n-p.startN) / max(now.Sub(p.start).Seconds(), 1e-9)
	eta := "--"
	if rate > 0 && p.n < p.total {
		eta = (time.Duration(float64(p.total-p.n)/rate) * time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d samples  %.1f/s  eta %s",
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.n, p.total, rate, eta)
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.draw(true)
	fmt.Fprintln(p.w)
}
