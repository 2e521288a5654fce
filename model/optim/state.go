package optim

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/videossr/videossr-go/model/safetensors"
)

// State file layout: one safetensors file (written atomically) holding
// "exp_avg/<param>" and "exp_avg_sq/<param>" as F32 for every trainable
// parameter, and the metadata key "adamw_state" with the JSON of stateJSON.
const (
	stateKey     = "adamw_state"
	stateVersion = 1
	prefixM      = "exp_avg/"
	prefixV      = "exp_avg_sq/"
)

type stateJSON struct {
	Version int      `json:"version"`
	Step    int      `json:"step"`
	Calls   int      `json:"schedule_step"`
	Config  Config   `json:"config"`
	Params  []string `json:"params"`
}

// Save writes the optimizer state (step counts, config, both moments of
// every trainable parameter) to path atomically. Together with the
// parameters (params.Store.Save) it lets a run resume bit-exactly.
func (o *AdamW) Save(path string) error {
	sj := stateJSON{Version: stateVersion, Step: o.step, Calls: o.calls, Config: o.cfg, Params: o.Trainable()}
	js, err := json.Marshal(sj)
	if err != nil {
		return fmt.Errorf("optim: encoding state: %w", err)
	}
	ts := make([]safetensors.Tensor, 0, 2*len(o.slots))
	for _, s := range o.slots {
		n := len(s.p.Data)
		shape := make([]int64, len(s.p.Shape))
		for i, d := range s.p.Shape {
			shape[i] = int64(d)
		}
		for _, mv := range []struct {
			prefix string
			data   []float32
		}{{prefixM, s.m.Data().([]float32)[:n]}, {prefixV, s.v.Data().([]float32)[:n]}} {
			t, err := safetensors.FromFloat32(mv.prefix+s.p.Name, safetensors.F32, shape, mv.data)
			if err != nil {
				return fmt.Errorf("optim: saving %s: %w", path, err)
			}
			ts = append(ts, t)
		}
	}
	if err := safetensors.Write(path, ts, map[string]string{stateKey: string(js)}); err != nil {
		return fmt.Errorf("optim: %w", err)
	}
	return nil
}

func readState(path string) (*safetensors.File, stateJSON, error) {
	var sj stateJSON
	f, err := safetensors.Read(path)
	if err != nil {
		return nil, sj, fmt.Errorf("optim: %w", err)
	}
	raw, ok := f.Metadata()[stateKey]
	if !ok {
		return nil, sj, fmt.Errorf("optim: %s is not an optimizer state file (no %q metadata)", path, stateKey)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sj); err != nil {
		return nil, sj, fmt.Errorf("optim: %s: bad %q metadata: %w", path, stateKey, err)
	}
	if sj.Version != stateVersion {
		return nil, sj, fmt.Errorf("optim: %s: state version %d, this build reads %d", path, sj.Version, stateVersion)
	}
	if sj.Step < 0 || sj.Calls < sj.Step {
		return nil, sj, fmt.Errorf("optim: %s: inconsistent step counts (step %d, schedule step %d)", path, sj.Step, sj.Calls)
	}
	return f, sj, nil
}

// ReadConfig returns the Config stored in an optimizer state file, so a
// resumed run can construct its optimizer with New before calling Load.
func ReadConfig(path string) (Config, error) {
	_, sj, err := readState(path)
	if err != nil {
		return Config{}, err
	}
	return sj.Config, nil
}

// Load restores a state written by Save. The saved config must equal the
// optimizer's, and the file must hold moments for exactly the trainable
// parameters with matching shapes; otherwise an error names the difference
// and the optimizer is unchanged.
func (o *AdamW) Load(path string) error {
	f, sj, err := readState(path)
	if err != nil {
		return err
	}
	if d := configDiff(normConfig(sj.Config), normConfig(o.cfg)); d != "" {
		return fmt.Errorf("optim: %s was saved with a different config: %s", path, d)
	}
	if !slices.Equal(sj.Params, o.Trainable()) {
		return fmt.Errorf("optim: %s holds state for parameters %s, optimizer trains %s", path, firstNames(sj.Params), firstNames(o.Trainable()))
	}
	if got, want := len(f.Names()), 2*len(o.slots); got != want {
		return fmt.Errorf("optim: %s holds %d tensors, want %d", path, got, want)
	}
	ms := make([][]float32, len(o.slots))
	vs := make([][]float32, len(o.slots))
	for i, s := range o.slots {
		for _, dst := range []struct {
			name string
			out  *[]float32
		}{{prefixM + s.p.Name, &ms[i]}, {prefixV + s.p.Name, &vs[i]}} {
			ti, ok := f.Info(dst.name)
			if !ok {
				return fmt.Errorf("optim: %s: missing tensor %q", path, dst.name)
			}
			if ti.DType != safetensors.F32 {
				return fmt.Errorf("optim: %s: tensor %q is %s, want F32", path, dst.name, ti.DType)
			}
			data, shape, err := f.Float32(dst.name)
			if err != nil {
				return fmt.Errorf("optim: %w", err)
			}
			if !s.p.HasShape(shape) {
				return fmt.Errorf("optim: %s: tensor %q has shape %v, parameter has %v", path, dst.name, shape, s.p.Shape)
			}
			*dst.out = data
		}
	}
	for i, s := range o.slots {
		n := len(s.p.Data)
		copy(s.m.Data().([]float32)[:n], ms[i])
		copy(s.v.Data().([]float32)[:n], vs[i])
	}
	o.step, o.calls = sj.Step, sj.Calls
	return nil
}

func normConfig(c Config) Config {
	if c.Schedule == "" {
		c.Schedule = ScheduleConstant
	}
	if len(c.NoDecay) == 0 {
		c.NoDecay = nil
	}
	if len(c.Frozen) == 0 {
		c.Frozen = nil
	}
	return c
}

// configDiff lists the fields that differ, or "" when equal.
func configDiff(saved, cur Config) string {
	var diffs []string
	sv, cv := reflect.ValueOf(saved), reflect.ValueOf(cur)
	for i := range sv.NumField() {
		if !reflect.DeepEqual(sv.Field(i).Interface(), cv.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s saved %v, now %v", sv.Type().Field(i).Name, sv.Field(i).Interface(), cv.Field(i).Interface()))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	return fmt.Sprint(diffs)
}
