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
	config *configFlags
	quiet  *quietFlag
	resume string
	runDir string
}

func addTrainFlags(cmd *cobra.Command) {
	f := &trainFlags{config: addConfigFlags(cmd), quiet: addQuietFlag(cmd)}
	fl := cmd.Flags()
	fl.StringVar(&f.resume, "resume", "", "continue the run in RUN_DIR from its last checkpoint, with the config saved there (--set still applies)")
	fl.StringVar(&f.runDir, "run-dir", "", "run directory (overrides run_dir of the config)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error { return runTrain(cmd, f) }
}

// loadTrainConfig resolves the run's configuration from the flags.
func loadTrainConfig(f *trainFlags) (*configs.Config, error) {
	c := *f.config
	if f.resume != "" {
		if len(c.files) > 0 {
			return nil, errors.New("--resume uses the config saved in the run directory; drop --config (use --set to change a key)")
		}
		c.files = []string{filepath.Join(f.resume, "config.yaml")}
		if _, err := os.Stat(c.files[0]); err != nil {
			return nil, fmt.Errorf("--resume %s: %w", f.resume, err)
		}
	}
	var extra []string
	if f.runDir != "" {
		extra = append(extra, "run_dir="+f.runDir)
	}
	if f.resume != "" {
		extra = append(extra, "run_dir="+f.resume)
	}
	return c.load(extra...)
}

func runTrain(cmd *cobra.Command, f *trainFlags) error {
	cfg, err := loadTrainConfig(f)
	if err != nil {
		return err
	}
	opt := grpo.Options{Resume: f.resume != "", Out: cmd.OutOrStdout(), Log: slog.Default(), Progress: f.quiet.progress(cmd)}
	_, err = grpo.Run(cmd.Context(), cfg, opt)
	return err
}
