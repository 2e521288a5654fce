package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/videossr/videossr-go/trainer/eval"
	"github.com/videossr/videossr-go/trainer/grpo"
)

func newEvalCmd() *cobra.Command {
	var (
		ckpt, data, preds string
		batch             int
		cf                *configFlags
		q                 *quietFlag
	)
	cmd := &cobra.Command{
		Use:   "eval --checkpoint DIR --data FILE",
		Short: "Evaluate a trained model on VIUBench or generic evaluation rows",
		Long: `eval decodes every row of a JSONL file greedily with a trained model and
scores the answers with the paper's scorers:

  - VIUBench rows (from 'trainer viubench build'): per-subtype scores and the
    overall score in the layout of the paper's Table 1;
  - data_source "multiple_choice": the first character of the answer against
    the option letter (accuracy);
  - data_source "temporal_grounding": IoU of the first "start-end" interval
    (mIoU, R@0.3/0.5/0.7);
  - pretext rows (from 'trainer gen'): the training reward of their source.

--data is a JSONL file of our layout or a Parquet file of verl's; every row
is checked (answer form, frame or video files) before any is decoded. Rows
give their frames ("frames", paths relative to the data file) or a "video"
file that is sampled; a row with only a question is worded with
data.prompts of --config. --checkpoint is a model folder written by the
trainer: RUN_DIR/final or a checkpoint under RUN_DIR/checkpoints.`,
		Example: `  trainer eval --checkpoint runs/default/final --data runs/default/data/viubench-*/data.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ckpt == "" || data == "" {
				return errors.New("eval: --checkpoint and --data are required")
			}
			cfg, err := cf.load()
			if err != nil {
				return err
			}
			// Files as the trainer wrote them, weights finite.
			if _, err := grpo.VerifyCheckpoint(ckpt); err != nil {
				return fmt.Errorf("eval: --checkpoint: %w", err)
			}
			wording, err := grpo.LoadPrompts(cfg.Data)
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			so, per := grpo.PolicySessions(cfg.Device)
			req := eval.Request{
				Model: ckpt, Data: data, Library: cfg.Device.Library, Session: so, GraphSession: per,
				Frames: cfg.Data.Sampling.Frames, MinPixels: cfg.Data.Sampling.MinPixels, MaxPixels: cfg.Data.Sampling.MaxPixels,
				MaxNewTokens: cfg.Eval.MaxNewTokens, Batch: batch, Progress: q.progress(cmd), Prompts: wording,
			}
			rep, err := eval.Evaluate(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.Text())
			if preds != "" {
				f, err := os.Create(preds)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(f)
				for _, p := range rep.Predictions {
					if err := enc.Encode(p); err != nil {
						f.Close()
						return err
					}
				}
				return f.Close()
			}
			return nil
		},
	}
	cf, q = addConfigFlags(cmd), addQuietFlag(cmd)
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "checkpoint", "", "model folder (config.json, model.safetensors, tokenizer.json)")
	fl.StringVar(&data, "data", "", "evaluation file (JSONL, or Parquet in verl's layout)")
	fl.StringVar(&preds, "predictions", "", "also write each row's response and score as JSONL to this file")
	fl.IntVar(&batch, "batch", 16, "prompts decoded together")
	return cmd
}
