// Package reward computes the VideoSSR verifiable rewards and the evaluation
// scores of the paper (arXiv 2511.06281, sections 6, 7 and 9 of the project
// spec). It is pure Go and has no dependencies outside the standard library.
//
// Training rewards are answer-only (no format reward) and lie in [0,1]:
//
//   - Grounding: intersection over union of the predicted and the true
//     interval. The whole response must be "S-E", with optional white
//     space around the dash and the whole, as the reference's pattern
//     `^\s*([\d.]+)\s*-\s*([\d.]+)\s*$` (see Grounding).
//   - Counting: partial credit per shape class from the first three runs of
//     digits of the response; exactly three runs are required.
//   - Jigsaw: one minus the normalised displacement error of the predicted
//     clip order.
//
// Each has a strict (binary, exact-match) variant for the paper's Table 4
// ablation. Score and Func dispatch on the data source name ("grounding",
// "counting", "jigsaw", and the same with the "strict:" prefix).
//
// Registry maps data source names to Scorers that score batches of Items
// and return errors (never a silent 0) for what they cannot score.
// DefaultRegistry holds the built-in rewards; programs embedding the
// trainer Register their own, and package reward/plugin runs a reward
// function as an external command (JSON lines on stdin/stdout). There is
// no global registry: the trainer passes one explicitly.
//
// The evaluation scorers follow the paper's protocol: MultipleChoice (first
// character of the output against the option letter), FirstInterval and IoU
// with GroundingAccumulator for temporal grounding (mIoU and R@0.3/0.5/0.7),
// and VIUBenchScore with VIUBenchAccumulator and VIUBenchTable for the
// paper's Table 1.
//
// Every parser works on arbitrary text without panicking; results are never
// NaN. Rewards and statistics are float64.
package reward
