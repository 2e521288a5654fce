package tokenizer_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/videossr/videossr-go/model/tokenizer"
	"github.com/videossr/videossr-go/tasks"
	"github.com/videossr/videossr-go/tasks/perturb"
)

var update = flag.Bool("update", false, "rewrite tiny/tokenizer.json and the Qwen3 goldens in testdata")

// chat converts task messages to tokenizer messages.
func chat(msgs []tasks.Message) []tokenizer.Message {
	out := make([]tokenizer.Message, len(msgs))
	for k, m := range msgs {
		out[k] = tokenizer.Message{Role: m.Role, Content: m.Content}
	}
	return out
}

// taskQuestions returns the questions of the three tasks: grounding for
// every perturbation, counting, and jigsaw for 2..9 clips.
func taskQuestions() []string {
	var qs []string
	for _, k := range perturb.All() {
		qs = append(qs, tasks.GroundingQuestion(perturb.Describe(k)))
	}
	qs = append(qs, tasks.CountingQuestion())
	for n := 2; n <= 9; n++ {
		qs = append(qs, tasks.JigsawQuestion(n))
	}
	return qs
}

// taskPrompts returns full chat prompts of the three tasks, with the video
// placeholders expanded (pads video pad tokens each) and the generation
// prompt, followed by an answer and <|im_end|> when answer is set.
func taskPrompts(pads int, answers bool) ([]string, error) {
	type q struct {
		question, answer string
		videos           int
		clips            bool
	}
	var list []q
	for _, k := range perturb.All() {
		list = append(list, q{tasks.GroundingQuestion(perturb.Describe(k)), "14.5-26.2", 1, false})
	}
	list = append(list, q{tasks.CountingQuestion(), "3,0,2", 1, false})
	for n := 2; n <= 9; n++ {
		list = append(list, q{tasks.JigsawQuestion(n), "135246"[:min(n, 6)], n, true})
	}
	var out []string
	for _, it := range list {
		p := tokenizer.ChatTemplate(chat(tasks.BuildPrompt(it.question, it.videos, it.clips)), true)
		counts := make([]int, it.videos)
		for k := range counts {
			counts[k] = pads
		}
		p, err := tokenizer.ExpandVideos(p, tasks.VideoPlaceholder, counts)
		if err != nil {
			return nil, err
		}
		if answers {
			p += it.answer + tokenizer.ImEnd
		}
		out = append(out, p)
	}
	return out, nil
}

// tinyCorpus is the training corpus of the tiny tokenizer: the system
// prompt, the task questions and user messages, the rendered chat prompts
// with answers, and answers in the three formats.
func tinyCorpus() ([]string, error) {
	c := []string{tasks.SystemPrompt}
	for _, q := range taskQuestions() {
		c = append(c, q, tasks.UserContent(q, 1, false))
	}
	for n := 2; n <= 9; n++ {
		c = append(c, tasks.UserContent(tasks.JigsawQuestion(n), n, true))
	}
	prompts, err := taskPrompts(1, true)
	if err != nil {
		return nil, err
	}
	c = append(c, prompts...)
	for _, k := range perturb.All() {
		c = append(c, string(k), perturb.Family(k))
	}
	c = append(c, tinyExtraText...)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 64 {
		s := 30 * rng.Float64()
		c = append(c,
			fmt.Sprintf("%.1f-%.1f", s, s+1+20*rng.Float64()),
			fmt.Sprintf("%d,%d,%d", rng.IntN(10), rng.IntN(10), rng.IntN(10)),
			strings.Join(strings.Split(fmt.Sprint(rng.Perm(6)), " "), ""))
	}
	return c, nil
}

// tinyExtraText is general text about the project's tasks that widens the
// tiny tokenizer's vocabulary beyond the prompts (so that it reaches
// TinyVocabSize tokens).
var tinyExtraText = []string{
	"VideoSSR trains a multimodal language model on videos with reinforcement learning. " +
		"Instead of human labels, the rewards come from pretext tasks that are generated from the videos themselves: " +
		"anomaly grounding, object counting and temporal jigsaw puzzles.",
	"For anomaly grounding, a perturbation such as a colour shift, a rotation, a zoom, a mirror image, a shuffle or a stutter " +
		"is applied to a segment of consecutive frames, and the model must report the start and end time of that segment in seconds.",
	"For object counting, coloured circles, squares and triangles are drawn on some frames, and the model must count each kind of shape.",
	"For the temporal jigsaw, the video is cut into clips that are shown in a random order, and the model must restore the original order.",
	"The answers are verified automatically: the reward is the intersection over union of the predicted and true intervals, " +
		"a score for the counts, or the fraction of clips placed correctly.",
	"Training uses group relative policy optimisation: several responses are sampled for every prompt, their rewards are compared " +
		"within the group, and the policy is updated towards the better ones while a penalty keeps it close to the reference model.",
	"The benchmark measures how well a model understands motion, order, time, objects, colours, orientation and small details " +
		"across many kinds of video, from sports and cooking to driving, animals, nature, cities and games.",
	"Frames are sampled at a fixed rate, resized to a pixel budget, normalised, and split into patches that the vision encoder " +
		"turns into tokens; a text decoder then reads the prompt and writes the answer.",
	"Question: What happens first? Answer: The person opens the door, walks inside, picks up a cup and sits down at the table.",
	"Options: (A) left (B) right (C) up (D) down. Which direction does the car move? The correct option is B.",
}

// qwenCorpus is the parity corpus: hand-picked texts, the task prompts and
// seeded random strings over a mixed alphabet.
func qwenCorpus() ([]string, error) {
	c := []string{
		"Hello, world! This is a test.",
		"The quick brown fox jumps over the lazy dog.",
		"I'm sure they'll say it's fine, you've seen what we'd done, THEY'RE HERE, she'S",
		"don't DON'T Don'T can't ' s 'x ''s",
		"0 1 2 3 4 5 6 7 8 9",
		"12345678901234567890123456789012345678901234567890",
		"3.14159 2,718 1e-10 -42 +7 0x1F 1_000_000 $1,234.56 99%",
		"14.5-26.2", "3,0,2", "135246", "315264", "1-2", "0.0-0.0",
		"a  b   c    d     e",
		"    leading spaces", "trailing spaces    ", "   ",
		"tabs\tand\t\ttabs\t", "\t\t\tindented",
		"line1\nline2\n\nline4\r\nline5\rline6\n",
		"\n\n\n", " \n \n ", "x \n\n y", "end\n", "\r\n\r\n",
		"你好，世界！我们正在测试分词器。",
		"日本語のテキストとカタカナ、ひらがな。",
		"한국어 텍스트입니다.",
		"Привет, мир! Ελληνικά. עברית. العربية ١٢٣٤",
		"😀 😃 😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨",
		"café naïve résumé coöperate Ångström façade jalapeño",
		"e\u0301 a\u0308 o\u0302 combining marks, \u2126 ohm, \u212b angstrom",
		"ﬁ ﬂ ligatures, ½ ¾ fractions, Ⅻ roman, ² superscript",
		"non\u00a0breaking\u2009thin\u3000ideographic\u2028line\u2029para",
		"zero\u200bwidth\u200cjoiner\u200d",
		"func main() {\n\tfmt.Println(\"hi\")\n\tx := a[i] + b[j]*2 // comment\n}\n",
		"def f(x):\n    return {'a': [1, 2, 3], \"b\": None}  # py\n",
		"if (a && b || !c) { return a->b; } /* c */ <div class=\"x\">&amp;</div>",
		"https://example.com/path?q=1&r=two#frag user@example.org",
		"!!! ??? ... --- === *** ### @@@ ~~~",
		"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
		"<|vision_start|><|video_pad|><|video_pad|><|vision_end|>",
		"<|endoftext|><|im_end|><|im_start|>",
		"<|im_start|  <|im_end| |> <| <|im_startx <think>\nreasoning\n</think>\n\nanswer",
		"text<|image_pad|>text <tool_call>{}</tool_call>",
		tasks.SystemPrompt,
		strings.Repeat("a", 500),
		strings.Repeat(" ", 300),
		strings.Repeat("\n", 100),
		strings.Repeat("=", 200),
		strings.Repeat("ab ", 200),
		strings.Repeat("汉字", 300),
		strings.Repeat("9", 100),
	}
	c = append(c, taskQuestions()...)
	prompts, err := taskPrompts(3, true)
	if err != nil {
		return nil, err
	}
	c = append(c, prompts...)
	c = append(c, randomTexts(400)...)
	return c, nil
}

// randomAlphabet holds the pieces random texts are made of. It leaves out
// the few runes on which the JavaScript reference and Hugging Face's
// Oniguruma regex disagree (U+0085, U+FEFF, U+017F, letters newer than
// Unicode 15.0).
var randomAlphabet = []string{
	" ", " ", " ", "  ", "\t", "\n", "\n", "\r\n", "\r", "\v", "\f",
	"a", "b", "e", "s", "t", "l", "d", "m", "r", "v", "x", "A", "S", "T", "L", "D", "M", "R", "V",
	"the", "and", " of", "ing", "Hello", "WORLD", "s", "ll", "re", "ve",
	"'", "'", "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'Ll", "'d", "'x",
	"0", "1", "2", "5", "9", "42", "١", "½", "Ⅻ", "²",
	".", ",", "!", "?", "-", "_", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "\"", "#",
	"$", "%", "&", "*", "+", "=", ":", ";", "@", "^", "`", "|", "~", "...", "->",
	"é", "e\u0301", "ñ", "ß", "Ω", "\u2126", "ﬁ", "ü", "Å",
	"中", "文", "日本", "한", "😀", "👍🏽", "👨‍👩‍👧", "❤️", "\u0301",
	"\u00a0", "\u3000", "\u2028", "\u2009", "\u200b",
	"<|im_start|>", "<|im_end|>", "<|video_pad|>", "<think>", "<|im_start", "|>", "<|",
}

// randomTexts returns n seeded random texts of 1 to 40 alphabet pieces.
func randomTexts(n int) []string {
	rng := rand.New(rand.NewPCG(2024, 5))
	out := make([]string, n)
	for k := range out {
		var b strings.Builder
		for range 1 + rng.IntN(40) {
			b.WriteString(randomAlphabet[rng.IntN(len(randomAlphabet))])
		}
		out[k] = b.String()
	}
	return out
}
