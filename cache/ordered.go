package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errDependency marks an item not done because one it depends on failed.
var errDependency = errors.New("a reference failed")

// runOrdered runs do for items 0..n-1, at most jobs at a time, starting
// them in index order. deps(i) lists the items i depends on; they must
// come before i. An item calls wait when it needs its dependencies done
// (after the part of its work that does not): wait returns an error
// wrapping errDependency when one failed. A failed item does not stop the
// others. It returns each item's error.
func runOrdered(ctx context.Context, n, jobs int, deps func(i int) []int, do func(ctx context.Context, i int, wait func() error) error) []error {
	errs := make([]error, n)
	done := make([]chan struct{}, n)
	for i := range done {
		done[i] = make(chan struct{})
	}
	sem := make(chan struct{}, max(jobs, 1))
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < n; j++ {
				errs[j] = ctx.Err()
			}
			wg.Wait()
			return errs
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer close(done[i])
			wait := func() error {
				for _, d := range deps(i) {
					if d >= i {
						return fmt.Errorf("item %d depends on a later item %d", i, d)
					}
					select {
					case <-done[d]:
					case <-ctx.Done():
						return ctx.Err()
					}
					if errs[d] != nil {
						return fmt.Errorf("%w", errDependency)
					}
				}
				return nil
			}
			errs[i] = do(ctx, i, wait)
		}()
	}
	wg.Wait()
	return errs
}
