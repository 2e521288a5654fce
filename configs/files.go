package configs

import (
	"fmt"
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
	for from, to := range c.Data.SourceAliases {
		if strings.TrimSpace(to) == "" || to == from {
			bad("data.source_aliases."+from, "%q, want the name of another data source", to)
		}
	}
}
