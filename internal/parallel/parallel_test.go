package parallel

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestDoBoundsAndCollects(t *testing.T) {
	for _, limit := range []int{0, 1, 3, 20} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			var running, peak atomic.Int32
			ran := make([]bool, 10)
			errs := Do(10, limit, func(i int) error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				running.Add(-1)
				ran[i] = true
				if i%4 == 1 {
					return fmt.Errorf("item %d", i)
				}
				return nil
			})
			want := max(limit, 1)
			if p := int(peak.Load()); p > want {
				t.Errorf("%d ran at once, limit %d", p, want)
			}
			for i := range ran {
				if !ran[i] {
					t.Errorf("item %d did not run", i)
				}
				if (errs[i] != nil) != (i%4 == 1) {
					t.Errorf("errs[%d] = %v", i, errs[i])
				}
			}
			if err := First(errs); err == nil || err.Error() != "item 1" {
				t.Errorf("First = %v, want item 1", err)
			}
		})
	}
	if err := First(Do(0, 4, func(int) error { return errors.New("never") })); err != nil {
		t.Errorf("no items: %v", err)
	}
}
