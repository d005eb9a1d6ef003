package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/store"
)

// storeMissing reads store paths, one a line, and prints those that are not
// valid in s, in the order read.
func storeMissing(r *Run, s *store.Store) error {
	sc := bufio.NewScanner(r.Stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p, err := store.ParsePath(line)
		if err != nil {
			return err
		}
		if !s.Valid(p) {
			r.Printf("%s\n", p)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read paths: %w", err)
	}
	return nil
}

// storeReceive imports the stream on stdin into s.
func storeReceive(ctx context.Context, r *Run, s *store.Store) error {
	st, err := s.ReceiveStream(ctx, r.Stdin, func(p store.Path) { r.Logf("received %s", p) })
	if err != nil {
		return err
	}
	fmt.Fprintf(r.Stderr, "received %s\n", st)
	return nil
}
