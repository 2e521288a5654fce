package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/reward"
)

// viubenchScoreOptions are the flags of `trainer viubench score`.
type viubenchScoreOptions struct {
	preds     []string
	names     []string
	markdown  bool
	reference bool
	counts    bool
	out       string
}

func newViubenchScoreCmd() *cobra.Command {
	var o viubenchScoreOptions
	cmd := &cobra.Command{
		Use:   "score --pred FILE [--pred FILE2 ...]",
		Short: "Score VIUBench predictions and print the paper's Table 1",
		Long: `score reads VIUBench predictions and prints the layout of the paper's
Table 1: Counting (Easy, Hard) | Grounding (Ch.Swap, Rot.180, Zoom-out,
Mirror, Shuffle) | Jigsaw (Easy, Hard) | Overall, scores x100, one row per
--pred file.

Each --pred file is JSONL, one question per line, with the fields
  "subtype"   one of counting_easy, counting_hard, grounding_channel_swap,
              grounding_rotate180, grounding_zoom_out, grounding_mirror,
              grounding_shuffle, jigsaw_easy, jigsaw_hard
  "response"  the model's output
  "answer"    the ground truth (or "ground_truth" when "answer" is absent)
Other fields are ignored (and kept in --out).

Scoring (the paper's VIUBench protocol): counting = fraction of the three
classes counted exactly (every run of digits in the response, exactly three
required); grounding = IoU of the first "number - number" found anywhere in
the response with the answer interval (lenient about the text around it);
jigsaw = 1 when the trimmed response is exactly the clip order. Overall is
the unweighted mean of the nine subtype means; subtypes without questions
are shown as "-" and the overall is then marked "*" (mean over the present
subtypes only).

A bad row (invalid JSON, unknown subtype, missing field, malformed answer)
is an error naming the file and line.`,
		Example: `  trainer viubench score --pred preds.jsonl
  trainer viubench score --pred base.jsonl --pred trained.jsonl --name before --name after --reference
  trainer viubench score --pred preds.jsonl --markdown --out scored.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runViubenchScore(cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.preds, "pred", nil, "predictions JSONL file (subtype, response, answer per line); repeat for one table row per file")
	f.StringArrayVar(&o.names, "name", nil, "row name for the --pred file at the same position; repeat once per --pred (default: the file name without extension)")
	f.BoolVar(&o.markdown, "markdown", false, "print the table as Markdown instead of aligned text")
	f.BoolVar(&o.reference, "reference", false, "add the paper's published overall scores (random 16.1, Qwen3-VL-8B 19.5, VideoSSR-8B 51.9, GPT-5 58.7, Gemini-2.5-Pro 56.7)")
	f.BoolVar(&o.counts, "counts", false, "add a row with the number of questions per subtype under each row")
	f.StringVar(&o.out, "out", "", `write every input row with "run" (the row name) and "score" (in [0,1]) added to this JSONL file`)
	_ = cmd.MarkFlagRequired("pred")
	return cmd
}

// runViubenchScore is the body of `trainer viubench score`.
func runViubenchScore(stdout, stderr io.Writer, o viubenchScoreOptions) error {
	if len(o.preds) == 0 {
		return errors.New("viubench score: give at least one --pred FILE")
	}
	if len(o.names) != 0 && len(o.names) != len(o.preds) {
		return fmt.Errorf("viubench score: %d --name values for %d --pred files (give one name per file, or none)", len(o.names), len(o.preds))
	}
	var outW *bufio.Writer
	var outFile *os.File
	var rowsOut io.Writer // nil unless --out: a nil *bufio.Writer must not reach it
	if o.out != "" {
		f, err := os.Create(o.out)
		if err != nil {
			return fmt.Errorf("viubench score: %w", err)
		}
		outFile = f
		defer outFile.Close()
		outW = bufio.NewWriter(f)
		rowsOut = outW
	}
	table := reward.VIUBenchTable{Reference: o.reference, Counts: o.counts}
	for i, path := range o.preds {
		name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		if len(o.names) != 0 {
			name = o.names[i]
		}
		rep, err := scoreViubenchFile(path, name, rowsOut)
		if err != nil {
			return fmt.Errorf("viubench score: %w", err)
		}
		fmt.Fprintf(stderr, "%s: %d questions scored as %q\n", path, rep.Total(), name)
		table.Rows = append(table.Rows, rep)
	}
	if outW != nil {
		if err := outW.Flush(); err != nil {
			return fmt.Errorf("viubench score: writing %s: %w", o.out, err)
		}
		if err := outFile.Close(); err != nil {
			return fmt.Errorf("viubench score: writing %s: %w", o.out, err)
		}
	}
	text := table.Table()
	if o.markdown {
		text = table.Markdown()
	}
	_, err := io.WriteString(stdout, text)
	return err
}

// scoreViubenchFile scores one predictions file into a report named name,
// writing the scored rows to out when it is not nil.
func scoreViubenchFile(path, name string, out io.Writer) (reward.VIUBenchReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return reward.VIUBenchReport{}, err
	}
	defer f.Close()
	var acc reward.VIUBenchAccumulator
	rows := 0
	err = forEachLine(f, func(lineNo int, line []byte) error {
		obj, err := parseJSONObject(line)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, lineNo, err)
		}
		score, subtype, err := scoreViubenchRow(obj)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", path, lineNo, err)
		}
		if err := acc.Add(subtype, score); err != nil {
			return fmt.Errorf("%s line %d: %w", path, lineNo, err)
		}
		rows++
		if out == nil {
			return nil
		}
		if err := errors.Join(obj.set("run", name), obj.set("score", score)); err != nil {
			return err
		}
		return writeObject(out, obj)
	})
	if err != nil {
		return reward.VIUBenchReport{}, err
	}
	if rows == 0 {
		return reward.VIUBenchReport{}, fmt.Errorf("%s: no rows to score", path)
	}
	return acc.Report(name), nil
}

// scoreViubenchRow scores one VIUBench row and returns its subtype.
func scoreViubenchRow(obj *jsonObject) (float64, string, error) {
	subtype, err := obj.requireString("subtype")
	if err != nil {
		return 0, "", err
	}
	resp, err := obj.requireString("response")
	if err != nil {
		return 0, "", err
	}
	answer, ok, err := obj.optString("answer")
	if err != nil {
		return 0, "", err
	}
	if !ok {
		if answer, ok, err = obj.optString("ground_truth"); err != nil {
			return 0, "", err
		}
		if !ok {
			return 0, "", errors.New(`missing field "answer" (or "ground_truth")`)
		}
	}
	s, err := reward.VIUBenchScore(subtype, resp, answer)
	if err != nil {
		return 0, "", err
	}
	return s, subtype, nil
}
