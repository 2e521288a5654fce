package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/configs"
	"github.com/videossr/videossr-go/trainer/grpo"
)

// trainFlags are the flags of the root (training) command.
type trainFlags struct {
	configs []string
	sets    []string
	resume  string
	runDir  string
	quiet   bool
}

func addTrainFlags(cmd *cobra.Command) {
	f := &trainFlags{}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.configs, "config", nil, "YAML config files merged in order over the embedded configs/default.yaml (repeatable; embedded names such as ablations/strict-reward.yaml work too)")
	fl.StringArrayVar(&f.sets, "set", nil, "override one key, e.g. --set grpo.steps=10 (value parsed as YAML; repeatable)")
	fl.StringVar(&f.resume, "resume", "", "continue the run in RUN_DIR from its last checkpoint, with the config saved there (--set still applies)")
	fl.StringVar(&f.runDir, "run-dir", "", "run directory (overrides run_dir of the config)")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress bars")
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return runTrain(cmd, f) }
}

// loadTrainConfig resolves the run's configuration from the flags.
func loadTrainConfig(f *trainFlags) (*configs.Config, error) {
	paths := f.configs
	if f.resume != "" {
		if len(f.configs) > 0 {
			return nil, errors.New("--resume uses the config saved in the run directory; drop --config (use --set to change a key)")
		}
		paths = []string{filepath.Join(f.resume, "config.yaml")}
		if _, err := os.Stat(paths[0]); err != nil {
			return nil, fmt.Errorf("--resume %s: %w", f.resume, err)
		}
	}
	sets := f.sets
	if f.runDir != "" {
		sets = append(sets, "run_dir="+f.runDir)
	}
	if f.resume != "" {
		sets = append(sets, "run_dir="+f.resume)
	}
	return configs.Load(paths, sets)
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	cfg, err := loadTrainConfig(f)
	if err != nil {
		return err
	}
	opt := grpo.Options{Resume: f.resume != "", Out: cmd.OutOrStdout(), Log: slog.Default()}
	if !f.quiet {
		opt.Progress = cmd.ErrOrStderr()
	}
	_, err = grpo.Run(cmd.Context(), cfg, opt)
	return err
}
