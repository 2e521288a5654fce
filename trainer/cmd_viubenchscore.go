package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the owner of this file.
func newViubenchScoreCmd() *cobra.Command {
	return &cobra.Command{Use: "viubenchscore", Short: "not built yet", RunE: func(*cobra.Command, []string) error { return errors.New("viubenchscore: not built yet") }}
}
