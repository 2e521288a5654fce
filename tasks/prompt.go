package tasks

import (
	"fmt"
	"strings"
)

// VideoPlaceholder marks where a video input goes in the user message.
const VideoPlaceholder = "<video>"

// SystemPrompt is the one system message of every task: answer directly
// from the video, with no reasoning.
const SystemPrompt = "Watch the video and reply with the final answer only, directly, without explaining or reasoning."

// GroundingQuestion returns the anomaly-grounding question of
// DefaultPrompts for a perturbation described by the one-sentence
// description desc (a period is added when it lacks one).
func GroundingQuestion(desc string) string {
	desc = strings.TrimSpace(desc)
	if desc != "" && !strings.HasSuffix(desc, ".") {
		desc += "."
	}
	p := DefaultPrompts()
	return p.groundingText(desc)
}

// CountingQuestion returns the object-counting question of DefaultPrompts.
func CountingQuestion() string {
	p := DefaultPrompts()
	return p.CountingQuestion()
}

// JigsawQuestion returns the temporal-jigsaw question of DefaultPrompts
// for n clips.
func JigsawQuestion(n int) string {
	p := DefaultPrompts()
	return p.JigsawQuestion(n)
}

// jigsawExample is a fixed example order for n clips: the odd clip numbers
// then the even ones (e.g. 135246 for n = 6).
func jigsawExample(n int) string {
	var b strings.Builder
	for k := 1; k <= n; k += 2 {
		b.WriteByte(byte('0' + k))
	}
	for k := 2; k <= n; k += 2 {
		b.WriteByte(byte('0' + k))
	}
	return b.String()
}

// UserContent builds the user message for a question with numVideos video
// inputs: a single placeholder line before the question, or one
// "Clip i: <video>" line per clip when clips is true.
func UserContent(question string, numVideos int, clips bool) string {
	var b strings.Builder
	if clips {
		for i := 1; i <= numVideos; i++ {
			fmt.Fprintf(&b, "Clip %d: %s\n", i, VideoPlaceholder)
		}
	} else {
		for i := 0; i < numVideos; i++ {
			b.WriteString(VideoPlaceholder)
			b.WriteByte('\n')
		}
	}
	b.WriteString(question)
	return b.String()
}

// BuildPrompt returns the chat messages (system + user) of DefaultPrompts
// for a question.
func BuildPrompt(question string, numVideos int, clips bool) []Message {
	p := DefaultPrompts()
	return p.Messages(question, numVideos, clips)
}
