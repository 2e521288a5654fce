package tasks

import (
	"encoding/json"
	"testing"
)

func FuzzParseDataSource(f *testing.F) {
	for _, s := range []string{"grounding", "counting", "jigsaw", "Jigsaw", "strict:jigsaw", "", "jigsaw "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ds, err := ParseDataSource(s)
		if err != nil {
			return
		}
		if string(ds) != s || (ds != Grounding && ds != Counting && ds != Jigsaw) {
			t.Fatalf("%q parsed to %q", s, ds)
		}
	})
}

// FuzzFrameListJSON: whatever UnmarshalJSON accepts marshals back to JSON
// that reads to the same list.
func FuzzFrameListJSON(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b"]`, `[["a"],["b","c"]]`, `[[]]`, `[1]`, `[["a"],"b"]`, `null`, `{}`, `[ ["x"] ]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var l FrameList
		if err := json.Unmarshal(data, &l); err != nil {
			return
		}
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("%s: re-encode: %v", data, err)
		}
		var back FrameList
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("%s -> %s does not read back: %v", data, out, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(out) {
			t.Fatalf("%s -> %s -> %s", data, out, again)
		}
	})
}
