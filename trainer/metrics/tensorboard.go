package metrics

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// TensorBoard event files: a TFRecord file of serialized tensorflow.Event
// protocol buffers. No maintained Go library writes them, so the framing
// and the few messages needed are written here with protowire. Each record
// is
//
//	uint64 length (little endian)
//	uint32 masked CRC-32C of the length bytes
//	length bytes of data (one serialized Event)
//	uint32 masked CRC-32C of the data
//
// and the messages used (field numbers of tensorflow's event.proto and
// summary.proto, and TensorBoard's text plugin):
//
//	Event          { double wall_time = 1; int64 step = 2; string file_version = 3;
//	                 Summary summary = 5; SessionLog session_log = 7; }
//	SessionLog     { enum status = 1 (START = 1); }
//	Summary        { repeated Value value = 1; }
//	Summary.Value  { string tag = 1; float simple_value = 2; TensorProto tensor = 8;
//	                 SummaryMetadata metadata = 9; }
//	SummaryMetadata{ PluginData plugin_data = 1; }  PluginData { string plugin_name = 1; }
//	TensorProto    { DataType dtype = 1 (DT_STRING = 7); TensorShapeProto tensor_shape = 2;
//	                 repeated bytes string_val = 8; }

// Field numbers and constants of the TensorBoard protocol buffers.
const (
	evWallTime    = 1
	evStep        = 2
	evFileVersion = 3
	evSummary     = 5
	evSessionLog  = 7

	slStatus      = 1
	slStatusStart = 1

	sumValue = 1

	valTag         = 1
	valSimpleValue = 2
	valTensor      = 8
	valMetadata    = 9

	metaPluginData = 1
	pluginName     = 1

	tensorDtype     = 1
	tensorShape     = 2
	tensorStringVal = 8
	dtString        = 7

	// fileVersion is the first event of every event file.
	fileVersion = "brain.Event:2"
	// textPlugin is the plugin that shows string tensors as text.
	textPlugin = "text"
)

// maskedCRC is TFRecord's masked CRC-32C of b (crc32 keeps one
// Castagnoli table, so MakeTable is cheap).
func maskedCRC(b []byte) uint32 {
	c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// TensorBoard writes a TensorBoard event file (events.out.tfevents.*) in
// a run's log directory, so that `tensorboard --logdir runs/` shows the
// run's scalars by step and its text (the resolved config). It is safe for
// concurrent use. Writes are buffered: Flush makes them visible to
// TensorBoard, Close flushes and closes the file.
type TensorBoard struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	bw     *bufio.Writer
	now    func() time.Time
	closed bool
	// seen records the tags whose plugin metadata was written (only the
	// first value of a tag carries it).
	seen map[string]bool
}

// TensorBoardOptions controls OpenTensorBoard.
type TensorBoardOptions struct {
	// ResumeStep, when > 0, marks a resumed run: the file starts with a
	// SessionLog START event at that step, which makes TensorBoard drop
	// the events of steps >= ResumeStep left by the interrupted run in the
	// older files of the folder. 0 for a fresh run.
	ResumeStep int
	// Now gives the wall time of events (default time.Now).
	Now func() time.Time
	// Host goes into the file name (default os.Hostname).
	Host string
}

// OpenTensorBoard creates a new event file in dir (created when missing),
// named events.out.tfevents.<unix seconds>.<host>.<pid>.<nanoseconds> as
// TensorBoard expects (never an existing file), and writes its
// file_version event.
func OpenTensorBoard(dir string, opt TensorBoardOptions) (*TensorBoard, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Host == "" {
		opt.Host, _ = os.Hostname()
		if opt.Host == "" {
			opt.Host = "localhost"
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	t := opt.Now()
	name := fmt.Sprintf("events.out.tfevents.%010d.%s.%d.%d", t.Unix(), opt.Host, os.Getpid(), t.Nanosecond())
	var (
		path string
		f    *os.File
		err  error
	)
	// Never append to another writer's file: a name taken in the same
	// nanosecond gets a counter.
	for i := 0; ; i++ {
		path = filepath.Join(dir, name)
		if i > 0 {
			path = fmt.Sprintf("%s.%d", path, i)
		}
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i == 100 {
			return nil, fmt.Errorf("tensorboard: %w", err)
		}
	}
	w := &TensorBoard{path: path, f: f, bw: bufio.NewWriterSize(f, 64<<10), now: opt.Now, seen: map[string]bool{}}
	var ev []byte
	ev = appendWallTime(ev, t)
	ev = protowire.AppendTag(ev, evFileVersion, protowire.BytesType)
	ev = protowire.AppendString(ev, fileVersion)
	err = w.writeRecord(ev)
	if err == nil && opt.ResumeStep > 0 {
		ev = appendWallTime(nil, t)
		ev = appendStep(ev, opt.ResumeStep)
		var sl []byte
		sl = protowire.AppendTag(sl, slStatus, protowire.VarintType)
		sl = protowire.AppendVarint(sl, slStatusStart)
		ev = protowire.AppendTag(ev, evSessionLog, protowire.BytesType)
		ev = protowire.AppendBytes(ev, sl)
		err = w.writeRecord(ev)
	}
	if err == nil {
		err = w.bw.Flush()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("tensorboard: write %s: %w", path, err)
	}
	return w, nil
}

// Path returns the event file's path.
func (w *TensorBoard) Path() string { return w.path }

func appendWallTime(b []byte, t time.Time) []byte {
	b = protowire.AppendTag(b, evWallTime, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(float64(t.Unix())+float64(t.Nanosecond())/1e9))
}

func appendStep(b []byte, step int) []byte {
	if step == 0 {
		return b
	}
	b = protowire.AppendTag(b, evStep, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(int64(step)))
}

// writeRecord frames one serialized event.
func (w *TensorBoard) writeRecord(data []byte) error {
	var head [12]byte
	binary.LittleEndian.PutUint64(head[:8], uint64(len(data)))
	binary.LittleEndian.PutUint32(head[8:], maskedCRC(head[:8]))
	var tail [4]byte
	binary.LittleEndian.PutUint32(tail[:], maskedCRC(data))
	w.bw.Write(head[:])
	w.bw.Write(data)
	_, err := w.bw.Write(tail[:])
	return err
}

// appendScalarValue appends one Summary.Value holding a scalar.
func appendScalarValue(b []byte, tag string, v float64) []byte {
	var val []byte
	val = protowire.AppendTag(val, valTag, protowire.BytesType)
	val = protowire.AppendString(val, tag)
	val = protowire.AppendTag(val, valSimpleValue, protowire.Fixed32Type)
	val = protowire.AppendFixed32(val, math.Float32bits(float32(v)))
	b = protowire.AppendTag(b, sumValue, protowire.BytesType)
	return protowire.AppendBytes(b, val)
}

// summaryEvent builds an Event holding a summary.
func summaryEvent(t time.Time, step int, summary []byte) []byte {
	ev := appendWallTime(nil, t)
	ev = appendStep(ev, step)
	ev = protowire.AppendTag(ev, evSummary, protowire.BytesType)
	return protowire.AppendBytes(ev, summary)
}

func (w *TensorBoard) check() error {
	if w.closed {
		return errors.New("tensorboard: write on closed writer")
	}
	return nil
}

// Scalar writes one scalar value of a tag at a step (TensorBoard stores
// scalars as float32). NaN and ±Inf are written as they are.
func (w *TensorBoard) Scalar(step int, tag string, value float64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	if err := w.writeRecord(summaryEvent(w.now(), step, appendScalarValue(nil, tag, value))); err != nil {
		return fmt.Errorf("tensorboard: write %s: %w", w.path, err)
	}
	return nil
}

// WriteRecord writes every value of a metrics record as a scalar at the
// record's step, tagged with the metric name ("reward/grounding/mean"
// shows under the "reward" section), in one event stamped with the
// record's time (or now when it has none). It is the TensorBoard
// counterpart of Writer.Write: a run that logs each record to both shows
// every metric of metrics.jsonl in TensorBoard.
func (w *TensorBoard) WriteRecord(r Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	names := make([]string, 0, len(r.Values))
	for k := range r.Values {
		names = append(names, k)
	}
	sort.Strings(names)
	var sum []byte
	for _, k := range names {
		sum = appendScalarValue(sum, k, r.Values[k])
	}
	t := r.Time
	if t.IsZero() {
		t = w.now()
	}
	if err := w.writeRecord(summaryEvent(t, r.Step, sum)); err != nil {
		return fmt.Errorf("tensorboard: write %s: %w", w.path, err)
	}
	return nil
}

// Text writes a text value of a tag at step 0 (TensorBoard's Text tab
// renders it as Markdown; wrap YAML in a fenced code block to keep its
// layout). Use it for the resolved config.
func (w *TensorBoard) Text(tag, text string) error {
	return w.TextAt(0, tag, text)
}

// TextAt writes a text value of a tag at a step.
func (w *TensorBoard) TextAt(step int, tag, text string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		return err
	}
	var tensor []byte
	tensor = protowire.AppendTag(tensor, tensorDtype, protowire.VarintType)
	tensor = protowire.AppendVarint(tensor, dtString)
	// A scalar: an empty TensorShapeProto.
	tensor = protowire.AppendTag(tensor, tensorShape, protowire.BytesType)
	tensor = protowire.AppendBytes(tensor, nil)
	tensor = protowire.AppendTag(tensor, tensorStringVal, protowire.BytesType)
	tensor = protowire.AppendString(tensor, text)
	var val []byte
	val = protowire.AppendTag(val, valTag, protowire.BytesType)
	val = protowire.AppendString(val, tag)
	val = protowire.AppendTag(val, valTensor, protowire.BytesType)
	val = protowire.AppendBytes(val, tensor)
	if !w.seen[tag] {
		var pd []byte
		pd = protowire.AppendTag(pd, pluginName, protowire.BytesType)
		pd = protowire.AppendString(pd, textPlugin)
		var md []byte
		md = protowire.AppendTag(md, metaPluginData, protowire.BytesType)
		md = protowire.AppendBytes(md, pd)
		val = protowire.AppendTag(val, valMetadata, protowire.BytesType)
		val = protowire.AppendBytes(val, md)
	}
	var sum []byte
	sum = protowire.AppendTag(sum, sumValue, protowire.BytesType)
	sum = protowire.AppendBytes(sum, val)
	if err := w.writeRecord(summaryEvent(w.now(), step, sum)); err != nil {
		return fmt.Errorf("tensorboard: write %s: %w", w.path, err)
	}
	w.seen[tag] = true
	return nil
}

// Flush writes the buffered events to the file.
func (w *TensorBoard) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("tensorboard: flush %s: %w", w.path, err)
	}
	return nil
}

// Close flushes and closes the file. Closing twice is not an error.
func (w *TensorBoard) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	err := w.bw.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("tensorboard: close %s: %w", w.path, err)
	}
	return nil
}

// Event is one decoded event of an event file (the parts this package
// writes).
type Event struct {
	// WallTime is the event's time in seconds since the Unix epoch.
	WallTime float64
	// Step is the global step.
	Step int64
	// FileVersion is set on the first event of a file.
	FileVersion string
	// SessionStart is set for a SessionLog START event.
	SessionStart bool
	// Values are the summary values.
	Values []EventValue
}

// EventValue is one decoded summary value.
type EventValue struct {
	Tag string
	// Scalar is the simple_value; HasScalar says it was present.
	Scalar    float32
	HasScalar bool
	// Text holds the string values of a string tensor.
	Text []string
	// Plugin is the plugin named in the value's metadata ("" = none).
	Plugin string
}

// ReadEvents decodes a TensorBoard event file, checking every record's
// length and data checksums. Errors name the record's index and offset.
func ReadEvents(r io.Reader) ([]Event, error) {
	br := bufio.NewReader(r)
	var out []Event
	var off int64
	for i := 0; ; i++ {
		var head [12]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("tensorboard: record %d at byte %d: truncated header: %w", i, off, err)
		}
		if got, want := binary.LittleEndian.Uint32(head[8:]), maskedCRC(head[:8]); got != want {
			return out, fmt.Errorf("tensorboard: record %d at byte %d: length checksum %08x, want %08x", i, off, got, want)
		}
		n := binary.LittleEndian.Uint64(head[:8])
		if n > 1<<30 {
			return out, fmt.Errorf("tensorboard: record %d at byte %d: length %d too large", i, off, n)
		}
		data := make([]byte, n+4)
		if _, err := io.ReadFull(br, data); err != nil {
			return out, fmt.Errorf("tensorboard: record %d at byte %d: truncated data: %w", i, off, err)
		}
		if got, want := binary.LittleEndian.Uint32(data[n:]), maskedCRC(data[:n]); got != want {
			return out, fmt.Errorf("tensorboard: record %d at byte %d: data checksum %08x, want %08x", i, off, got, want)
		}
		ev, err := decodeEvent(data[:n])
		if err != nil {
			return out, fmt.Errorf("tensorboard: record %d at byte %d: %w", i, off, err)
		}
		out = append(out, ev)
		off += int64(12 + n + 4)
	}
}

// ReadEventFile decodes the event file at path (see ReadEvents).
func ReadEventFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tensorboard: %w", err)
	}
	defer f.Close()
	ev, err := ReadEvents(f)
	if err != nil {
		return ev, fmt.Errorf("%s: %w", path, err)
	}
	return ev, nil
}

// fields calls fn for every field of a serialized message.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func decodeEvent(b []byte) (Event, error) {
	var ev Event
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == evWallTime && typ == protowire.Fixed64Type:
			ev.WallTime = math.Float64frombits(x)
		case num == evStep && typ == protowire.VarintType:
			ev.Step = int64(x)
		case num == evFileVersion && typ == protowire.BytesType:
			ev.FileVersion = string(v)
		case num == evSessionLog && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
				if num == slStatus && typ == protowire.VarintType && x == slStatusStart {
					ev.SessionStart = true
				}
				return nil
			})
		case num == evSummary && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != sumValue || typ != protowire.BytesType {
					return nil
				}
				val, err := decodeValue(v)
				ev.Values = append(ev.Values, val)
				return err
			})
		}
		return nil
	})
	return ev, err
}

func decodeValue(b []byte) (EventValue, error) {
	var val EventValue
	err := fields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == valTag && typ == protowire.BytesType:
			val.Tag = string(v)
		case num == valSimpleValue && typ == protowire.Fixed32Type:
			val.Scalar, val.HasScalar = math.Float32frombits(uint32(x)), true
		case num == valTensor && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num == tensorStringVal && typ == protowire.BytesType {
					val.Text = append(val.Text, string(v))
				}
				return nil
			})
		case num == valMetadata && typ == protowire.BytesType:
			return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num != metaPluginData || typ != protowire.BytesType {
					return nil
				}
				return fields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
					if num == pluginName && typ == protowire.BytesType {
						val.Plugin = string(v)
					}
					return nil
				})
			})
		}
		return nil
	})
	return val, err
}
