package main

import (
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/configs"
)

// configFlags are --config and --set, declared the same way on every
// command that reads the run configuration: the embedded
// configs/default.yaml, the --config files layered over it in order, then
// the --set keys.
type configFlags struct {
	files []string
	sets  []string
}

// addConfigFlags declares --config and --set on cmd.
func addConfigFlags(cmd *cobra.Command) *configFlags {
	f := &configFlags{}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.files, "config", nil, "YAML config files merged in order over the embedded configs/default.yaml (repeatable; embedded names such as ablations/strict-reward.yaml work too)")
	fl.StringArrayVar(&f.sets, "set", nil, "override one config key, e.g. --set grpo.steps=10 (value parsed as YAML; repeatable)")
	return f
}

// load resolves the configuration of the flags; extra key=value overrides
// apply after those of --set.
func (f *configFlags) load(extra ...string) (*configs.Config, error) {
	return configs.Load(f.files, append(slices.Clone(f.sets), extra...))
}

// quietFlag is --quiet: no progress bars.
type quietFlag struct{ quiet bool }

// addQuietFlag declares --quiet on cmd.
func addQuietFlag(cmd *cobra.Command) *quietFlag {
	q := &quietFlag{}
	cmd.Flags().BoolVar(&q.quiet, "quiet", false, "no progress bars")
	return q
}

// progress is where progress bars go: cmd's standard error, or nil with
// --quiet.
func (q *quietFlag) progress(cmd *cobra.Command) io.Writer {
	if q.quiet {
		return nil
	}
	return cmd.ErrOrStderr()
}
