// Package plugin runs a reward function as an external command, so a
// Python or shell scoring script works without forking the trainer (as
// verl's custom_reward_function does). A Plugin is a reward.Scorer: register
// it for one or more data sources in a reward.Registry.
//
// # Protocol
//
// The command is started once and kept running. For each batch the
// trainer writes one JSON object per line to the command's standard input:
//
//	{"id": 0, "data_source": "mytask", "response": "42", "ground_truth": "42", "extra_info": {...}}
//
// and reads one JSON object per line from its standard output, one per
// request, in the same order:
//
//	{"id": 0, "score": 1.0}
//
// or, for an item the plug-in cannot score, {"id": 0, "error": "why"}.
// Unknown keys are ignored. The command must flush its output after each
// line (python3 -u, or print(..., flush=True)). Its standard error is
// passed on (Config.Stderr) and its last lines are quoted in errors.
//
// An answer that is not a JSON object, lacks a finite "score", carries the
// wrong id or an "error", is an error for the batch (never a silent 0), and
// the process is stopped, since the stream can no longer be trusted; the
// next batch starts it again. A process that exits is restarted and the
// batch retried once. A batch that takes longer than Config.Timeout stops
// the process and fails with an error wrapping ErrTimeout.
package plugin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/videossr/videossr-go/reward"
)

// DefaultTimeout is the time a batch may take when Config.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// maxLine bounds one answer line of a plug-in.
const maxLine = 1 << 20

// stderrTail is how many bytes of the plug-in's standard error are kept
// for error messages.
const stderrTail = 2048

// Errors callers can branch on with errors.Is.
var (
	// ErrTimeout: a batch took longer than Config.Timeout.
	ErrTimeout = errors.New("reward plug-in timed out")
	// ErrProtocol: the plug-in answered something that is not a valid
	// answer line (garbage, a missing or non-finite score, a wrong id).
	ErrProtocol = errors.New("reward plug-in protocol error")
	// ErrExited: the plug-in process ended while a batch was being scored.
	ErrExited = errors.New("reward plug-in exited")
	// ErrItem: the plug-in answered {"error": ...} for an item.
	ErrItem = errors.New("reward plug-in could not score an item")
	// ErrClosed: Score was called after Close.
	ErrClosed = errors.New("reward plug-in closed")
)

// Config describes a plug-in command.
type Config struct {
	// Name labels the plug-in in errors (default: the command).
	Name string
	// Command is the program and its arguments, e.g.
	// ["python3", "-u", "scripts/reward_plugin_example.py"]. It is run
	// directly, not through a shell.
	Command []string
	// Dir is the working directory ("" = the trainer's).
	Dir string
	// Env is added to the trainer's environment ("KEY=value" entries).
	Env []string
	// Timeout bounds the time one batch may take (default DefaultTimeout).
	Timeout time.Duration
	// MaxBatch caps the items sent in one exchange (0 = the whole batch);
	// a larger batch is sent in several exchanges.
	MaxBatch int
	// Stderr receives the plug-in's standard error (nil = discarded; the
	// tail is kept for error messages either way).
	Stderr io.Writer
}

// Plugin is a running (or not yet started) reward plug-in process. It is
// safe for concurrent use; batches are scored one at a time.
type Plugin struct {
	cfg  Config
	mu   sync.Mutex
	proc *process
	// closed is set by Close.
	closed bool
}

var _ reward.Scorer = (*Plugin)(nil)

// New checks cfg and returns a Plugin; the process starts on the first
// Score.
func New(cfg Config) (*Plugin, error) {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("reward plug-in: empty command")
	}
	if cfg.Timeout < 0 || cfg.MaxBatch < 0 {
		return nil, fmt.Errorf("reward plug-in %s: negative timeout or max batch", cfg.Command[0])
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Name == "" {
		cfg.Name = strings.Join(cfg.Command, " ")
	}
	return &Plugin{cfg: cfg}, nil
}

// Score implements reward.Scorer: it sends the items to the process and
// returns their scores in order (see the package documentation for the
// protocol and the errors).
func (p *Plugin) Score(ctx context.Context, items []reward.Item) ([]float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, fmt.Errorf("%s: %w", p.cfg.Name, ErrClosed)
	}
	out := make([]float64, 0, len(items))
	step := len(items)
	if p.cfg.MaxBatch > 0 {
		step = p.cfg.MaxBatch
	}
	for lo := 0; lo < len(items); lo += step {
		hi := min(lo+step, len(items))
		got, err := p.exchangeRetry(ctx, items[lo:hi], lo)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// exchangeRetry scores one exchange, starting the process when needed and
// restarting it once when it has exited.
func (p *Plugin) exchangeRetry(ctx context.Context, items []reward.Item, first int) ([]float64, error) {
	for attempt := 0; ; attempt++ {
		if p.proc == nil {
			proc, err := start(p.cfg)
			if err != nil {
				return nil, fmt.Errorf("reward plug-in %s: %w", p.cfg.Name, err)
			}
			p.proc = proc
		}
		got, err := p.proc.exchange(ctx, items, first, p.cfg.Timeout)
		if err == nil {
			return got, nil
		}
		// Whatever went wrong, the stream is no longer in step: stop the
		// process; the next exchange starts a fresh one.
		tail := p.proc.stop()
		p.proc = nil
		err = fmt.Errorf("reward plug-in %s: %w", p.cfg.Name, err)
		if tail != "" {
			err = fmt.Errorf("%w (its last standard error: %q)", err, tail)
		}
		if !errors.Is(err, ErrExited) || attempt > 0 || ctx.Err() != nil {
			return nil, err
		}
	}
}

// Close stops the process. It is idempotent.
func (p *Plugin) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.proc != nil {
		p.proc.stop()
		p.proc = nil
	}
	return nil
}

// process is one running plug-in command.
type process struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	lines  chan lineResult
	done   chan struct{} // closed when the reader goroutine ends
	stderr *tailBuffer
}

// lineResult is one line read from the plug-in, or the error that ended
// the reading.
type lineResult struct {
	line []byte
	err  error
}

func start(cfg Config) (*process, error) {
	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Dir = cfg.Dir
	if len(cfg.Env) > 0 {
		cmd.Env = append(os.Environ(), cfg.Env...)
	}
	tail := &tailBuffer{max: stderrTail}
	if cfg.Stderr != nil {
		cmd.Stderr = io.MultiWriter(cfg.Stderr, tail)
	} else {
		cmd.Stderr = tail
	}
	// Wait must not hang on a grandchild that keeps a pipe open.
	cmd.WaitDelay = time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	p := &process{cmd: cmd, stdin: stdin, stdout: stdout, lines: make(chan lineResult), done: make(chan struct{}), stderr: tail}
	go p.readLines()
	return p, nil
}

// readLines sends every line of the plug-in's output to p.lines until the
// output ends or p.done is closed.
func (p *process) readLines() {
	r := bufio.NewReaderSize(p.stdout, 64<<10)
	for {
		line, err := readLine(r)
		select {
		case p.lines <- lineResult{line, err}:
		case <-p.done:
			return
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line (without its end) of at most maxLine bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("%w: answer line longer than %d bytes", ErrProtocol, maxLine)
		}
		if err == nil {
			return bytes.TrimRight(buf, "\r\n"), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(bytes.TrimSpace(buf)) > 0 {
				return nil, fmt.Errorf("%w: output ended inside a line", ErrExited)
			}
			return nil, fmt.Errorf("%w: its output ended", ErrExited)
		}
		return nil, fmt.Errorf("%w: read: %v", ErrExited, err)
	}
}

// request is one line sent to the plug-in.
type request struct {
	ID int `json:"id"`
	reward.Item
}

// answer is one line read from the plug-in.
type answer struct {
	ID    *int     `json:"id"`
	Score *float64 `json:"score"`
	Error *string  `json:"error"`
}

// exchange writes the items and reads one answer each. first is the index
// of items[0] in the caller's batch (used for ids and errors).
func (p *process) exchange(ctx context.Context, items []reward.Item, first int, timeout time.Duration) ([]float64, error) {
	var req bytes.Buffer
	enc := json.NewEncoder(&req)
	enc.SetEscapeHTML(false)
	for i, it := range items {
		if err := enc.Encode(request{ID: first + i, Item: it}); err != nil {
			return nil, fmt.Errorf("item %d: encode request: %w", first+i, err)
		}
	}
	// Write in the background: a plug-in that answers while it reads must
	// not block on a full output pipe while we are still writing.
	wrote := make(chan error, 1)
	go func() {
		_, err := p.stdin.Write(req.Bytes())
		wrote <- err
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	out := make([]float64, len(items))
	for i := 0; i < len(items); {
		id := first + i
		var lr lineResult
		select {
		case lr = <-p.lines:
		case err := <-wrote:
			if err != nil {
				return nil, fmt.Errorf("%w: writing the requests: %v", ErrExited, err)
			}
			wrote = nil // written: a nil channel is never selected again
			continue
		case <-timer.C:
			return nil, fmt.Errorf("%w after %v waiting for the answer to item %d", ErrTimeout, timeout, id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if lr.err != nil {
			return nil, fmt.Errorf("waiting for the answer to item %d: %w", id, lr.err)
		}
		v, err := parseAnswer(lr.line, id)
		if err != nil {
			return nil, err
		}
		out[i] = v
		i++
	}
	return out, nil
}

// parseAnswer checks one answer line for item id.
func parseAnswer(line []byte, id int) (float64, error) {
	quote := func() string {
		s := string(line)
		if len(s) > 200 {
			s = s[:200] + "..."
		}
		return fmt.Sprintf("%q", s)
	}
	var a answer
	if err := json.Unmarshal(line, &a); err != nil {
		return 0, fmt.Errorf("%w: item %d: answer %s is not a JSON object: %v", ErrProtocol, id, quote(), err)
	}
	if a.ID == nil || *a.ID != id {
		got := "no id"
		if a.ID != nil {
			got = fmt.Sprintf("id %d", *a.ID)
		}
		return 0, fmt.Errorf("%w: item %d: answer %s has %s (answers must come one per request, in order, with the request's id)", ErrProtocol, id, quote(), got)
	}
	if a.Error != nil {
		return 0, fmt.Errorf("%w %d: %s", ErrItem, id, *a.Error)
	}
	if a.Score == nil {
		return 0, fmt.Errorf("%w: item %d: answer %s has no \"score\"", ErrProtocol, id, quote())
	}
	if math.IsNaN(*a.Score) || math.IsInf(*a.Score, 0) {
		return 0, fmt.Errorf("%w: item %d: score %v is not finite", ErrProtocol, id, *a.Score)
	}
	return *a.Score, nil
}

// stop ends the process (closing its input, then killing it) and returns
// the tail of its standard error.
func (p *process) stop() string {
	close(p.done)
	p.stdin.Close()
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	p.cmd.Wait()
	return strings.TrimSpace(p.stderr.String())
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// Write implements io.Writer.
func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// String returns the kept bytes.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
