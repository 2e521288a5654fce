package tokenizer

import (
	"bytes"
	"strings"
	"testing"
)

func TestTrain(t *testing.T) {
	corpus := []string{
		"the cat sat on the mat, the cat ate the rat",
		"a cat and a rat sat together; 123 cats",
		"<s>the cat<s>",
	}
	a, err := Train(corpus, 280, []string{"<s>", "</s>"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Train(corpus, 280, []string{"<s>", "</s>"})
	if err != nil {
		t.Fatal(err)
	}
	ja, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	jb, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ja, jb) {
		t.Error("Train is not deterministic")
	}
	if a.VocabSize() != 280 {
		t.Errorf("VocabSize = %d", a.VocabSize())
	}
	if id, ok := a.TokenID("<s>"); !ok || id != 278 {
		t.Errorf("<s> id %d, %v", id, ok)
	}
	if id, ok := a.TokenID("</s>"); !ok || id != 279 {
		t.Errorf("</s> id %d, %v", id, ok)
	}
	// The most frequent words become single tokens; specials are never
	// merged with text.
	for _, w := range []string{" cat", "the", " the"} {
		if ids := a.Encode(w); len(ids) != 1 {
			t.Errorf("%q is %v", w, ids)
		}
	}
	if _, ok := a.TokenID("s>"); ok {
		t.Error("a merge crossed a special token")
	}
	for _, s := range corpus {
		if got := a.Decode(a.Encode(s)); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
	// Every merged token comes from one merge.
	if a.m.sharedMergeIDs {
		t.Error("Train produced a token from two merges")
	}
}

func TestTrainErrors(t *testing.T) {
	cases := []struct {
		name     string
		corpus   []string
		size     int
		specials []string
		want     string
	}{
		{"too small", []string{"abc"}, 200, nil, "leaves"},
		{"specials eat the bytes", []string{"abc"}, 257, []string{"<a>", "<b>"}, "leaves"},
		{"repeated special", []string{"abc"}, 300, []string{"<a>", "<a>"}, "repeated"},
		{"empty special", []string{"abc"}, 300, []string{""}, "empty"},
		{"corpus too small", []string{"abc abc"}, 300, nil, "corpus gives only"},
	}
	for _, c := range cases {
		if _, err := Train(c.corpus, c.size, c.specials); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
