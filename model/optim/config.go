// Package optim implements AdamW with decoupled weight decay, global-norm
// gradient clipping and learning-rate schedules, over a params.Store, with
// the update arithmetic done by gorgonia.org/tensor dense ops.
//
// The update follows torch.optim.AdamW (single-tensor path) operation by
// operation, in float32 with float64 scalars cast once per step:
//
//	p  = p * (1 - lr*wd)                      (decay, before the Adam step)
//	m  = m + (1-β1) * (g - m)                 (lerp)
//	v  = v*β2 + (1-β2) * g * g
//	p  = p + (-lr/(1-β1^t)) * (m / (sqrt(v)/sqrt(1-β2^t) + eps))
//
// Clipping follows torch.nn.utils.clip_grad_norm_: the global L2 norm of all
// gradients is computed (accumulated in float64); when it exceeds the maximum,
// gradients are scaled by max/(norm+1e-6). A non-finite norm skips the step
// (verl's behaviour) and Step returns ErrNonFinite with the parameters and
// moments untouched.
package optim

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
)

// Schedule names accepted in Config.Schedule.
const (
	// ScheduleConstant is linear warmup (when WarmupSteps > 0) then a constant LR.
	ScheduleConstant = "constant"
	// ScheduleCosine is linear warmup then a half cosine down to MinLRRatio*LR.
	ScheduleCosine = "cosine"
)

// Config holds the optimizer hyperparameters. It is saved with the optimizer
// state, and a resume must use the same values.
type Config struct {
	// LR is the peak learning rate.
	LR float64 `json:"lr"`
	// Beta1 and Beta2 are the Adam moment decay rates, in [0, 1).
	Beta1 float64 `json:"beta1"`
	Beta2 float64 `json:"beta2"`
	// Eps is added to the denominator.
	Eps float64 `json:"eps"`
	// WeightDecay is the decoupled weight decay coefficient.
	WeightDecay float64 `json:"weight_decay"`
	// MaxGradNorm is the global L2 clipping threshold; 0 disables clipping
	// (non-finite gradients are still rejected).
	MaxGradNorm float64 `json:"max_grad_norm"`
	// Schedule is "constant" (the default when empty) or "cosine".
	Schedule string `json:"schedule"`
	// WarmupSteps is the number of linear warmup steps.
	WarmupSteps int `json:"warmup_steps"`
	// TotalSteps is the schedule length (required by "cosine").
	TotalSteps int `json:"total_steps"`
	// MinLRRatio is the final LR of the cosine schedule (and the warmup start)
	// as a fraction of LR, in [0, 1].
	MinLRRatio float64 `json:"min_lr_ratio"`
	// NoDecay lists path.Match patterns of parameter names exempt from
	// weight decay (e.g. "*.bias", "*norm.weight").
	NoDecay []string `json:"no_decay,omitempty"`
	// Frozen lists path.Match patterns of parameter names that are not
	// trained: they get no moments, and gradients for them are ignored.
	Frozen []string `json:"frozen,omitempty"`
}

// DefaultConfig returns the values VideoSSR's verl run used: lr 1e-6,
// betas (0.9, 0.999), eps 1e-8, weight decay 0.01 on every parameter, clip
// 1.0, constant schedule without warmup.
func DefaultConfig() Config {
	return Config{LR: 1e-6, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01, MaxGradNorm: 1.0, Schedule: ScheduleConstant}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case !finite(c.LR) || c.LR < 0:
		return fmt.Errorf("optim: lr %g must be finite and >= 0", c.LR)
	case !(c.Beta1 >= 0 && c.Beta1 < 1):
		return fmt.Errorf("optim: beta1 %g must be in [0, 1)", c.Beta1)
	case !(c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("optim: beta2 %g must be in [0, 1)", c.Beta2)
	case !finite(c.Eps) || c.Eps < 0:
		return fmt.Errorf("optim: eps %g must be finite and >= 0", c.Eps)
	case !finite(c.WeightDecay) || c.WeightDecay < 0:
		return fmt.Errorf("optim: weight_decay %g must be finite and >= 0", c.WeightDecay)
	case !finite(c.MaxGradNorm) || c.MaxGradNorm < 0:
		return fmt.Errorf("optim: max_grad_norm %g must be finite and >= 0 (0 disables clipping)", c.MaxGradNorm)
	case c.WarmupSteps < 0:
		return fmt.Errorf("optim: warmup_steps %d must be >= 0", c.WarmupSteps)
	case c.TotalSteps < 0:
		return fmt.Errorf("optim: total_steps %d must be >= 0", c.TotalSteps)
	case !(c.MinLRRatio >= 0 && c.MinLRRatio <= 1):
		return fmt.Errorf("optim: min_lr_ratio %g must be in [0, 1]", c.MinLRRatio)
	}
	switch c.Schedule {
	case "", ScheduleConstant:
	case ScheduleCosine:
		if c.TotalSteps <= c.WarmupSteps {
			return fmt.Errorf("optim: cosine schedule needs total_steps (%d) > warmup_steps (%d)", c.TotalSteps, c.WarmupSteps)
		}
	default:
		return fmt.Errorf("optim: unknown schedule %q (want %q or %q)", c.Schedule, ScheduleConstant, ScheduleCosine)
	}
	for _, p := range slices.Concat(c.NoDecay, c.Frozen) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("optim: bad name pattern %q: %w", p, err)
		}
	}
	return nil
}

// LRFactor returns the multiplier of LR at schedule step k (0-based: the
// first Step uses k = 0), following verl's schedules:
//
//	constant: k/W during warmup (k < W), then 1
//	cosine:   r + (1-r)*k/W during warmup, then max(r, r + (1-r)*(1+cos(π·q))/2)
//	          with q = (k-W)/(T-W) clamped to [0, 1]
//
// W = WarmupSteps, T = TotalSteps, r = MinLRRatio. Clamping q keeps the LR at
// its minimum after T steps (verl's formula would rise again).
func (c Config) LRFactor(k int) float64 {
	w := c.WarmupSteps
	switch c.Schedule {
	case ScheduleCosine:
		r := c.MinLRRatio
		if k < w {
			return r + (1-r)*float64(k)/float64(max(1, w))
		}
		q := float64(k-w) / float64(max(1, c.TotalSteps-w))
		q = min(max(q, 0), 1)
		return max(r, (1-r)*0.5*math.Cos(math.Pi*q)+(1+r)*0.5)
	default:
		if k < w {
			return float64(k) / float64(max(1, w))
		}
		return 1
	}
}

// LRAt returns the learning rate at schedule step k: LR * LRFactor(k).
func (c Config) LRAt(k int) float64 { return c.LR * c.LRFactor(k) }

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// ErrNonFinite is returned by Step when the gradient norm is NaN or infinite;
// the step is skipped and parameters and moments are unchanged.
var ErrNonFinite = errors.New("optim: non-finite gradient norm, step skipped")
