package tasks

import (
	"strings"
	"testing"
)

func TestJigsawAnswerIsInversePermutation(t *testing.T) {
	cases := []struct {
		presented []int
		want      string
	}{
		{[]int{0, 1, 2, 3, 4, 5}, "123456"},
		{[]int{5, 4, 3, 2, 1, 0}, "654321"},
		// position 1 shows clip 2 (0-based 2), position 2 clip 0, position 3 clip 1
		{[]int{2, 0, 1}, "231"},
	}
	for _, c := range cases {
		if got := JigsawAnswer(c.presented); got != c.want {
			t.Errorf("JigsawAnswer(%v) = %s, want %s", c.presented, got, c.want)
		}
	}
}

func TestGenerateJigsawClipsAndAnswer(t *testing.T) {
	frames := tinyFrames(48, 8, 6, 1)
	for _, n := range []int{6, 8} {
		g, err := GenerateJigsaw(Source{Frames: frames, FPS: 4}, JigsawConfig{Clips: n}, NewRand(7))
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Clips) != n || g.Frames != nil {
			t.Fatalf("n=%d: %d clips", n, len(g.Clips))
		}
		m := g.Meta.Jigsaw
		if m.ClipLen != 48/n || m.Clips != n {
			t.Fatalf("meta %+v", m)
		}
		// The frames of presented position p are chronological clip Presented[p].
		for p, clip := range g.Clips {
			for j, f := range clip {
				if !f.Equal(frames[m.Presented[p]*m.ClipLen+j]) {
					t.Fatalf("n=%d position %d frame %d is not the source frame", n, p, j)
				}
			}
		}
		// Digit k of the answer: where chronological clip k is shown.
		for k := range n {
			pos := int(g.Answer[k]-'0') - 1
			if m.Presented[pos] != k {
				t.Fatalf("answer %s digit %d points at position %d showing clip %d", g.Answer, k+1, pos+1, m.Presented[pos])
			}
		}
		if g.Subtype != "jigsaw_"+string(rune('0'+n)) || g.DataSource != Jigsaw {
			t.Fatalf("labels %s %s", g.DataSource, g.Subtype)
		}
		if !strings.Contains(g.Question, string(rune('0'+n))+" clips") {
			t.Fatalf("question does not name the clip count: %s", g.Question)
		}
	}
}

func TestJigsawPermutationsUniform(t *testing.T) {
	frames := tinyFrames(48, 2, 2, 2)
	const draws = 12000
	counts := map[string]int{}
	rng := NewRand(99)
	for range draws {
		g, err := GenerateJigsaw(Source{Frames: frames, FPS: 1}, JigsawConfig{Clips: 4}, rng)
		if err != nil {
			t.Fatal(err)
		}
		counts[g.Answer]++
	}
	if len(counts) != 24 {
		t.Fatalf("saw %d of the 24 orders of 4 clips", len(counts))
	}
	var obs []int
	for _, c := range counts {
		obs = append(obs, c)
	}
	checkUniform(t, "jigsaw n=4 orders", obs)

	// n = 6: each chronological clip is equally likely at each position.
	var pos [6][6]int
	for range draws {
		g, _ := GenerateJigsaw(Source{Frames: frames, FPS: 1}, JigsawConfig{Clips: 6}, rng)
		for k := range 6 {
			pos[k][g.Answer[k]-'1']++
		}
	}
	for k := range 6 {
		checkUniform(t, "jigsaw n=6 position of clip", pos[k][:])
	}
}

func TestJigsawRejectsBadInput(t *testing.T) {
	frames := tinyFrames(47, 4, 4, 3)
	if _, err := GenerateJigsaw(Source{Frames: frames, FPS: 1}, JigsawConfig{Clips: 6}, NewRand(1)); err == nil {
		t.Fatal("47 frames cannot make 6 equal clips")
	}
	if _, err := GenerateJigsaw(Source{Frames: frames[:40], FPS: 1}, JigsawConfig{Clips: 10}, NewRand(1)); err == nil || !strings.Contains(err.Error(), "jigsaw.clips") {
		t.Fatalf("10 clips: %v", err)
	}
	if _, err := GenerateJigsaw(Source{Frames: frames[:42], FPS: 0}, JigsawConfig{Clips: 6}, NewRand(1)); err == nil {
		t.Fatal("fps 0 accepted")
	}
}
