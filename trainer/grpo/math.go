package grpo

import (
	"cmp"
	"fmt"
	"math"

	"github.com/videossr/videossr-go/model"
)

// GroupStats summarises the rewards of one group of G responses to a prompt.
type GroupStats struct {
	Mean, Std float64 // Std is the unbiased (n-1) standard deviation
	ZeroVar   bool    // every response got the same reward: no learning signal
}

// GroupAdvantages computes GRPO's outcome advantages for rewards laid out
// group by group (len(rewards) = groups x g), as verl does:
// A_i = (r_i - mean_g) / (std_g + eps) with the unbiased standard deviation,
// or A_i = r_i - mean_g when normByStd is false. A group of one response has
// mean 0 and std 1 (verl's convention).
func GroupAdvantages(rewards []float64, g int, normByStd bool, eps float64) ([]float64, []GroupStats, error) {
	if g < 1 || len(rewards)%g != 0 {
		return nil, nil, fmt.Errorf("grpo: %d rewards do not split into groups of %d", len(rewards), g)
	}
	adv := make([]float64, len(rewards))
	stats := make([]GroupStats, len(rewards)/g)
	for k := range stats {
		rs := rewards[k*g : (k+1)*g]
		st := groupStats(rs)
		stats[k] = st
		for i, r := range rs {
			a := r - st.Mean
			if normByStd {
				a /= st.Std + eps
			}
			adv[k*g+i] = a
		}
	}
	return adv, stats, nil
}

func groupStats(rs []float64) GroupStats {
	n := len(rs)
	if n == 1 {
		return GroupStats{Mean: 0, Std: 1, ZeroVar: true}
	}
	var sum float64
	for _, r := range rs {
		sum += r
	}
	mean := sum / float64(n)
	var ss float64
	zero := true
	for _, r := range rs {
		ss += (r - mean) * (r - mean)
		if r != rs[0] {
			zero = false
		}
	}
	return GroupStats{Mean: mean, Std: math.Sqrt(ss / float64(n-1)), ZeroVar: zero}
}

// ZeroVarianceFraction is the share of groups whose responses all got the
// same reward (the statistic that motivates VideoSSR's partial-credit
// rewards).
func ZeroVarianceFraction(stats []GroupStats) float64 {
	if len(stats) == 0 {
		return 0
	}
	n := 0
	for _, s := range stats {
		if s.ZeroVar {
			n++
		}
	}
	return float64(n) / float64(len(stats))
}

// meanStd returns the mean and the population standard deviation of xs
// (0, 0 when empty).
func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}

// KL estimators of verl (x = logp - logp_ref per token), the names of
// model.LossConfig.KLType.
const (
	KLK1  = model.KLK1  // x
	KLAbs = model.KLAbs // |x|
	KLK2  = model.KLK2  // x^2 / 2
	KLK3  = model.KLK3  // low-variance: e^u - u - 1 with u = clamp(-x, -20, 20), clamped to [-10, 10]
)

// KLEstimate returns the per-token KL estimate of kind for log-probs logp
// under the policy and ref under the reference.
func KLEstimate(kind string, logp, ref float64) (float64, error) {
	x := logp - ref
	switch kind {
	case KLK1, "kl":
		return x, nil
	case KLAbs:
		return math.Abs(x), nil
	case KLK2, "mse":
		return x * x / 2, nil
	case KLK3, "low_var_kl":
		u := math.Max(-20, math.Min(20, -x))
		k := math.Exp(u) - u - 1
		return math.Max(-10, math.Min(10, k)), nil
	}
	return 0, fmt.Errorf("grpo: unknown KL estimator %q (want k1, abs, k2 or k3)", kind)
}

// Loss aggregation modes (verl's agg_loss), the names of
// model.LossConfig.Agg.
const (
	AggTokenMean        = model.AggTokenMean
	AggSeqMeanTokenSum  = model.AggSeqMeanTokenSum
	AggSeqMeanTokenMean = model.AggSeqMeanTokenMean
)

// AggregateLoss reduces per-token losses l [B][T] under mask m [B][T] as
// verl does: token-mean = sum(l*m)/(sum(m)+1e-8); seq-mean-token-sum = mean
// over rows of sum_t l*m; seq-mean-token-mean = mean over rows of
// sum_t l*m / sum_t m.
func AggregateLoss(mode string, l, m [][]float64) (float64, error) {
	if len(l) != len(m) {
		return 0, fmt.Errorf("grpo: %d loss rows, %d mask rows", len(l), len(m))
	}
	var total, count float64
	var rowSum float64
	for i := range l {
		if len(l[i]) != len(m[i]) {
			return 0, fmt.Errorf("grpo: row %d has %d losses and %d mask values", i, len(l[i]), len(m[i]))
		}
		var s, n float64
		for t := range l[i] {
			s += l[i][t] * m[i][t]
			n += m[i][t]
		}
		total += s
		count += n
		if mode == AggSeqMeanTokenMean {
			if n > 0 {
				rowSum += s / n
			}
		} else {
			rowSum += s
		}
	}
	switch mode {
	case AggTokenMean:
		return total / (count + 1e-8), nil
	case AggSeqMeanTokenSum, AggSeqMeanTokenMean:
		if len(l) == 0 {
			return 0, nil
		}
		return rowSum / float64(len(l)), nil
	}
	return 0, fmt.Errorf("grpo: unknown loss aggregation %q (want %s, %s or %s)", mode, AggTokenMean, AggSeqMeanTokenSum, AggSeqMeanTokenMean)
}

// PolicyLoss is verl's vanilla PPO loss of one token: with d = clamp(logp -
// old, -20, 20) and rho = e^d, max(-A*rho, -A*clip(rho, 1-lo, 1+hi)), then
// for A < 0 the dual clip min(., -A*c) (c = 0 turns it off, as
// model.LossConfig.ClipC does). It also reports whether the clipped branch
// was taken.
func PolicyLoss(adv, logp, old, lo, hi, c float64) (loss float64, clipped bool) {
	d := math.Max(-20, math.Min(20, logp-old))
	rho := math.Exp(d)
	l1 := -adv * rho
	l2 := -adv * math.Max(1-lo, math.Min(1+hi, rho))
	l := math.Max(l1, l2)
	if adv < 0 && c > 0 {
		l = math.Min(l, -adv*c)
	}
	return l, l2 > l1
}

// LossTerms are the loss of a batch and its diagnostics, as the training
// graph reports them (model.StepResult).
type LossTerms struct {
	Loss     float64 // pg + kl_coef * kl - entropy_coef * entropy (aggregated by lc.Agg)
	PG       float64 // PPO-clipped policy loss, aggregated by lc.Agg
	KL       float64 // KL estimate to the reference, aggregated by lc.Agg (0 with KL type none)
	Entropy  float64 // token-mean entropy
	ClipFrac float64 // token share where the clipped branch was taken
	ApproxKL float64 // token-mean of old - logp (the update's KL to the old policy)
}

// Loss is the GRPO loss of the training graph (model.LossConfig mode grpo)
// written in plain Go from PolicyLoss, KLEstimate and AggregateLoss: the
// reference the ONNX loss is tested against. Rows are responses: adv [B];
// logp, old, ref, ent and mask [B][R] (ref may be nil with KL type none).
func Loss(lc model.LossConfig, adv []float64, logp, old, ref, ent, mask [][]float64) (LossTerms, error) {
	B := len(logp)
	if len(adv) != B || len(old) != B || len(ent) != B || len(mask) != B || (lc.KLType != model.KLNone && len(ref) != B) {
		return LossTerms{}, fmt.Errorf("grpo: loss over %d rows: %d advantages, %d old, %d ref, %d entropy, %d mask rows", B, len(adv), len(old), len(ref), len(ent), len(mask))
	}
	pg, kl, clip, akl := make([][]float64, B), make([][]float64, B), make([][]float64, B), make([][]float64, B)
	for i := range B {
		R := len(logp[i])
		if len(old[i]) != R || len(ent[i]) != R || len(mask[i]) != R || (lc.KLType != model.KLNone && len(ref[i]) != R) {
			return LossTerms{}, fmt.Errorf("grpo: loss row %d: the inputs differ in length", i)
		}
		pg[i], kl[i], clip[i], akl[i] = make([]float64, R), make([]float64, R), make([]float64, R), make([]float64, R)
		for t := range R {
			l, clipped := PolicyLoss(adv[i], logp[i][t], old[i][t], lc.ClipLow, lc.ClipHigh, lc.ClipC)
			pg[i][t] = l
			if clipped {
				clip[i][t] = 1
			}
			akl[i][t] = -math.Max(-20, math.Min(20, logp[i][t]-old[i][t]))
			if lc.KLType != model.KLNone {
				k, err := KLEstimate(lc.KLType, logp[i][t], ref[i][t])
				if err != nil {
					return LossTerms{}, err
				}
				kl[i][t] = k
			}
		}
	}
	var out LossTerms
	var err error
	agg := func(mode string, l [][]float64) float64 {
		v, e := AggregateLoss(mode, l, mask)
		err = cmp.Or(err, e)
		return v
	}
	out.PG = agg(lc.Agg, pg)
	if lc.KLType != model.KLNone {
		out.KL = agg(lc.Agg, kl)
	}
	out.Entropy = agg(AggTokenMean, ent)
	out.ClipFrac = agg(AggTokenMean, clip)
	out.ApproxKL = agg(AggTokenMean, akl)
	out.Loss = out.PG + lc.KLCoef*out.KL
	if lc.EntropyCoef != 0 {
		out.Loss -= lc.EntropyCoef * agg(lc.Agg, ent)
	}
	return out, err
}
