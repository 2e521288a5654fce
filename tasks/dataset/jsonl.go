// Package dataset stores and loads pretext samples: JSONL rows of
// tasks.Sample, Parquet files in the verl RLHF layout, frames as JPEG
// folders (each video's sampled frames once under sources/, the frames a
// sample changed under frames/<id>/), a manifest with per-sample checksums,
// and the resumable, sharded, parallel builder behind `trainer gen` and
// `trainer viubench build`.
//
// Entry points: Generate (pretext training data), BuildViubench, ReadDir
// and ReadJSONLFile (samples back), LoadFrames (a sample's frames),
// MakeSynthetic (procedural videos), Merge and Verify (shards, checksums),
// ExportVerl (Parquet with absolute paths).
//
// The package is pure Go and links no codec: videos are sampled, and frames
// encoded and decoded, through a Backend its callers pass in
// (tasks/dataset/opencv wraps tasks/video's OpenCV decoder and JPEG codec).
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/videossr/videossr-go/tasks"
)

// MarshalRow encodes a sample as one JSONL row (no trailing newline). HTML
// characters are not escaped, so "<video>" stays readable.
func MarshalRow(s *tasks.Sample) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode sample %s: %w", s.ID, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// WriteJSONL writes the samples as JSON lines.
func WriteJSONL(w io.Writer, samples []tasks.Sample) error {
	bw := bufio.NewWriter(w)
	for i := range samples {
		row, err := MarshalRow(&samples[i])
		if err != nil {
			return err
		}
		bw.Write(row)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write jsonl: %w", err)
	}
	return nil
}

// ScanJSONL calls fn for every row of a JSONL stream with the raw row bytes
// and the decoded sample; blank lines are skipped. Errors name the line.
func ScanJSONL(r io.Reader, fn func(raw []byte, s *tasks.Sample) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var s tasks.Sample
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("jsonl line %d: %w", line, err)
		}
		if err := fn(raw, &s); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read jsonl: %w", err)
	}
	return nil
}

// ReadJSONL reads every sample of a JSONL stream.
func ReadJSONL(r io.Reader) ([]tasks.Sample, error) {
	var out []tasks.Sample
	err := ScanJSONL(r, func(_ []byte, s *tasks.Sample) error {
		out = append(out, *s)
		return nil
	})
	return out, err
}
