package metrics

import "strconv"

// The metrics of metrics.jsonl, by name: the one place they are spelled.
// The trainer writes them (its StepStats and warm-up stats), the charts
// and summary draw them, and 'trainer inspect' prints them.
const (
	// Loss is the optimised loss: the GRPO loss (pg_loss + kl_coef * kl -
	// entropy bonus), or the warm-up's NLL.
	Loss = "loss"
	// PGLoss is the PPO-clipped policy-gradient loss.
	PGLoss = "pg_loss"
	// KL is the KL estimate to the reference policy (grpo.kl_type, before
	// kl_coef).
	KL = "kl"
	// PPOKL is the approximate KL between the policy before and during the
	// update (mean of old - new log-probs).
	PPOKL = "ppo_kl"
	// Entropy is the mean entropy of the next-token distributions over the
	// response tokens.
	Entropy = "entropy"
	// ClipFrac is the share of response tokens whose ratio was clipped.
	ClipFrac = "clip_frac"
	// GradNorm is the gradient norm before clipping (mean over the applied
	// optimizer steps).
	GradNorm = "grad_norm"
	// LR is the learning rate of the last optimizer step.
	LR = "lr"
	// RewardMean is the mean training reward over every response.
	RewardMean = "reward/mean"
	// ZeroVarFrac is the share of groups whose G rewards are all equal (no
	// learning signal).
	ZeroVarFrac = "zero_var_frac"
	// ResponseLength is the mean response length in tokens.
	ResponseLength = "response_length"
	// RowsTrained is the number of responses the update trained on.
	RowsTrained = "rows_trained"
	// Skipped counts updates skipped for a non-finite loss or gradients (a
	// GRPO step with no informative group counts as one).
	Skipped = "skipped"
	// StepSeconds is the wall time of the step.
	StepSeconds = "step_s"
	// RolloutSeconds is the wall time of the step's rollouts (vision,
	// prefill, decoding; on several devices, until the last one is done).
	RolloutSeconds = "rollout_s"
	// RolloutTokensPerS is the rollout throughput: the tokens decoded by
	// every device per second of RolloutSeconds.
	RolloutTokensPerS = "rollout_tokens_per_s"
	// Devices is the number of devices that rolled out a GRPO step's
	// prompts (device.devices; 1 on one device).
	Devices = "devices"
	// DeviceRolloutTokensPerSAll is the glob (PlotSpec.Series) of every
	// DeviceRolloutTokensPerS.
	DeviceRolloutTokensPerSAll = RolloutTokensPerS + "/dev*"
	// H2DBytes and D2HBytes are the bytes a step copied from the host to
	// the device and back (device.resident: the policy's transfer ledger,
	// every kind together; absent on the host-fed path).
	H2DBytes = "h2d_bytes"
	D2HBytes = "d2h_bytes"
	// SFTStep and GRPOStep are the completed warm-up and GRPO steps when
	// the record was written.
	SFTStep  = "sft_step"
	GRPOStep = "grpo_step"
	// HeldoutMetric is the metric of the held-out evaluations (records of
	// phase "eval") that the reward chart and the summary draw as points.
	HeldoutMetric = "viubench/overall"
)

// Metrics per data source: reward/<source>/mean and reward/<source>/std.
const (
	rewardPrefix = "reward/"
	meanSuffix   = "/mean"
	stdSuffix    = "/std"
	// SourceRewardMeans is the glob (PlotSpec.Series) of every
	// SourceRewardMean.
	SourceRewardMeans = rewardPrefix + "*" + meanSuffix
)

// DeviceRolloutTokensPerS is the name of the rollout throughput of the
// device listed as id in device.devices (a run on several devices): the
// tokens it decoded per second of its own share's wall time.
func DeviceRolloutTokensPerS(id int) string { return RolloutTokensPerS + "/dev" + strconv.Itoa(id) }

// SourceRewardMean is the name of the mean training reward of a data
// source.
func SourceRewardMean(source string) string { return rewardPrefix + source + meanSuffix }

// SourceRewardStd is the name of the standard deviation of the training
// rewards of a data source.
func SourceRewardStd(source string) string { return rewardPrefix + source + stdSuffix }

// SourceZeroVarFrac is the name of the share of a data source's groups
// whose G rewards are all equal.
func SourceZeroVarFrac(source string) string { return ZeroVarFrac + "/" + source }

// Dynamic sampling's refill (grpo.max_fill_rounds) and the curriculum
// (curriculum.enabled), in the records of phase grpo.
const (
	// FillPromptsDrawn is the number of prompts a step rolled out, over
	// all its rounds.
	FillPromptsDrawn = "fill/prompts_drawn"
	// FillRounds is the number of extra rollout rounds a step ran to
	// refill its batch with informative groups.
	FillRounds = "fill/rounds"
	// CurriculumChanges is the number of knobs the curriculum moved after
	// the step (the next step draws with them).
	CurriculumChanges = "curriculum/changes"
)

// CurriculumLevel is the name of a data source's difficulty level (0
// easiest .. 2 hardest) the step drew with.
func CurriculumLevel(source string) string { return "curriculum/" + source + "/level" }

// MixWeight is the name of a data source's mix weight the step drew with.
func MixWeight(source string) string { return "mix/" + source }

// Evaluation metrics besides the held-out VIUBench (records of phase
// "eval"): data.val_files scored with the training rewards, and each file
// of eval.files under eval/<name>/.
const (
	// ValRewardMean is the mean reward of the greedy answers to
	// data.val_files.
	ValRewardMean = "val/reward/mean"
	// EvalScore is an evaluation file's mean score over its rows (each
	// row scored by its kind: VIUBench, option letter, IoU, reward).
	EvalScore = "score"
	// EvalVIUBench is the VIUBench overall score of a file's VIUBench rows.
	EvalVIUBench = "viubench_overall"
	// EvalMCAccuracy is the accuracy of a file's multiple-choice rows.
	EvalMCAccuracy = "mc_accuracy"
	// EvalTGMIoU and EvalTGR03/05/07 are the mean IoU and the recalls at
	// IoU 0.3, 0.5 and 0.7 of a file's temporal-grounding rows.
	EvalTGMIoU = "tg_miou"
	EvalTGR03  = "tg_r0.3"
	EvalTGR05  = "tg_r0.5"
	EvalTGR07  = "tg_r0.7"
	// EvalFileScores is the glob (PlotSpec.Series) of every file's
	// EvalScore.
	EvalFileScores = evalPrefix + "*/" + EvalScore
	evalPrefix     = "eval/"
	valPrefix      = "val/"
)

// ValSourceRewardMean is the name of the mean reward of the greedy answers
// to the data.val_files rows of a data source.
func ValSourceRewardMean(source string) string { return valPrefix + SourceRewardMean(source) }

// EvalFileMetric is the name of a metric of the evaluation file name
// (eval.files): eval/<name>/<metric>.
func EvalFileMetric(name, metric string) string { return evalPrefix + name + "/" + metric }

// EvalSourceReward is the metric (for EvalFileMetric) of the mean reward
// of a file's rows of a pretext data source.
func EvalSourceReward(source string) string { return source + "_reward" }

// Headline lists the metrics a person looks at first, in the order 'trainer
// inspect' prints them.
func Headline() []string {
	return []string{Loss, RewardMean, ZeroVarFrac, KL, Entropy, GradNorm, LR, StepSeconds}
}
