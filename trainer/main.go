// Command trainer is the VideoSSR command line: with no subcommand it trains
// the policy with GRPO using the embedded default configuration; its
// subcommands generate pretext data, build and score VIUBench, score model
// responses, tokenize text, export models and run benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	root := newRootCmd()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "trainer",
		Short: "VideoSSR: self-supervised RL for video MLLMs, in Go",
		Long: `trainer trains a video multimodal LLM with GRPO on pretext tasks generated
from the videos themselves (VideoSSR, arXiv 2511.06281).

With no subcommand it runs the training job described by the configuration
(the embedded configs/default.yaml unless --config is given).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	addTrainFlags(root)
	viubench := &cobra.Command{
		Use:   "viubench",
		Short: "Build and score the VIUBench benchmark",
	}
	viubench.AddCommand(newViubenchBuildCmd(), newViubenchScoreCmd())
	// Subcommands: one constructor per file.
	root.AddCommand(
		newGenCmd(),
		viubench,
		newScoreCmd(),
		newEvalCmd(),
		newBenchCmd(),
		newReportCmd(),
		newInspectCmd(),
		newExportCmd(),
		newTokenizeCmd(),
		newDoctorCmd(),
		newDataCmd(),
	)
	return root
}
