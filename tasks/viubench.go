package tasks

import "github.com/videossr/videossr-go/reward"

// VIUBench subtype names (spec section 7): the reward package's, which
// scores by them.
const (
	SubtypeCountingEasy         = reward.SubtypeCountingEasy
	SubtypeCountingHard         = reward.SubtypeCountingHard
	SubtypeGroundingChannelSwap = reward.SubtypeGroundingChannelSwap
	SubtypeGroundingRotate180   = reward.SubtypeGroundingRotate180
	SubtypeGroundingZoomOut     = reward.SubtypeGroundingZoomOut
	SubtypeGroundingMirror      = reward.SubtypeGroundingMirror
	SubtypeGroundingShuffle     = reward.SubtypeGroundingShuffle
	SubtypeJigsawEasy           = reward.SubtypeJigsawEasy
	SubtypeJigsawHard           = reward.SubtypeJigsawHard
)

// ViubenchSampling returns the VIUBench frame settings: 48 frames up to
// 512x512 pixels.
func ViubenchSampling() SamplingConfig {
	s := DefaultSamplingConfig()
	s.MaxPixels = 512 * 512
	return s
}

// ViubenchSpecs returns the nine VIUBench subtypes in their canonical order.
func ViubenchSpecs() []TaskSpec {
	base := TaskSpec{Grounding: DefaultGroundingConfig(), Counting: DefaultCountingConfig(), Jigsaw: DefaultJigsawConfig()}
	counting := func(name string, frames, inst int) TaskSpec {
		s := base
		s.Subtype, s.Task = name, Counting
		s.Counting.MaxFramesPerClass, s.Counting.MaxInstances = frames, inst
		return s
	}
	grounding := func(name, kind string) TaskSpec {
		s := base
		s.Subtype, s.Task = name, Grounding
		s.Grounding.Perturbations = []string{kind}
		return s
	}
	jigsaw := func(name string, clips int) TaskSpec {
		s := base
		s.Subtype, s.Task = name, Jigsaw
		s.Jigsaw.Clips = clips
		return s
	}
	return []TaskSpec{
		counting(SubtypeCountingEasy, 3, 3),
		counting(SubtypeCountingHard, 4, 4),
		grounding(SubtypeGroundingChannelSwap, "channel_swap"),
		grounding(SubtypeGroundingRotate180, "rotate180"),
		grounding(SubtypeGroundingZoomOut, "zoom_out"),
		grounding(SubtypeGroundingMirror, "mirror"),
		grounding(SubtypeGroundingShuffle, "shuffle"),
		jigsaw(SubtypeJigsawEasy, 6),
		jigsaw(SubtypeJigsawHard, 8),
	}
}
