// Command trainer is the VideoSSR command line: with no subcommand it trains
// the policy with GRPO using the embedded default configuration; its
// subcommands generate pretext data, build and score VIUBench, score model
// responses, tokenize text, export models and run benchmarks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, stop := notifyStop(context.Background(), os.Stderr, os.Exit, os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, newRootCmd(), os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line args and returns the process exit code: 0,
// 130 when it stopped on a signal, 1 on any other error.
func execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	return 0
}

// notifyStop returns a context that the first of sigs cancels: the command
// stops cleanly (training saves its last completed step). A second signal
// calls exit(128 + its number) at once, even while the first is still being
// handled (a checkpoint being written, a read that does not return). stop
// releases the signals.
func notifyStop(parent context.Context, w io.Writer, exit func(code int), sigs ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(w, "\n%s: stopping (press Ctrl-C again to quit at once)\n", s)
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-ch:
			fmt.Fprintf(w, "\n%s again: quitting at once\n", s)
			exit(exitCode(s))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
}

// exitCode is the shell's exit status of a process ended by signal s.
func exitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 130
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
