package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// fileSections keeps the parts of a tokenizer.json that Marshal writes
// back as they were read (compacted JSON; nil for null).
type fileSections struct {
	version, truncation, padding                     json.RawMessage
	normalizer, preTokenizer, postProcessor, decoder json.RawMessage
	dropout, unkToken, fuseUnk, modelTy              json.RawMessage
}

// fileJSON is the top level of a tokenizer.json.
type fileJSON struct {
	Version       json.RawMessage `json:"version"`
	Truncation    json.RawMessage `json:"truncation"`
	Padding       json.RawMessage `json:"padding"`
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

// modelJSON is the "model" object of a BPE tokenizer.json.
type modelJSON struct {
	Type                    json.RawMessage `json:"type"`
	Dropout                 json.RawMessage `json:"dropout"`
	UnkToken                json.RawMessage `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 json.RawMessage `json:"fuse_unk"`
	ByteFallback            *bool           `json:"byte_fallback"`
	IgnoreMerges            *bool           `json:"ignore_merges"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// compact returns raw without insignificant space, or nil for null.
func compact(raw json.RawMessage) (json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// typed is any tokenizer.json component with a "type" tag.
type typed struct {
	Type string `json:"type"`
}

// Parse reads a Hugging Face tokenizer.json holding a byte-level BPE model
// (model.type "BPE", a ByteLevel pre-tokenizer and decoder). Features it
// does not implement give an error wrapping ErrUnsupported rather than
// silently different ids.
func Parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("parsing tokenizer json: %w", err)
	}
	if isNull(f.Model) {
		return nil, fmt.Errorf("parsing tokenizer json: no model")
	}
	var mj modelJSON
	if err := json.Unmarshal(f.Model, &mj); err != nil {
		return nil, fmt.Errorf("parsing tokenizer model: %w", err)
	}
	if !isNull(mj.Type) {
		var ty string
		if err := json.Unmarshal(mj.Type, &ty); err != nil || ty != "BPE" {
			return nil, fmt.Errorf("%w: model type %s (only BPE)", ErrUnsupported, mj.Type)
		}
	}
	if mj.Vocab == nil {
		return nil, fmt.Errorf("parsing tokenizer model: no vocab")
	}
	if !isNull(mj.Dropout) {
		var d float64
		if err := json.Unmarshal(mj.Dropout, &d); err != nil || d != 0 {
			return nil, fmt.Errorf("%w: BPE dropout %s", ErrUnsupported, mj.Dropout)
		}
	}
	if mj.ContinuingSubwordPrefix != nil && *mj.ContinuingSubwordPrefix != "" {
		return nil, fmt.Errorf("%w: continuing_subword_prefix %q", ErrUnsupported, *mj.ContinuingSubwordPrefix)
	}
	if mj.EndOfWordSuffix != nil && *mj.EndOfWordSuffix != "" {
		return nil, fmt.Errorf("%w: end_of_word_suffix %q", ErrUnsupported, *mj.EndOfWordSuffix)
	}
	if mj.ByteFallback != nil && *mj.ByteFallback {
		return nil, fmt.Errorf("%w: byte_fallback (not a byte-level model)", ErrUnsupported)
	}
	merges, err := parseMerges(mj.Merges)
	if err != nil {
		return nil, err
	}
	nfc, err := parseNormalizer(f.Normalizer)
	if err != nil {
		return nil, err
	}
	sp, err := parsePreTokenizer(f.PreTokenizer)
	if err != nil {
		return nil, err
	}
	if err := parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	var file fileSections
	for _, s := range []struct {
		dst *json.RawMessage
		src json.RawMessage
	}{
		{&file.version, f.Version}, {&file.truncation, f.Truncation}, {&file.padding, f.Padding},
		{&file.normalizer, f.Normalizer}, {&file.preTokenizer, f.PreTokenizer},
		{&file.postProcessor, f.PostProcessor}, {&file.decoder, f.Decoder},
		{&file.dropout, mj.Dropout}, {&file.unkToken, mj.UnkToken}, {&file.fuseUnk, mj.FuseUnk},
		{&file.modelTy, mj.Type},
	} {
		c, err := compact(s.src)
		if err != nil {
			return nil, fmt.Errorf("parsing tokenizer json: %w", err)
		}
		*s.dst = c
	}
	ignore := mj.IgnoreMerges != nil && *mj.IgnoreMerges
	t, err := build(mj.Vocab, merges, f.AddedTokens, nfc, sp, ignore, file)
	if err != nil {
		return nil, fmt.Errorf("parsing tokenizer json: %w", err)
	}
	return t, nil
}

// parseMerges reads the merges in either format: ["a", "b"] pairs
// (tokenizers >= 0.20) or "a b" strings.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("parsing merges: %w", err)
	}
	out := make([][2]string, len(items))
	for k, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return nil, fmt.Errorf("parsing merges: merge %d %q is not two tokens separated by one space", k, s)
			}
			out[k] = [2]string{a, b}
			continue
		}
		var p []string
		if err := json.Unmarshal(it, &p); err != nil || len(p) != 2 {
			return nil, fmt.Errorf("parsing merges: merge %d %s is neither \"a b\" nor [\"a\", \"b\"]", k, it)
		}
		out[k] = [2]string{p[0], p[1]}
	}
	return out, nil
}

// parseNormalizer accepts no normalizer, NFC, or a Sequence of those.
func parseNormalizer(raw json.RawMessage) (nfc bool, err error) {
	if isNull(raw) {
		return false, nil
	}
	var n struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return false, fmt.Errorf("parsing normalizer: %w", err)
	}
	switch n.Type {
	case "NFC":
		return true, nil
	case "Sequence":
		for _, sub := range n.Normalizers {
			ok, err := parseNormalizer(sub)
			if err != nil {
				return false, err
			}
			nfc = nfc || ok
		}
		return nfc, nil
	}
	return false, fmt.Errorf("%w: normalizer %q (only NFC)", ErrUnsupported, n.Type)
}

// byteLevelJSON is the ByteLevel pre-tokenizer or decoder.
type byteLevelJSON struct {
	Type           string `json:"type"`
	AddPrefixSpace bool   `json:"add_prefix_space"`
	UseRegex       *bool  `json:"use_regex"`
}

// splitJSON is the Split pre-tokenizer.
type splitJSON struct {
	Type    string `json:"type"`
	Pattern struct {
		Regex  *string `json:"Regex"`
		String *string `json:"String"`
	} `json:"pattern"`
	Behavior string `json:"behavior"`
	Invert   bool   `json:"invert"`
}

// parsePreTokenizer accepts ByteLevel alone (GPT-2 regex) or a Sequence of
// one Split with a known regex followed by ByteLevel without regex.
func parsePreTokenizer(raw json.RawMessage) (splitter, error) {
	if isNull(raw) {
		return splitter{}, fmt.Errorf("%w: no pre-tokenizer (a byte-level BPE needs ByteLevel)", ErrUnsupported)
	}
	var ty typed
	if err := json.Unmarshal(raw, &ty); err != nil {
		return splitter{}, fmt.Errorf("parsing pre-tokenizer: %w", err)
	}
	switch ty.Type {
	case "ByteLevel":
		bl, err := parseByteLevel(raw)
		if err != nil {
			return splitter{}, err
		}
		if bl.UseRegex == nil || *bl.UseRegex {
			return splitter{kind: splitGPT2}, nil
		}
		return splitter{kind: splitNone}, nil
	case "Sequence":
		var seq struct {
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return splitter{}, fmt.Errorf("parsing pre-tokenizer: %w", err)
		}
		if len(seq.Pretokenizers) == 1 {
			return parsePreTokenizer(seq.Pretokenizers[0])
		}
		if len(seq.Pretokenizers) != 2 {
			return splitter{}, fmt.Errorf("%w: pre-tokenizer sequence of %d (only Split then ByteLevel)", ErrUnsupported, len(seq.Pretokenizers))
		}
		sp, err := parseSplit(seq.Pretokenizers[0])
		if err != nil {
			return splitter{}, err
		}
		bl, err := parseByteLevel(seq.Pretokenizers[1])
		if err != nil {
			return splitter{}, err
		}
		if bl.UseRegex == nil || *bl.UseRegex {
			return splitter{}, fmt.Errorf("%w: ByteLevel with use_regex after Split", ErrUnsupported)
		}
		return sp, nil
	}
	return splitter{}, fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, ty.Type)
}

// parseByteLevel reads a ByteLevel component.
func parseByteLevel(raw json.RawMessage) (byteLevelJSON, error) {
	var bl byteLevelJSON
	if err := json.Unmarshal(raw, &bl); err != nil {
		return bl, fmt.Errorf("parsing ByteLevel: %w", err)
	}
	if bl.Type != "ByteLevel" {
		return bl, fmt.Errorf("%w: %q where ByteLevel was expected", ErrUnsupported, bl.Type)
	}
	if bl.AddPrefixSpace {
		return bl, fmt.Errorf("%w: ByteLevel add_prefix_space", ErrUnsupported)
	}
	return bl, nil
}

// parseSplit reads a Split pre-tokenizer with one of the known patterns.
func parseSplit(raw json.RawMessage) (splitter, error) {
	var s splitJSON
	if err := json.Unmarshal(raw, &s); err != nil {
		return splitter{}, fmt.Errorf("parsing Split: %w", err)
	}
	if s.Type != "Split" {
		return splitter{}, fmt.Errorf("%w: pre-tokenizer %q before ByteLevel (only Split)", ErrUnsupported, s.Type)
	}
	if s.Pattern.Regex == nil {
		return splitter{}, fmt.Errorf("%w: Split without a Regex pattern", ErrUnsupported)
	}
	if s.Behavior != "Isolated" || s.Invert {
		return splitter{}, fmt.Errorf("%w: Split behavior %q invert %v (only Isolated, false)", ErrUnsupported, s.Behavior, s.Invert)
	}
	switch *s.Pattern.Regex {
	case QwenPattern:
		return splitter{kind: splitQwen, maxDigits: 1}, nil
	case Llama3Pattern:
		return splitter{kind: splitQwen, maxDigits: 3}, nil
	case GPT2Pattern:
		return splitter{kind: splitGPT2}, nil
	}
	return splitter{}, fmt.Errorf("%w: Split regex %q", ErrUnsupported, *s.Pattern.Regex)
}

// parseDecoder accepts the ByteLevel decoder.
func parseDecoder(raw json.RawMessage) error {
	if isNull(raw) {
		return fmt.Errorf("%w: no decoder (a byte-level BPE needs ByteLevel)", ErrUnsupported)
	}
	var ty typed
	if err := json.Unmarshal(raw, &ty); err != nil {
		return fmt.Errorf("parsing decoder: %w", err)
	}
	if ty.Type != "ByteLevel" {
		return fmt.Errorf("%w: decoder %q (only ByteLevel)", ErrUnsupported, ty.Type)
	}
	return nil
}

// objWriter writes a JSON object with keys in a fixed order.
type objWriter struct {
	b *bytes.Buffer
	n int
}

func newObj(b *bytes.Buffer) *objWriter { b.WriteByte('{'); return &objWriter{b: b} }

func (o *objWriter) key(k string) {
	if o.n > 0 {
		o.b.WriteByte(',')
	}
	o.n++
	writeString(o.b, k)
	o.b.WriteByte(':')
}

// raw writes key: value, with null for a nil value.
func (o *objWriter) raw(k string, v json.RawMessage) {
	o.key(k)
	if v == nil {
		o.b.WriteString("null")
	} else {
		o.b.Write(v)
	}
}

func (o *objWriter) end() { o.b.WriteByte('}') }

// writeString writes s as a JSON string without HTML escaping (as Hugging
// Face does: "<|im_start|>" stays readable).
func writeString(b *bytes.Buffer, s string) {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	if plain {
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
		return
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes; bytes.Buffer writes never fail
	b.Truncate(b.Len() - 1)
}

func boolJSON(v bool) json.RawMessage {
	if v {
		return json.RawMessage("true")
	}
	return json.RawMessage("false")
}

// Marshal returns the tokenizer as a Hugging Face tokenizer.json (two-space
// indentation, vocab in id order, merges as pairs), which Parse and
// Hugging Face tokenizers read back to the same tokenizer.
func (t *Tokenizer) Marshal() ([]byte, error) {
	var b bytes.Buffer
	top := newObj(&b)
	f := t.file
	version := f.version
	if version == nil {
		version = json.RawMessage(`"1.0"`)
	}
	top.raw("version", version)
	top.raw("truncation", f.truncation)
	top.raw("padding", f.padding)
	top.key("added_tokens")
	b.WriteByte('[')
	for k, a := range t.added {
		if k > 0 {
			b.WriteByte(',')
		}
		o := newObj(&b)
		o.raw("id", json.RawMessage(fmt.Sprint(a.ID)))
		o.key("content")
		writeString(&b, a.Content)
		o.raw("single_word", boolJSON(a.SingleWord))
		o.raw("lstrip", boolJSON(a.LStrip))
		o.raw("rstrip", boolJSON(a.RStrip))
		o.raw("normalized", boolJSON(a.Normalized))
		o.raw("special", boolJSON(a.Special))
		o.end()
	}
	b.WriteByte(']')
	top.raw("normalizer", f.normalizer)
	top.raw("pre_tokenizer", f.preTokenizer)
	top.raw("post_processor", f.postProcessor)
	top.raw("decoder", f.decoder)
	top.key("model")
	m := newObj(&b)
	ty := f.modelTy
	if ty == nil {
		ty = json.RawMessage(`"BPE"`)
	}
	m.raw("type", ty)
	m.raw("dropout", f.dropout)
	m.raw("unk_token", f.unkToken)
	m.raw("continuing_subword_prefix", json.RawMessage(`""`))
	m.raw("end_of_word_suffix", json.RawMessage(`""`))
	fuse := f.fuseUnk
	if fuse == nil {
		fuse = json.RawMessage("false")
	}
	m.raw("fuse_unk", fuse)
	m.raw("byte_fallback", json.RawMessage("false"))
	m.raw("ignore_merges", boolJSON(t.m.ignoreMerges))
	m.key("vocab")
	type entry struct {
		tok string
		id  int
	}
	entries := make([]entry, 0, len(t.m.vocab))
	for tok, id := range t.m.vocab {
		entries = append(entries, entry{tok, id})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].id < entries[j].id })
	vo := newObj(&b)
	for _, e := range entries {
		vo.raw(e.tok, json.RawMessage(fmt.Sprint(e.id)))
	}
	vo.end()
	m.key("merges")
	b.WriteByte('[')
	for k, mg := range t.m.mergeList {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		writeString(&b, mg[0])
		b.WriteByte(',')
		writeString(&b, mg[1])
		b.WriteByte(']')
	}
	b.WriteByte(']')
	m.end()
	top.end()
	var out bytes.Buffer
	out.Grow(b.Len() * 2)
	if err := json.Indent(&out, b.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("marshalling tokenizer: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}
