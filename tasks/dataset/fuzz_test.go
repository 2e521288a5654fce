package dataset

import (
	"bytes"
	"strings"
	"testing"

	"github.com/videossr/videossr-go/tasks"
)

func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"", "0/1", "3/4", "4/4", "-1/2", "a/b", "1", " 2 / 3 ", "0/0", "99999999999999999999/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := ParseShard(s)
		if err != nil {
			return
		}
		if sh.Count < 1 || sh.Index < 0 || sh.Index >= sh.Count {
			t.Fatalf("%q parsed to invalid %+v", s, sh)
		}
		if s != "" {
			again, err := ParseShard(sh.String())
			if err != nil || again != sh {
				t.Fatalf("%q -> %v -> %v, %v", s, sh, again, err)
			}
		}
	})
}

// FuzzScanJSONL feeds arbitrary bytes to the JSONL reader: it may reject
// them, but must not panic, and every accepted row must re-encode and read
// back to the same sample.
func FuzzScanJSONL(f *testing.F) {
	f.Add([]byte(`{"id":"a","data_source":"jigsaw","frames":[["x.jpg"],["y.jpg"]],"answer":"21"}` + "\n\n"))
	f.Add([]byte(`{"id":"b","frames":["a.jpg","b.jpg"],"meta":{"grounding":{"start":3,"length":9}}}`))
	f.Add([]byte(`{"frames":[]}` + "\n" + `not json`))
	f.Add([]byte(`{"frames":[[1,2]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ScanJSONL(bytes.NewReader(data), func(raw []byte, s *tasks.Sample) error {
			row, err := MarshalRow(s)
			if err != nil {
				t.Fatalf("accepted row does not re-encode: %v", err)
			}
			back, err := ReadJSONL(bytes.NewReader(row))
			if err != nil || len(back) != 1 {
				t.Fatalf("re-encoded row %s does not read back: %v", row, err)
			}
			again, _ := MarshalRow(&back[0])
			if !bytes.Equal(row, again) {
				t.Fatalf("round trip changed the row:\n%s\n%s", row, again)
			}
			return nil
		})
	})
}

// FuzzReadVerlRows feeds arbitrary bytes to the Parquet reader: errors are
// fine, panics are not.
func FuzzReadVerlRows(f *testing.F) {
	var buf bytes.Buffer
	s := tasks.Sample{ID: "x", DataSource: tasks.Counting, Answer: "1,2,3", Frames: tasks.FrameList{Flat: []string{"a.jpg"}}}
	if err := WriteParquet(&buf, []tasks.Sample{s}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()/2])
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadVerlRows(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for i := range rows {
			if _, err := FromVerl(&rows[i]); err != nil && !strings.Contains(err.Error(), "meta") {
				t.Fatalf("row %d: %v", i, err)
			}
		}
	})
}
