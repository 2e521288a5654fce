package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/model"
	"github.com/videossr/videossr-go/model/tokenizer"
)

// tokenizeOptions are the flags of `trainer tokenize`.
type tokenizeOptions struct {
	tokenizer   string
	decode      bool
	skipSpecial bool
	tokens      bool
}

func newTokenizeCmd() *cobra.Command {
	var o tokenizeOptions
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Encode text to token ids or decode ids to text (JSONL on stdin to JSONL on stdout)",
		Long: `tokenize reads one JSON value per line on stdin and writes one JSON object per
line on stdout, to check what the model really sees.

Encoding (default): each line is a JSON string (or an object with a "text"
string); the output is {"text":...,"ids":[...]}. No special tokens are added,
and special tokens written in the text (<|im_start|>, <|video_pad|>, ...) are
recognised. --tokens adds "tokens", the vocabulary form of each id.

Decoding (--decode): each line is a JSON array of ids (or an object with an
"ids" array); the output is {"ids":[...],"text":...}. --skip-special leaves
the special tokens out of the text.

--tokenizer is "tiny" (the embedded tokenizer of the default model), a
tokenizer.json file, or a directory holding one (a Hugging Face model
directory). Blank lines are skipped; a bad line stops the command with an
error naming its line number.`,
		Example: `  echo '"<|im_start|>user\nHello<|im_end|>"' | trainer tokenize
  echo '"3,0,2"' | trainer tokenize --tokenizer third_party/tokenizer-qwen3/package/models --tokens
  echo '[1017, 872]' | trainer tokenize --decode`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tk, err := model.LoadTokenizer(o.tokenizer)
			if err != nil {
				return err
			}
			return runTokenize(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), tk, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.tokenizer, "tokenizer", "tiny", `"tiny", a tokenizer.json file, or a directory holding one`)
	f.BoolVar(&o.decode, "decode", false, "read id arrays and write their text")
	f.BoolVar(&o.skipSpecial, "skip-special", false, "with --decode: leave special tokens out of the text")
	f.BoolVar(&o.tokens, "tokens", false, `when encoding: add "tokens", the vocabulary form of each id`)
	return cmd
}

// encodedLine is one output line of encoding.
type encodedLine struct {
	Text   string   `json:"text"`
	IDs    []int    `json:"ids"`
	Tokens []string `json:"tokens,omitempty"`
}

// decodedLine is one output line of decoding.
type decodedLine struct {
	IDs  []int  `json:"ids"`
	Text string `json:"text"`
}

// runTokenize is the body of `trainer tokenize`.
func runTokenize(ctx context.Context, in io.Reader, out io.Writer, tk *tokenizer.Tokenizer, o tokenizeOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	err := forEachLine(in, func(lineNo int, line []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var v any
		if o.decode {
			ids, err := parseIDsLine(line, tk.VocabSize())
			if err != nil {
				return fmt.Errorf("stdin line %d: %w", lineNo, err)
			}
			text := tk.Decode(ids)
			if o.skipSpecial {
				text = tk.DecodeSkipSpecial(ids)
			}
			v = decodedLine{IDs: ids, Text: text}
		} else {
			text, err := parseTextLine(line)
			if err != nil {
				return fmt.Errorf("stdin line %d: %w", lineNo, err)
			}
			e := encodedLine{Text: text, IDs: tk.Encode(text)}
			if o.tokens {
				e.Tokens = make([]string, len(e.IDs))
				for k, id := range e.IDs {
					e.Tokens[k], _ = tk.Token(id)
				}
			}
			v = e
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("writing stdout: %w", err)
		}
		return nil
	})
	if ferr := w.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing stdout: %w", ferr)
	}
	return err
}

// parseTextLine reads a JSON string, or an object with a "text" string.
func parseTextLine(line []byte) (string, error) {
	line = bytes.TrimSpace(line)
	if len(line) > 0 && line[0] == '{' {
		var obj struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(line, &obj); err != nil {
			return "", fmt.Errorf("not a JSON string or object with \"text\": %w", err)
		}
		if obj.Text == nil {
			return "", fmt.Errorf("object without a \"text\" string")
		}
		return *obj.Text, nil
	}
	var s string
	if err := json.Unmarshal(line, &s); err != nil {
		return "", fmt.Errorf("not a JSON string (quote the text): %w", err)
	}
	return s, nil
}

// parseIDsLine reads a JSON array of ids, or an object with an "ids" array,
// and checks every id is below vocab.
func parseIDsLine(line []byte, vocab int) ([]int, error) {
	line = bytes.TrimSpace(line)
	var ids []int
	if len(line) > 0 && line[0] == '{' {
		var obj struct {
			IDs *[]int `json:"ids"`
		}
		if err := json.Unmarshal(line, &obj); err != nil {
			return nil, fmt.Errorf("not a JSON array of ids or object with \"ids\": %w", err)
		}
		if obj.IDs == nil {
			return nil, fmt.Errorf("object without an \"ids\" array")
		}
		ids = *obj.IDs
	} else if err := json.Unmarshal(line, &ids); err != nil {
		return nil, fmt.Errorf("not a JSON array of ids: %w", err)
	}
	if ids == nil {
		ids = []int{}
	}
	for k, id := range ids {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("id %d (position %d) outside the vocabulary [0,%d)", id, k, vocab)
		}
	}
	return ids, nil
}
