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

// GroundingQuestion returns the anomaly-grounding question for a
// perturbation described by the one-sentence description desc.
func GroundingQuestion(desc string) string {
	desc = strings.TrimSpace(desc)
	if desc != "" && !strings.HasSuffix(desc, ".") {
		desc += "."
	}
	return desc + " Find the precise time interval, in seconds, during which this change is visible." +
		" Reply with the interval only, in the format <start>-<end> (seconds), for example 14.5-26.2."
}

// CountingQuestion returns the object-counting question.
func CountingQuestion() string {
	return "Circles, squares and triangles have been drawn on some frames of this video." +
		" Their colours and rotations differ, and they may appear on a single frame or on several frames," +
		" with several shapes on the same frame." +
		" Count all the circles, all the squares and all the triangles over the whole video." +
		" Reply with the three counts only, in the format circles,squares,triangles, for example 3,0,2."
}

// JigsawQuestion returns the temporal-jigsaw question for n clips.
func JigsawQuestion(n int) string {
	return fmt.Sprintf("The %d clips above are consecutive pieces of one video, cut into equal parts and shown in shuffled order."+
		" Restore the playing order: going through the original video from beginning to end, give the number of the clip that shows each piece."+
		" Reply with the %d digits only, without spaces, for example %s.", n, n, jigsawExample(n))
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

// BuildPrompt returns the chat messages (system + user) for a question.
func BuildPrompt(question string, numVideos int, clips bool) []Message {
	return []Message{
		{Role: "system", Content: SystemPrompt},
		{Role: "user", Content: UserContent(question, numVideos, clips)},
	}
}
