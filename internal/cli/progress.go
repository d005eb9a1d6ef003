package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kiln-os/kiln/debian"
)

// bar is kiln's one progress display, for fetch, build and image. On a
// terminal it redraws one line, at most every redrawEvery and never wider
// than width: the phase, a count, MiB done of MiB, MiB/s, and the current
// item. Off a terminal it prints nothing while the phase runs, and one
// line when it ends: what was done and how long it took.
type bar struct {
	r       *Run
	what    string
	tty     bool
	summary bool // off a terminal, print the phase's line at the end
	now     func() time.Time

	started, drawnAt time.Time
	drawn            bool
	n, total         int64 // items
	bytes, bytesAll  int64
	unit             string // what the count counts: "packages", "parts"
	item             string
	redraws          int
}

const (
	width       = 79 // one less than 80: a line that fills the last column wraps on some terminals
	redrawEvery = 250 * time.Millisecond
)

// newBar returns the display of a phase on r's stderr.
func newBar(r *Run, what string) *bar {
	return &bar{r: r, what: what, tty: isTerminal(r.Stderr), summary: true, now: time.Now}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fetch hears a fetch's progress: packages done, bytes downloaded.
func (b *bar) fetch(p debian.Progress) {
	b.update(int64(p.Done), int64(p.Total), p.BytesDone, p.BytesTotal, "packages", p.Package)
}

// count hears progress in items only (packages of kiln shell, parts of a
// build; total 0 when unknown).
func (b *bar) count(done, total int64, unit, item string) {
	b.update(done, total, b.bytes, b.bytesAll, unit, item)
}

// set hears progress in bytes (an image being written).
func (b *bar) set(done, total int64, item string) {
	b.update(b.n, b.total, done, total, b.unit, item)
}

func (b *bar) update(done, total, bytes, bytesAll int64, unit, item string) {
	now := b.now()
	if b.started.IsZero() {
		b.started = now
	}
	b.n, b.total, b.bytes, b.bytesAll, b.unit, b.item = done, total, bytes, bytesAll, unit, item
	if !b.tty {
		return
	}
	finished := (total > 0 && done >= total) || (bytesAll > 0 && bytes >= bytesAll && total == 0)
	if b.drawn && !finished && now.Sub(b.drawnAt) < redrawEvery {
		return
	}
	b.drawnAt, b.drawn = now, true
	b.redraws++
	fmt.Fprintf(b.r.Stderr, "\r%s\x1b[K", b.line(now, false))
}

// line is the display's text: "fetch  12/283 packages  45.2/97.1 MiB
// 12.3 MiB/s  linux-image-…", cut to width; final gives the summary.
func (b *bar) line(now time.Time, final bool) string {
	var parts []string
	head := b.what
	if final {
		head += ":"
	}
	parts = append(parts, fmt.Sprintf("%-6s", head))
	if b.total > 0 || b.n > 0 {
		unit := b.unit
		if b.n == 1 && b.total <= 1 {
			unit = strings.TrimSuffix(unit, "s")
		}
		switch {
		case final:
			parts = append(parts, fmt.Sprintf("%d %s", b.n, unit))
		case b.total > 0:
			parts = append(parts, fmt.Sprintf("%d/%d %s", b.n, b.total, unit))
		default:
			parts = append(parts, fmt.Sprintf("%d %s", b.n, unit))
		}
	}
	elapsed := now.Sub(b.started)
	if b.bytesAll > 0 || b.bytes > 0 {
		unit, div := "MiB", float64(1<<20)
		if max(b.bytes, b.bytesAll) < 1<<20 {
			unit, div = "KiB", 1<<10
		}
		if final {
			parts = append(parts, fmt.Sprintf("%.1f %s", float64(b.bytes)/div, unit))
		} else {
			parts = append(parts, fmt.Sprintf("%.1f/%.1f %s", float64(b.bytes)/div, float64(b.bytesAll)/div, unit))
		}
		if elapsed > 0 {
			rate := float64(b.bytes) / elapsed.Seconds()
			if rate < 1<<20 {
				parts = append(parts, fmt.Sprintf("%.1f KiB/s", rate/(1<<10)))
			} else {
				parts = append(parts, fmt.Sprintf("%.1f MiB/s", rate/(1<<20)))
			}
		}
	}
	if final {
		parts = append(parts, "in "+roundDuration(elapsed))
	} else if b.item != "" {
		parts = append(parts, b.item)
	}
	return clip(strings.Join(parts, "  "), width)
}

// roundDuration keeps two or three significant digits: 25ms, 3.2s, 1m14s.
func roundDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// done ends the phase: on a terminal the line is replaced by the
// summary; off one the summary is printed (unless summary is off). A
// phase that heard nothing prints nothing.
func (b *bar) done() {
	if b.started.IsZero() {
		return
	}
	if b.tty || b.summary {
		if b.drawn {
			fmt.Fprint(b.r.Stderr, "\r\x1b[K")
		}
		fmt.Fprintln(b.r.Stderr, b.line(b.now(), true))
	}
	b.started, b.drawn = time.Time{}, false
}
