package dataset

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"

	"github.com/videossr/videossr-go/tasks"
)

// Ability is the verl "ability" column value of our samples.
const Ability = "video_understanding"

// VerlRow is one row of a Parquet file in the verl RLHF layout (spec
// section 10). Fields beyond verl's own (extra_info.id, subtype, meta...)
// carry the rest of tasks.Sample, so a round trip loses nothing.
type VerlRow struct {
	DataSource  string        `parquet:"data_source"`
	Prompt      []VerlMessage `parquet:"prompt,list"`
	Videos      []VerlVideo   `parquet:"videos,list"`
	Ability     string        `parquet:"ability"`
	RewardModel VerlReward    `parquet:"reward_model"`
	ExtraInfo   VerlExtra     `parquet:"extra_info"`
}

// VerlMessage is one chat message.
type VerlMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

// VerlVideo is one video input: its frame files and sampling settings.
type VerlVideo struct {
	Video     []string `parquet:"video,list"`
	SampleFPS float64  `parquet:"sample_fps"`
	MaxPixels int64    `parquet:"max_pixels"`
	MinPixels int64    `parquet:"min_pixels"`
}

// VerlReward is the reward_model column: style "rule" and the ground truth.
type VerlReward struct {
	Style       string `parquet:"style"`
	GroundTruth string `parquet:"ground_truth"`
}

// VerlExtra is the extra_info column.
type VerlExtra struct {
	Split    string `parquet:"split"`
	Answer   string `parquet:"answer"`
	Question string `parquet:"question"`
	VideoID  string `parquet:"video_id"`
	Index    int64  `parquet:"index"`
	ID       string `parquet:"id"`
	Subtype  string `parquet:"subtype"`
	Video    string `parquet:"video"`
	// Meta is tasks.Meta as a JSON string.
	Meta string `parquet:"meta"`
}

// ToVerl converts a sample to its verl row.
func ToVerl(s *tasks.Sample) (VerlRow, error) {
	meta, err := json.Marshal(s.Meta)
	if err != nil {
		return VerlRow{}, fmt.Errorf("sample %s: encode meta: %w", s.ID, err)
	}
	row := VerlRow{
		DataSource:  string(s.DataSource),
		Ability:     Ability,
		RewardModel: VerlReward{Style: "rule", GroundTruth: s.Answer},
		ExtraInfo: VerlExtra{
			Split: s.Split, Answer: s.Answer, Question: s.Question, VideoID: s.VideoID,
			Index: int64(s.Index), ID: s.ID, Subtype: s.Subtype, Video: s.Video, Meta: string(meta),
		},
	}
	for _, m := range s.Prompt {
		row.Prompt = append(row.Prompt, VerlMessage{Role: m.Role, Content: m.Content})
	}
	for _, v := range s.Frames.Videos() {
		row.Videos = append(row.Videos, VerlVideo{
			Video: append([]string{}, v...), SampleFPS: s.FPS,
			MaxPixels: int64(s.MaxPixels), MinPixels: int64(s.MinPixels),
		})
	}
	return row, nil
}

// FromVerl converts a verl row back to a sample. Rows written by other
// tools may lack our extra_info fields; those stay empty. A row with more
// than one video input, or with jigsaw as its data source, gets per-clip
// frame lists.
func FromVerl(row *VerlRow) (tasks.Sample, error) {
	s := tasks.Sample{
		ID:         row.ExtraInfo.ID,
		DataSource: tasks.DataSource(row.DataSource),
		Subtype:    row.ExtraInfo.Subtype,
		Split:      row.ExtraInfo.Split,
		Index:      int(row.ExtraInfo.Index),
		Video:      row.ExtraInfo.Video,
		VideoID:    row.ExtraInfo.VideoID,
		Question:   row.ExtraInfo.Question,
		Answer:     row.RewardModel.GroundTruth,
	}
	if s.Answer == "" {
		s.Answer = row.ExtraInfo.Answer
	}
	for _, m := range row.Prompt {
		s.Prompt = append(s.Prompt, tasks.Message{Role: m.Role, Content: m.Content})
	}
	if len(row.Videos) > 0 {
		v0 := row.Videos[0]
		s.FPS, s.MaxPixels, s.MinPixels = v0.SampleFPS, int(v0.MaxPixels), int(v0.MinPixels)
	}
	if len(row.Videos) > 1 || s.DataSource == tasks.Jigsaw {
		s.Frames.Clips = make([][]string, len(row.Videos))
		for i, v := range row.Videos {
			s.Frames.Clips[i] = nonNil(v.Video)
		}
	} else if len(row.Videos) == 1 {
		s.Frames.Flat = nonNil(row.Videos[0].Video)
	} else {
		s.Frames.Flat = []string{}
	}
	if row.ExtraInfo.Meta != "" {
		if err := json.Unmarshal([]byte(row.ExtraInfo.Meta), &s.Meta); err != nil {
			return s, fmt.Errorf("row %s: extra_info.meta: %w", s.ID, err)
		}
	}
	return s, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// WriteParquet writes the samples as a verl-layout Parquet file (zstd
// compressed, one row group per 4096 rows).
func WriteParquet(w io.Writer, samples []tasks.Sample) error {
	pw := parquet.NewGenericWriter[VerlRow](w, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(4096))
	batch := make([]VerlRow, 0, 256)
	flush := func() error {
		if _, err := pw.Write(batch); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
		batch = batch[:0]
		return nil
	}
	for i := range samples {
		row, err := ToVerl(&samples[i])
		if err != nil {
			return err
		}
		batch = append(batch, row)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("close parquet: %w", err)
	}
	return nil
}

// ReadVerlRows reads every row of a verl-layout Parquet file. Columns the
// file lacks are left empty; columns we do not know are ignored.
func ReadVerlRows(r io.ReaderAt, size int64) (rows []VerlRow, err error) {
	// parquet-go panics on some schema mismatches; keep that inside.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("read parquet: incompatible file: %v", p)
		}
	}()
	rows, err = parquet.Read[VerlRow](r, size)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	return rows, nil
}

// ReadParquet reads the samples of a verl-layout Parquet file (a regular
// file of at most DefaultMaxDataBytes).
func ReadParquet(path string) ([]tasks.Sample, error) {
	f, err := OpenRegular(path, DefaultMaxDataBytes)
	if err != nil {
		return nil, fmt.Errorf("read parquet: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read parquet %s: %w", path, err)
	}
	rows, err := ReadVerlRows(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]tasks.Sample, len(rows))
	for i := range rows {
		if out[i], err = FromVerl(&rows[i]); err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", path, i, err)
		}
	}
	return out, nil
}
