package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/videossr/videossr-go/reward"
	"github.com/videossr/videossr-go/tasks/frame"
	"github.com/videossr/videossr-go/tasks/perturb"
	"github.com/videossr/videossr-go/tasks/video"
)

// allSpecs returns the training specs of every task, one grounding spec per
// perturbation kind (the paper's slow/fast included), and the nine
// VIUBench specs.
func allSpecs() []TaskSpec {
	specs := GenSpecs(DefaultGenConfig(), AllDataSources())
	for _, k := range perturb.All() {
		s := TaskSpec{Task: Grounding, Subtype: "grounding_" + string(k), Grounding: DefaultGroundingConfig()}
		s.Grounding.Perturbations = []string{string(k)}
		specs = append(specs, s)
	}
	return append(specs, ViubenchSpecs()...)
}

func TestViubenchSubtypesMatchReward(t *testing.T) {
	var names []string
	for _, s := range ViubenchSpecs() {
		names = append(names, s.Subtype)
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Subtype, err)
		}
	}
	if want := reward.VIUBenchSubtypes(); !slices.Equal(names, want) {
		t.Fatalf("VIUBench subtypes %v, the reward package scores %v", names, want)
	}
	for _, c := range []struct{ got, want string }{
		{string(Grounding), reward.SourceGrounding},
		{string(Counting), reward.SourceCounting},
		{string(Jigsaw), reward.SourceJigsaw},
	} {
		if c.got != c.want {
			t.Errorf("data source %q, reward dispatcher expects %q", c.got, c.want)
		}
	}
}

// TestAnswersMatchReward generates samples of every spec and checks that
// the reward package accepts each answer as ground truth, gives the answer
// itself full marks, and gives a wrong answer less.
func TestAnswersMatchReward(t *testing.T) {
	frames := tinyFrames(48, 24, 18, 3)
	donor := tinyFrames(48, 24, 18, 4)
	rng := NewRand(12)
	for _, spec := range allSpecs() {
		for i := range 30 {
			g, err := spec.Generate(Source{Frames: frames, FPS: 48 / 31.7, Donor: donor, DonorID: "donor"}, rng)
			if err != nil {
				t.Fatalf("%s: %v", spec.Key(), err)
			}
			ds := string(g.DataSource)
			if err := reward.ValidateGroundTruth(ds, g.Answer); err != nil {
				t.Fatalf("%s sample %d: %v", spec.Key(), i, err)
			}
			for _, src := range []string{ds, reward.StrictPrefix + ds} {
				if s, err := reward.Score(src, g.Answer, g.Answer); err != nil || s != 1 {
					t.Fatalf("%s: %s scores its own answer %q %g (%v)", spec.Key(), src, g.Answer, s, err)
				}
			}
			if s, _ := reward.Score(ds, wrongAnswer(g), g.Answer); s >= 1 {
				t.Fatalf("%s: wrong answer %q for %q scores %g", spec.Key(), wrongAnswer(g), g.Answer, s)
			}
			if slices.Contains(reward.VIUBenchSubtypes(), g.Subtype) {
				if s, err := reward.VIUBenchScore(g.Subtype, g.Answer, g.Answer); err != nil || s != 1 {
					t.Fatalf("%s: VIUBench scores its own answer %g (%v)", g.Subtype, s, err)
				}
			}
		}
	}
}

// wrongAnswer returns an answer of the right form that is not the truth.
func wrongAnswer(g *Generated) string {
	switch g.DataSource {
	case Grounding:
		m := g.Meta.Grounding
		start := (m.Start + 24) % 32
		return GroundingAnswer(start, 8, m.FPS)
	case Counting:
		c := slices.Clone(g.Meta.Counting.Counts)
		c[0] += 2
		return CountingAnswer(c)
	default:
		b := []byte(g.Answer)
		b[0], b[1] = b[1], b[0]
		return string(b)
	}
}

// TestSameSeedByteIdentical: the same frames, spec and seed give the same
// sample, byte for byte (question, answer, metadata, every pixel); another
// seed gives another sample.
func TestSameSeedByteIdentical(t *testing.T) {
	frames := tinyFrames(48, 20, 14, 8)
	donor := tinyFrames(48, 20, 14, 9)
	src := Source{Frames: frames, FPS: 1.7, Donor: donor, DonorID: "d"}
	encode := func(g *Generated) []byte {
		var b bytes.Buffer
		meta, err := json.Marshal(g.Meta)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|", g.DataSource, g.Subtype, g.Question, g.Answer, meta)
		for _, v := range g.Videos() {
			for _, f := range v {
				fmt.Fprintf(&b, "%dx%d:", f.W, f.H)
				b.Write(f.Pix)
			}
		}
		return b.Bytes()
	}
	for _, spec := range allSpecs() {
		differs := false
		for seed := uint64(1); seed <= 6; seed++ {
			a, err := spec.Generate(src, NewRand(seed))
			if err != nil {
				t.Fatalf("%s: %v", spec.Key(), err)
			}
			b, err := spec.Generate(src, NewRand(seed))
			if err != nil {
				t.Fatal(err)
			}
			ea, eb := encode(a), encode(b)
			if !bytes.Equal(ea, eb) {
				t.Fatalf("%s seed %d: two runs differ", spec.Key(), seed)
			}
			c, err := spec.Generate(src, NewRand(seed+100))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ea, encode(c)) {
				differs = true
			}
		}
		if !differs {
			t.Errorf("%s: six seeds all gave the same sample as seed+100", spec.Key())
		}
	}
}

// trainFrames returns 48 synthetic frames at the training size of a 4:3
// video (295x221, inside the 256x256 pixel budget).
func trainFrames(b *testing.B) []*frame.Frame {
	o := video.DefaultSynthOptions()
	o.Frames = 48
	fs, err := video.Synthesize(o)
	if err != nil {
		b.Fatal(err)
	}
	w, h := frame.FitPixels(o.W, o.H, 256*256, 128*128)
	for i, f := range fs {
		fs[i] = frame.Resize(f, w, h)
	}
	return fs
}

// BenchmarkGenerate measures each generator on 48 training-size frames
// (generation only: no decoding, no JPEG encoding). Grounding draws from
// the four training perturbations.
func BenchmarkGenerate(b *testing.B) {
	frames := trainFrames(b)
	src := Source{Frames: frames, FPS: 1.2}
	for _, spec := range GenSpecs(DefaultGenConfig(), AllDataSources()) {
		b.Run(string(spec.Task), func(b *testing.B) {
			rng := NewRand(1)
			for b.Loop() {
				if _, err := spec.Generate(src, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
