package tasks

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/tasks/frame"
)

// GenerateJigsaw cuts the frames into cfg.Clips equal contiguous clips and
// shuffles them (uniformly over all orders). The answer's digit k is the
// 1-based position at which chronological clip k is presented. The clips
// share the frames of src (no pixel is changed, so none is copied).
func GenerateJigsaw(src Source, cfg JigsawConfig, rng *rand.Rand) (*Generated, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkSource(src, cfg.Clips); err != nil {
		return nil, err
	}
	n := cfg.Clips
	if len(src.Frames)%n != 0 {
		return nil, fmt.Errorf("%w: %d frames cannot be cut into %d equal clips", ErrBadSource, len(src.Frames), n)
	}
	clipLen := len(src.Frames) / n
	presented := rng.Perm(n)
	clips := make([][]*frame.Frame, n)
	for p, c := range presented {
		clips[p] = slices.Clone(src.Frames[c*clipLen : (c+1)*clipLen])
	}
	meta := baseMeta(src)
	meta.Jigsaw = &JigsawMeta{Clips: n, ClipLen: clipLen, Presented: presented}
	return &Generated{
		DataSource: Jigsaw,
		Subtype:    fmt.Sprintf("jigsaw_%d", n),
		Question:   JigsawQuestion(n),
		Answer:     JigsawAnswer(presented),
		Meta:       meta,
		Clips:      clips,
	}, nil
}

// JigsawAnswer returns the answer for a presentation order: presented[p]
// is the chronological clip (0-based) shown at position p; digit k of the
// answer is the position (1-based) of chronological clip k.
func JigsawAnswer(presented []int) string {
	pos := make([]int, len(presented))
	for p, c := range presented {
		pos[c] = p + 1
	}
	var b strings.Builder
	for _, p := range pos {
		fmt.Fprintf(&b, "%d", p)
	}
	return b.String()
}
