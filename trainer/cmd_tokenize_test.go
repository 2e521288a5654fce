package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/model/tokenizer"
)

// runTokenizeCmd runs cmd with stdin and returns stdout.
func runTokenizeCmd(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// tokenizeRow is one output line of `trainer tokenize`.
type tokenizeRow struct {
	Text   string   `json:"text"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens"`
}

// tokenizeRows parses the JSONL output.
func tokenizeRows(t *testing.T, s string) []tokenizeRow {
	t.Helper()
	var rows []tokenizeRow
	dec := json.NewDecoder(strings.NewReader(s))
	for dec.More() {
		var r tokenizeRow
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("output %q: %v", s, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestTokenizeCmdEncodeDecode(t *testing.T) {
	tiny, err := tokenizer.Tiny()
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{"<|im_start|>user\nCount the circles.<|im_end|>\n", "14.5-26.2", "", "héllo 😀\t\n"}
	var in strings.Builder
	for k, s := range texts {
		b, _ := json.Marshal(s)
		if k == 1 {
			b, _ = json.Marshal(map[string]string{"text": s})
		}
		in.Write(b)
		in.WriteString("\n\n") // blank lines are skipped
	}
	out, err := runTokenizeCmd(t, newTokenizeCmd(), in.String(), "--tokens")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"text":"<|im_start|>user`) || !strings.Contains(out, `"ids":[]`) {
		t.Errorf("output not as expected (HTML escaping, empty ids):\n%s", out)
	}
	rows := tokenizeRows(t, out)
	if len(rows) != len(texts) {
		t.Fatalf("%d rows for %d texts:\n%s", len(rows), len(texts), out)
	}
	var ids strings.Builder
	for k, r := range rows {
		want := tiny.Encode(texts[k])
		if r.Text != texts[k] || !slices.Equal(r.IDs, want) || len(r.Tokens) != len(want) {
			t.Errorf("row %d = %+v, want ids %v", k, r, want)
		}
		b, _ := json.Marshal(r.IDs)
		if k == 2 {
			b, _ = json.Marshal(map[string][]int{"ids": r.IDs})
		}
		ids.Write(b)
		ids.WriteByte('\n')
	}
	if id, _ := tiny.TokenID(tokenizer.ImStart); rows[0].IDs[0] != id || rows[0].Tokens[0] != tokenizer.ImStart {
		t.Errorf("special token not recognised: %v %q", rows[0].IDs, rows[0].Tokens)
	}
	out, err = runTokenizeCmd(t, newTokenizeCmd(), ids.String(), "--decode")
	if err != nil {
		t.Fatal(err)
	}
	back := tokenizeRows(t, out)
	if len(back) != len(texts) {
		t.Fatalf("%d decoded rows", len(back))
	}
	for k, r := range back {
		if r.Text != texts[k] {
			t.Errorf("decode row %d = %q, want %q", k, r.Text, texts[k])
		}
	}
	out, err = runTokenizeCmd(t, newTokenizeCmd(), ids.String()[:strings.Index(ids.String(), "\n")+1], "--decode", "--skip-special")
	if err != nil {
		t.Fatal(err)
	}
	if r := tokenizeRows(t, out); len(r) != 1 || r[0].Text != "user\nCount the circles.\n" {
		t.Errorf("--skip-special: %q", out)
	}
}

func TestTokenizeCmdBadLines(t *testing.T) {
	cases := []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"unquoted text", "\"ok\"\nhello\n", nil, "line 2"},
		{"object without text", `{"txt":"a"}`, nil, `"text"`},
		{"number", "12", nil, "line 1"},
		{"not ids", `"abc"`, []string{"--decode"}, "array of ids"},
		{"string id", `[1, "x"]`, []string{"--decode"}, "line 1"},
		{"id out of range", "[1]\n\n[5000]", []string{"--decode"}, "line 3: id 5000"},
		{"negative id", "[-1]", []string{"--decode"}, "outside the vocabulary"},
		{"object without ids", `{"id":[1]}`, []string{"--decode"}, `"ids"`},
		{"missing tokenizer", `"a"`, []string{"--tokenizer", "/nonexistent/tok"}, "/nonexistent/tok"},
		{"arguments", "", []string{"extra"}, "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runTokenizeCmd(t, newTokenizeCmd(), c.stdin, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestTokenizeCmdTokenizerPaths(t *testing.T) {
	tiny, err := tokenizer.Tiny()
	if err != nil {
		t.Fatal(err)
	}
	data, err := tiny.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, tokenizer.FileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(tiny.Encode("Reply with 3,0,2."))
	for _, p := range []string{dir, filepath.Join(dir, tokenizer.FileName), "tiny"} {
		out, err := runTokenizeCmd(t, newTokenizeCmd(), `"Reply with 3,0,2."`, "--tokenizer", p)
		if err != nil || !strings.Contains(out, `"ids":`+string(want)) {
			t.Errorf("--tokenizer %s: %q, %v", p, out, err)
		}
	}
	qwen := "../third_party/tokenizer-qwen3/package/models"
	if _, err := os.Stat(qwen); err != nil {
		t.Skipf("Qwen3 tokenizer not installed (%v): run scripts/setup.sh", err)
	}
	out, err := runTokenizeCmd(t, newTokenizeCmd(), `"<|im_start|>user"`, "--tokenizer", qwen)
	if err != nil || !strings.Contains(out, `"ids":[151644,872]`) {
		t.Errorf("Qwen3: %q, %v", out, err)
	}
}

func TestTokenizeCmdWiring(t *testing.T) {
	out, err := runTokenizeCmd(t, newRootCmd(), `"hi"`, "tokenize")
	if err != nil || !strings.Contains(out, `"ids":[`) {
		t.Fatalf("trainer tokenize: %q, %v", out, err)
	}
	help, err := runTokenizeCmd(t, newTokenizeCmd(), "", "--help")
	if err != nil || !strings.Contains(help, "--decode") || !strings.Contains(help, "--skip-special") {
		t.Fatalf("help: %v\n%s", err, help)
	}
}
