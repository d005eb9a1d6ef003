// Package parallel runs the iterations of a loop at most n at a time. It
// is kiln's one bounded-parallel loop (downloads, unpacks, staging).
package parallel

import "sync"

// Do runs fn(0) … fn(count-1), at most limit at once (limit < 1: one at a
// time), and returns each call's error at its index once all have
// returned. Every call runs: a failure does not cancel the others (fn
// checks its context when it should stop early).
func Do(count, limit int, fn func(i int) error) []error {
	if limit < 1 {
		limit = 1
	}
	errs := make([]error, count)
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}

// First returns the first non-nil error of errs, in index order.
func First(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
