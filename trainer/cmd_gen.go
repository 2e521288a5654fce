package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// PLACEHOLDER: replaced by the owner of this file.
func newGenCmd() *cobra.Command {
	return &cobra.Command{Use: "gen", Short: "not built yet", RunE: func(*cobra.Command, []string) error { return errors.New("gen: not built yet") }}
}
