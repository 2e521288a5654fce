package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Record is one step's metrics: flat metric name -> value (for example
// "reward/grounding/mean", "zero_var_frac", "kl", "lr").
type Record struct {
	// Step is the training step the values belong to.
	Step int
	// Phase names the part of the run ("warmup", "grpo", "eval", ...); it
	// may be empty.
	Phase string
	// Time is when the step finished; the zero time is not written.
	Time time.Time
	// Values maps metric names to values. NaN and ±Inf are written as
	// null and read back as NaN. The names "step", "phase" and "time" are
	// reserved.
	Values map[string]float64
}

// Reserved top-level keys of a metrics.jsonl line.
const (
	keyStep  = "step"
	keyPhase = "phase"
	keyTime  = "time"
)

// Writer appends records to a metrics.jsonl file, one JSON object a line.
// Each line is written with a single write call, so a reader never sees a
// record split across flushes. A Writer is safe for concurrent use.
type Writer struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	buf    []byte
	closed bool
}

// OpenWriter opens the metrics file at path for appending and creates its
// directory when missing. With keepUpTo < 0 any existing file is truncated
// (a fresh run). With keepUpTo >= 0 (a resumed run) the records of steps
// <= keepUpTo are kept and later ones dropped: the file is rewritten
// atomically (temporary file and rename) before appending, so a crash
// during the rewrite leaves the old file whole. A torn last line (a line
// without its newline that does not parse, left by a crash mid-write) is
// dropped; any other unparsable line is an error naming file:line.
func OpenWriter(path string, keepUpTo int) (*Writer, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("metrics: create directory: %w", err)
		}
	}
	if keepUpTo < 0 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("metrics: open writer: %w", err)
		}
		return &Writer{path: path, f: f}, nil
	}
	if err := keepSteps(path, keepUpTo); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics: open writer: %w", err)
	}
	return &Writer{path: path, f: f}, nil
}

// keepSteps rewrites path keeping the lines of steps <= keepUpTo. A missing
// file is not an error.
func keepSteps(path string, keepUpTo int) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("metrics: read for resume: %w", err)
	}
	var out bytes.Buffer
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line := data
		terminated := false
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data, terminated = data[:i], data[i+1:], true
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, err := parseLine(line)
		if err != nil {
			if !terminated {
				break // torn final write
			}
			return fmt.Errorf("metrics: %s:%d: %w", path, lineNo, err)
		}
		if rec.Step <= keepUpTo {
			out.Write(bytes.TrimRight(line, "\r"))
			out.WriteByte('\n')
		}
	}
	return writeFileAtomic(path, out.Bytes())
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path.
func writeFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic creates a temporary file beside path, fills it with fill,
// syncs it and renames it over path. On failure the temporary file is
// removed and path is untouched.
func writeAtomic(path string, fill func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("metrics: create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err = fill(bw); err != nil {
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("metrics: write %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("metrics: chmod %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("metrics: sync %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("metrics: close %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("metrics: rename onto %s: %w", path, err)
	}
	return nil
}

// Path returns the file the writer appends to.
func (w *Writer) Path() string { return w.path }

// Write appends r as one JSON line: "step", "phase" (when not empty),
// "time" (RFC 3339 with nanoseconds, when not zero), then each value as a
// top-level key in sorted order, NaN and ±Inf as null. The line reaches the
// operating system before Write returns.
func (w *Writer) Write(r Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("metrics: write on closed writer")
	}
	line, err := appendRecord(w.buf[:0], r)
	if err != nil {
		return err
	}
	w.buf = line
	if _, err := w.f.Write(line); err != nil {
		return fmt.Errorf("metrics: write %s: %w", w.path, err)
	}
	return nil
}

// Close closes the file. Closing twice is not an error.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("metrics: close %s: %w", w.path, err)
	}
	return nil
}

// appendRecord appends the JSON line for r (with its newline) to buf.
func appendRecord(buf []byte, r Record) ([]byte, error) {
	keys := make([]string, 0, len(r.Values))
	for k := range r.Values {
		switch k {
		case "":
			return nil, errors.New("metrics: empty metric name")
		case keyStep, keyPhase, keyTime:
			return nil, fmt.Errorf("metrics: metric name %q is reserved", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buf = append(buf, `{"step":`...)
	buf = strconv.AppendInt(buf, int64(r.Step), 10)
	if r.Phase != "" {
		buf = append(buf, `,"phase":`...)
		buf = appendJSONString(buf, r.Phase)
	}
	if !r.Time.IsZero() {
		buf = append(buf, `,"time":"`...)
		buf = r.Time.AppendFormat(buf, time.RFC3339Nano)
		buf = append(buf, '"')
	}
	for _, k := range keys {
		buf = append(buf, ',')
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = appendJSONFloat(buf, r.Values[k])
	}
	return append(buf, '}', '\n'), nil
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(buf []byte, s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return append(buf, `""`...)
	}
	return append(buf, b...)
}

// appendJSONFloat appends v as a JSON number, or null for NaN and ±Inf.
func appendJSONFloat(buf []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(buf, "null"...)
	}
	return strconv.AppendFloat(buf, v, 'g', -1, 64)
}

// ReadFile parses a metrics.jsonl file back into records, in file order.
// Blank lines are skipped; null values come back as NaN. Errors name the
// file and line.
func ReadFile(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer f.Close()
	recs, err := readRecords(bufio.NewReaderSize(f, 64<<10), path)
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// readRecords parses JSON lines from r; name is used in error messages.
func readRecords(r *bufio.Reader, name string) ([]Record, error) {
	var recs []Record
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			rec, perr := parseLine(line)
			if perr != nil {
				return nil, fmt.Errorf("metrics: %s:%d: %w", name, lineNo, perr)
			}
			recs = append(recs, rec)
		}
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("metrics: %s:%d: %w", name, lineNo, err)
		}
	}
}

// parseLine parses one metrics line.
func parseLine(line []byte) (Record, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return Record{}, fmt.Errorf("bad json: %w", err)
	}
	if raw == nil {
		return Record{}, errors.New("line is not a json object")
	}
	rec := Record{Values: make(map[string]float64, len(raw))}
	stepRaw, ok := raw[keyStep]
	if !ok {
		return Record{}, errors.New(`missing "step"`)
	}
	step, ok := rawNumber(stepRaw)
	if !ok {
		return Record{}, errors.New(`"step" is not a number`)
	}
	n, err := strconv.ParseInt(step, 10, 0)
	if err != nil {
		return Record{}, fmt.Errorf(`"step" is not an integer: %s`, step)
	}
	rec.Step = int(n)
	for k, v := range raw {
		switch k {
		case keyStep:
		case keyPhase:
			if err := json.Unmarshal(v, &rec.Phase); err != nil {
				return Record{}, fmt.Errorf(`"phase" is not a string: %w`, err)
			}
		case keyTime:
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return Record{}, fmt.Errorf(`"time" is not a string: %w`, err)
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return Record{}, fmt.Errorf(`bad "time": %w`, err)
			}
			rec.Time = t
		default:
			if k == "" {
				return Record{}, errors.New("empty metric name")
			}
			if string(bytes.TrimSpace(v)) == "null" {
				rec.Values[k] = math.NaN()
				continue
			}
			num, ok := rawNumber(v)
			if !ok {
				return Record{}, fmt.Errorf("metric %q is not a number or null", k)
			}
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return Record{}, fmt.Errorf("metric %q: %w", k, err)
			}
			rec.Values[k] = f
		}
	}
	return rec, nil
}

// rawNumber returns the text of a raw JSON value when it is a number
// literal (json.Unmarshal has already checked its syntax).
func rawNumber(v json.RawMessage) (string, bool) {
	s := string(bytes.TrimSpace(v))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return "", false
	}
	return s, true
}
