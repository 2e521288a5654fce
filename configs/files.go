package configs

import (
	"fmt"
	"slices"
	"strings"
)

// validateFiles checks the keys of training and evaluation from files
// (data.train_files, data.val_files, data.source_aliases): no empty path
// and no empty or self-referencing alias. Whether the files exist and
// hold valid rows is checked when the run loads them, before any step.
func (c *Config) validateFiles(bad func(key, format string, a ...any)) {
	paths := func(key string, list []string) {
		for i, p := range list {
			if strings.TrimSpace(p) == "" {
				bad(fmt.Sprintf("%s[%d]", key, i), "empty path (want a JSONL or Parquet file, a glob or a 'trainer gen' folder)")
			}
		}
	}
	paths("data.train_files", c.Data.TrainFiles)
	paths("data.val_files", c.Data.ValFiles)
	paths("eval.files", c.Eval.Files)
	c.validatePlugins(bad)
	c.validateLogging(bad)
	for from, to := range c.Data.SourceAliases {
		if strings.TrimSpace(to) == "" || to == from {
			bad("data.source_aliases."+from, "%q, want the name of another data source", to)
		}
	}
}

// validatePlugins checks reward.plugins: each names its data sources
// (each once over all plug-ins, not a "strict:" name) and a command, and
// its timeout parses.
func (c *Config) validatePlugins(bad func(key, format string, a ...any)) {
	seen := map[string]string{}
	for i, p := range c.Reward.Plugins {
		key := fmt.Sprintf("reward.plugins[%d]", i)
		if len(p.DataSources) == 0 {
			bad(key+".data_sources", "empty: want the data sources the plug-in scores")
		}
		for _, src := range p.DataSources {
			switch {
			case src == "" || strings.TrimSpace(src) != src:
				bad(key+".data_sources", "%q: want a name without surrounding spaces", src)
			case strings.HasPrefix(src, "strict:"):
				bad(key+".data_sources", "%q: the strict: names are the built-in rewards' binary variants", src)
			case seen[src] != "":
				bad(key+".data_sources", "%q is also scored by %s", src, seen[src])
			default:
				seen[src] = key
			}
		}
		if len(p.Command) == 0 || strings.TrimSpace(p.Command[0]) == "" {
			bad(key+".command", "empty: want the program and its arguments, e.g. [python3, -u, scripts/reward_plugin_example.py]")
		}
		if _, err := p.TimeoutDuration(); err != nil {
			bad(key+".timeout", "%v", err)
		}
	}
}

// validateLogging checks logging.backends: known names, each once, jsonl
// among them.
func (c *Config) validateLogging(bad func(key, format string, a ...any)) {
	seen := map[string]bool{}
	for _, b := range c.Logging.Backends {
		switch {
		case !slices.Contains(LoggingBackends, b):
			bad("logging.backends", "%q, want some of %s", b, strings.Join(LoggingBackends, ", "))
		case seen[b]:
			bad("logging.backends", "%q twice", b)
		}
		seen[b] = true
	}
	if !seen["jsonl"] {
		bad("logging.backends", "%v lacks jsonl: metrics.jsonl feeds the plots, 'trainer inspect' and --resume (write [jsonl, tensorboard])", c.Logging.Backends)
	}
}

// LogsTo reports whether logging.backends names backend.
func (c *Config) LogsTo(backend string) bool { return slices.Contains(c.Logging.Backends, backend) }
