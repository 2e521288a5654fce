// Package metrics records per-step training metrics and shows them.
//
// A run writes one JSON object per step to metrics.jsonl with [Writer]
// ({"step":..,"phase":..,"time":..} plus one top-level key per metric;
// NaN and Inf are written as null), reads it back with [ReadFile], draws
// PNG line charts of chosen series with [Plot] and the standard set with
// [PlotAll], and shows progress on a terminal or in a log with [Bar].
//
// [TensorBoard] writes the same records as TensorBoard event files
// (TFRecord framing and the Event/Summary protocol buffers, written with
// protowire: scalars by step, text such as the resolved config), and
// [ReadEvents] reads them back. [RolloutWriter] keeps every N steps the
// sampled responses of each prompt with their rewards and advantages
// (rollouts/step-XXXXXX.jsonl), read back with [ReadRollouts].
//
// Everything is pure Go: the charts are drawn with the standard image
// packages and the fixed 7x13 bitmap font of golang.org/x/image, so the
// same records always give the same PNG bytes.
package metrics
