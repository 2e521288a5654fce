//go:build !unix

package dataset

import "os"

// openNonBlocking opens path read-only; OpenRegular has checked that it is
// a regular file just before.
func openNonBlocking(path string) (*os.File, error) {
	return os.Open(path)
}
