package metrics

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sameValue reports whether a and b are equal, treating NaNs as equal.
func sameValue(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

// sameRecord reports whether two records are equal (NaN-aware, times by
// instant).
func sameRecord(a, b Record) bool {
	if a.Step != b.Step || a.Phase != b.Phase || !a.Time.Equal(b.Time) || len(a.Values) != len(b.Values) {
		return false
	}
	for k, v := range a.Values {
		w, ok := b.Values[k]
		if !ok || !sameValue(v, w) {
			return false
		}
	}
	return true
}

func writeRecords(t *testing.T, path string, keepUpTo int, recs ...Record) {
	t.Helper()
	w, err := OpenWriter(path, keepUpTo)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func stepsOf(recs []Record) []int {
	var s []int
	for _, r := range recs {
		s = append(s, r.Step)
	}
	return s
}

func TestWriterRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "metrics.jsonl")
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	in := []Record{
		{Step: 0, Phase: "warmup", Time: t0, Values: map[string]float64{"loss": 2.5, "lr": 1e-6}},
		{Step: 1, Phase: "grpo", Time: t0.Add(time.Second), Values: map[string]float64{
			"reward/grounding/mean": 0.41, "zero_var_frac": 0.25, "kl": 1.5e-9, "neg": -3.75,
			"big": 1.2345678901234567e300, "nan": math.NaN(), "inf": math.Inf(1), "ninf": math.Inf(-1),
			`quote"and\slash`: 1,
		}},
		{Step: 2, Values: map[string]float64{}},
	}
	writeRecords(t, path, -1, in...)
	out, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("read %d records, want %d", len(out), len(in))
	}
	for i := range in {
		want := in[i]
		want.Values = map[string]float64{}
		for k, v := range in[i].Values {
			if math.IsInf(v, 0) {
				v = math.NaN() // Inf is written as null
			}
			want.Values[k] = v
		}
		if !sameRecord(out[i], want) {
			t.Errorf("record %d: got %+v, want %+v", i, out[i], want)
		}
	}
}

func TestWriteLineFormat(t *testing.T) {
	r := Record{Step: 3, Phase: "grpo", Time: time.Date(2025, 1, 2, 3, 4, 5, 500000000, time.UTC),
		Values: map[string]float64{"zero_var_frac": math.NaN(), "kl": 0.002, "reward/a/mean": 0.5, "x": math.Inf(-1)}}
	got, err := appendRecord(nil, r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"step":3,"phase":"grpo","time":"2025-01-02T03:04:05.5Z","kl":0.002,"reward/a/mean":0.5,"x":null,"zero_var_frac":null}` + "\n"
	if string(got) != want {
		t.Errorf("line\n got %s want %s", got, want)
	}
	got, err = appendRecord(nil, Record{Step: -1})
	if err != nil || string(got) != "{\"step\":-1}\n" {
		t.Errorf("bare record: %q, %v", got, err)
	}
}

func TestWriteRejectsBadNames(t *testing.T) {
	for _, name := range []string{"step", "phase", "time", ""} {
		t.Run(name, func(t *testing.T) {
			w, err := OpenWriter(filepath.Join(t.TempDir(), "m.jsonl"), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.Write(Record{Values: map[string]float64{name: 1}}); err == nil {
				t.Errorf("metric name %q accepted", name)
			}
		})
	}
}

func TestOpenWriterKeepUpTo(t *testing.T) {
	old := []Record{
		{Step: 0, Values: map[string]float64{"a": 0}},
		{Step: 1, Values: map[string]float64{"a": 1}},
		{Step: 2, Values: map[string]float64{"a": 2}},
		{Step: 3, Values: map[string]float64{"a": 3}},
	}
	tests := []struct {
		name     string
		keepUpTo int
		want     []int // steps after appending step 9
	}{
		{"fresh run truncates", -1, []int{9}},
		{"resume at 0", 0, []int{0, 9}},
		{"resume at 2", 2, []int{0, 1, 2, 9}},
		{"resume past end", 100, []int{0, 1, 2, 3, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "metrics.jsonl")
			writeRecords(t, path, -1, old...)
			writeRecords(t, path, tc.keepUpTo, Record{Step: 9, Values: map[string]float64{"a": 9}})
			recs, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := stepsOf(recs); !slices.Equal(got, tc.want) {
				t.Errorf("steps %v, want %v", got, tc.want)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("%d files left in the run directory, want 1", len(entries))
			}
		})
	}
}

func TestOpenWriterResumeMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "metrics.jsonl")
	writeRecords(t, path, 5, Record{Step: 6})
	recs, err := ReadFile(path)
	if err != nil || len(recs) != 1 || recs[0].Step != 6 {
		t.Fatalf("got %v, %v", recs, err)
	}
}

func TestOpenWriterResumeTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	data := "{\"step\":0,\"a\":1}\n{\"step\":1,\"a\":2}\n{\"step\":2,\"a\""
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), "metrics.jsonl:3:") {
		t.Errorf("ReadFile of a torn file: %v, want an error at line 3", err)
	}
	writeRecords(t, path, 10, Record{Step: 2, Values: map[string]float64{"a": 3}})
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := stepsOf(recs); !slices.Equal(got, []int{0, 1, 2}) {
		t.Errorf("steps %v after resuming past a torn line", got)
	}
}

func TestOpenWriterResumeBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	data := "{\"step\":0}\nnot json\n{\"step\":2}\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenWriter(path, 5)
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("error %v, want one naming %s:2", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != data {
		t.Error("a failed resume changed the file")
	}
}

func TestWriterClose(t *testing.T) {
	w, err := OpenWriter(filepath.Join(t.TempDir(), "m.jsonl"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(Record{}); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestWriterFlushesEachLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.jsonl")
	w, err := OpenWriter(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 3 {
		if err := w.Write(Record{Step: i}); err != nil {
			t.Fatal(err)
		}
		recs, err := ReadFile(path)
		if err != nil || len(recs) != i+1 {
			t.Fatalf("after %d writes the file holds %d records (%v)", i+1, len(recs), err)
		}
	}
}

func TestReadFileErrors(t *testing.T) {
	tests := []struct {
		name, data, line, msg string
	}{
		{"bad json", "{\"step\":0}\n{\"step\":1,\n", ":2:", "bad json"},
		{"not object", "[1,2]\n", ":1:", "bad json"},
		{"null line", "null\n", ":1:", "not a json object"},
		{"missing step", "{\"step\":0}\n\n{\"a\":1}\n", ":3:", "missing \"step\""},
		{"string step", "{\"step\":\"1\"}\n", ":1:", "\"step\" is not a number"},
		{"fractional step", "{\"step\":1.5}\n", ":1:", "not an integer"},
		{"string value", "{\"step\":1,\"kl\":\"0.1\"}\n", ":1:", "\"kl\" is not a number"},
		{"object value", "{\"step\":1,\"kl\":{}}\n", ":1:", "\"kl\" is not a number"},
		{"bool value", "{\"step\":1,\"kl\":true}\n", ":1:", "\"kl\" is not a number"},
		{"bad phase", "{\"step\":1,\"phase\":3}\n", ":1:", "\"phase\" is not a string"},
		{"bad time", "{\"step\":1,\"time\":\"yesterday\"}\n", ":1:", "bad \"time\""},
		{"out of range", "{\"step\":1,\"kl\":1e999}\n", ":1:", "\"kl\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "metrics.jsonl")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path+tc.line) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want %q and %q", err, path+tc.line, tc.msg)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "absent.jsonl")); !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestReadLongLineAndCRLF(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"step":7`)
	for i := range 5000 {
		sb.WriteString(`,"metric/` + strings.Repeat("x", 20) + "/" + itoa(i) + `":1`)
	}
	sb.WriteString("}\r\n")
	recs, err := readRecords(bufio.NewReader(strings.NewReader(sb.String())), "mem")
	if err != nil || len(recs) != 1 || len(recs[0].Values) != 5000 {
		t.Fatalf("got %d records, err %v", len(recs), err)
	}
}

func itoa(i int) string { return string(appendInt(nil, i)) }

func appendInt(b []byte, i int) []byte {
	if i >= 10 {
		b = appendInt(b, i/10)
	}
	return append(b, byte('0'+i%10))
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"step":3,"phase":"grpo","time":"2025-01-02T03:04:05.5Z","kl":0.002,"x":null}`))
	f.Add([]byte(`{"step":-1}`))
	f.Add([]byte(`{"step":1,"a":1e308,"b":-0,"c":5e-324}`))
	f.Add([]byte(`{"step":1,"time":"2025-01-02T03:04:05+02:00"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := parseLine(line)
		if err != nil {
			return
		}
		enc, err := appendRecord(nil, rec)
		if err != nil {
			t.Fatalf("parsed record does not encode: %v", err)
		}
		back, err := parseLine(bytes.TrimSuffix(enc, []byte("\n")))
		if err != nil {
			t.Fatalf("re-encoded line %s does not parse: %v", enc, err)
		}
		if !sameRecord(rec, back) {
			t.Fatalf("round trip changed %+v into %+v", rec, back)
		}
	})
}
