package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/reward"
)

func newScoreCmd() *cobra.Command {
	var skipBad bool
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score model responses with the VideoSSR rewards (JSONL on stdin to JSONL on stdout)",
		Long: `score reads JSONL rows from stdin, each an object with

  "data_source"   the reward to use: grounding, counting, jigsaw, or the strict
                  (binary exact-match) variants strict:grounding,
                  strict:counting, strict:jigsaw
  "response"      the model's output
  "ground_truth"  the answer ("14.5-26.2", "3,0,2", "315264"); when absent,
                  "reward_model"."ground_truth" (verl layout) or "answer"
                  (trainer gen samples) is used

and writes every row back to stdout with all its fields, in their order,
plus "score" (a number in [0,1]). Blank lines are skipped. A summary (rows,
mean score per data source) goes to stderr.

A bad row (invalid JSON, unknown data source, missing or non-string field,
malformed ground truth) stops the command with an error naming its line,
unless --skip-bad is given.`,
		Example: `  trainer score < responses.jsonl > scored.jsonl
  trainer score --skip-bad < responses.jsonl > scored.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runScore(cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), skipBad)
		},
	}
	cmd.Flags().BoolVar(&skipBad, "skip-bad", false,
		`write a bad row with an "error" field (and no "score") instead of stopping; a line that is not a JSON object is written as {"line":N,"error":...,"raw":...}`)
	return cmd
}

// sourceStats accumulates the scores of one data source.
type sourceStats struct {
	rows int
	sum  float64
}

// runScore is the body of `trainer score`.
func runScore(in io.Reader, out, errw io.Writer, skipBad bool) error {
	w := bufio.NewWriter(out)
	stats := map[string]*sourceStats{}
	rows, bad := 0, 0
	err := forEachLine(in, func(lineNo int, line []byte) error {
		obj, err := parseJSONObject(line)
		if err != nil {
			if !skipBad {
				return fmt.Errorf("stdin line %d: %w", lineNo, err)
			}
			bad++
			o := &jsonObject{}
			if err := errors.Join(o.set("line", lineNo), o.set("error", err.Error()), o.set("raw", string(line))); err != nil {
				return err
			}
			return writeObject(w, o)
		}
		score, ds, err := scoreRow(obj)
		if err != nil {
			if !skipBad {
				return fmt.Errorf("stdin line %d: %w", lineNo, err)
			}
			bad++
			if err := obj.set("error", err.Error()); err != nil {
				return err
			}
			return writeObject(w, obj)
		}
		rows++
		st := stats[ds]
		if st == nil {
			st = &sourceStats{}
			stats[ds] = st
		}
		st.rows++
		st.sum += score
		if err := obj.set("score", score); err != nil {
			return err
		}
		return writeObject(w, obj)
	})
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing stdout: %w", ferr)
	}
	if err != nil {
		return err
	}
	return writeScoreSummary(errw, rows, bad, stats)
}

// scoreRow scores one row and returns the score and its data source.
func scoreRow(obj *jsonObject) (float64, string, error) {
	ds, err := obj.requireString("data_source")
	if err != nil {
		return 0, "", err
	}
	resp, err := obj.requireString("response")
	if err != nil {
		return 0, "", err
	}
	gt, err := groundTruth(obj)
	if err != nil {
		return 0, "", err
	}
	s, err := reward.Score(ds, resp, gt)
	if err != nil {
		return 0, "", err
	}
	return s, ds, nil
}

// groundTruth finds the answer of a row: "ground_truth", else
// "reward_model"."ground_truth", else "answer".
func groundTruth(obj *jsonObject) (string, error) {
	if s, ok, err := obj.optString("ground_truth"); ok || err != nil {
		return s, err
	}
	if raw, ok := obj.vals["reward_model"]; ok {
		var rm struct {
			GroundTruth *string `json:"ground_truth"`
		}
		if err := json.Unmarshal(raw, &rm); err == nil && rm.GroundTruth != nil {
			return *rm.GroundTruth, nil
		}
	}
	if s, ok, err := obj.optString("answer"); ok || err != nil {
		return s, err
	}
	return "", errors.New(`missing field "ground_truth" (also looked for "reward_model"."ground_truth" and "answer")`)
}

// writeScoreSummary prints rows and mean score per data source.
func writeScoreSummary(w io.Writer, rows, bad int, stats map[string]*sourceStats) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "data_source\trows\tmean score\n")
	total, sum := 0, 0.0
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		st := stats[k]
		fmt.Fprintf(tw, "%s\t%d\t%.4f\n", k, st.rows, st.sum/float64(st.rows))
		total += st.rows
		sum += st.sum
	}
	if total > 0 {
		fmt.Fprintf(tw, "all\t%d\t%.4f\n", total, sum/float64(total))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "scored %d rows, %d bad\n", rows, bad)
	return err
}

// forEachLine calls fn with every non-blank line of r (without its line
// ending) and its 1-based line number; lines may be of any length.
func forEachLine(r io.Reader, fn func(lineNo int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			if len(bytes.TrimSpace(line)) > 0 {
				if ferr := fn(lineNo, line); ferr != nil {
					return ferr
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading line %d: %w", lineNo, err)
		}
	}
}

// jsonObject is a JSON object that keeps its fields in input order, with
// the values kept as raw JSON.
type jsonObject struct {
	keys []string
	vals map[string]json.RawMessage
}

// parseJSONObject parses one JSON object (a whole JSONL line). A repeated
// key keeps its first position and its last value.
func parseJSONObject(line []byte) (*jsonObject, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("invalid row: want a JSON object, got %v", tok)
	}
	obj := &jsonObject{vals: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invalid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("invalid JSON: want a field name, got %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("invalid JSON in field %q: %w", key, err)
		}
		if _, dup := obj.vals[key]; !dup {
			obj.keys = append(obj.keys, key)
		}
		obj.vals[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("invalid JSON after the object: %w", err)
		}
		return nil, fmt.Errorf("invalid row: data after the JSON object (%v)", tok)
	}
	return obj, nil
}

// optString returns a string field; ok is false when it is absent, and an
// error says so when it is present but not a string.
func (o *jsonObject) optString(key string) (s string, ok bool, err error) {
	raw, ok := o.vals[key]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", true, fmt.Errorf("field %q must be a string, got %s", key, truncate(raw, 40))
	}
	return s, true, nil
}

// requireString returns a string field that must be present.
func (o *jsonObject) requireString(key string) (string, error) {
	s, ok, err := o.optString(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("missing field %q", key)
	}
	return s, nil
}

// set stores v (marshalled without HTML escaping) under key: in place when
// the key exists, else as the last field.
func (o *jsonObject) set(key string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encoding field %q: %w", key, err)
	}
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = bytes.TrimRight(buf.Bytes(), "\n")
	return nil
}

// appendJSON appends the object as one compact line of JSON.
func (o *jsonObject) appendJSON(buf *bytes.Buffer) error {
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return err
		}
		buf.Write(kb)
		buf.WriteByte(':')
		if err := json.Compact(buf, o.vals[k]); err != nil {
			return fmt.Errorf("field %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	buf.WriteByte('\n')
	return nil
}

// writeObject writes the object as one JSONL line.
func writeObject(w io.Writer, o *jsonObject) error {
	var buf bytes.Buffer
	if err := o.appendJSON(&buf); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// truncate shortens raw JSON for error messages.
func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "..."
}
