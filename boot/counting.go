package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

// Boot counting (systemd's Automatic Boot Assessment) as systemd-boot 252
// implements it (src/boot/efi/boot.c):
//   - an entry file NAME+LEFT[-DONE].conf is counted; before booting it
//     the loader renames it to NAME+(LEFT-1)-(DONE+1).conf and records the
//     new path in the EFI variable LoaderBootCountPath;
//     systemd-bless-boot.service renames it to NAME.conf once
//     boot-complete.target is reached;
//   - an entry at +0 sorts after every other entry;
//   - an entry's id, which loader.conf's `default` glob is matched
//     against, is its whole lower-cased file name, counter included, and
//     the first entry in sort order that the glob matches is the default,
//     even a bad one; when none matches, the first entry in sort order is.
//
// bootctl 252 (userspace) instead matches the id with the counter taken
// out (NAME.conf). So kiln never names a counted entry in `default` with a
// glob that can match +0 in the loader: a pending current generation is
// `default NAME[+.][1-9c]*`, which matches NAME+LEFT… while LEFT > 0 and
// NAME.conf (bootctl's id, and the entry once blessed); once its tries
// are spent the loader boots the first good entry (the newest other
// generation).

// EntryState is what boot counting says of a generation's entry.
type EntryState string

const (
	EntryGood    EntryState = "good"    // no counter: blessed, or boot counting off
	EntryPending EntryState = "pending" // counted, tries left
	EntryBad     EntryState = "bad"     // counted, no tries left: it sorts last
)

// Entry is one kiln generation entry file on the ESP.
type Entry struct {
	N       int
	File    string // file name in loader/entries
	Counted bool
	Left    int // tries left (Counted only)
	Done    int // tries done (Counted only)
}

// State is the entry's boot counting state.
func (e Entry) State() EntryState {
	switch {
	case !e.Counted:
		return EntryGood
	case e.Left > 0:
		return EntryPending
	}
	return EntryBad
}

// CountedEntryName is generation n's entry file with tries left.
func CountedEntryName(n, tries int) string {
	return entryPrefix + strconv.Itoa(n) + "+" + strconv.Itoa(tries) + ".conf"
}

// ParseEntryName reads kiln-generation-N[+LEFT[-DONE]].conf; ok is false
// for any other name.
func ParseEntryName(name string) (e Entry, ok bool) {
	rest, ok1 := strings.CutPrefix(name, entryPrefix)
	rest, ok2 := strings.CutSuffix(rest, ".conf")
	if !ok1 || !ok2 {
		return Entry{}, false
	}
	num, counter, counted := strings.Cut(rest, "+")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || strconv.Itoa(n) != num {
		return Entry{}, false
	}
	e = Entry{N: n, File: name, Counted: counted}
	if !counted {
		return e, true
	}
	left, done, hasDone := strings.Cut(counter, "-")
	if e.Left, err = strconv.Atoi(left); err != nil || e.Left < 0 {
		return Entry{}, false
	}
	if hasDone {
		if e.Done, err = strconv.Atoi(done); err != nil || e.Done < 0 {
			return Entry{}, false
		}
	}
	return e, true
}

// ReadEntries lists kiln's generation entries on the ESP fsys, by
// generation, each generation's best entry first (uncounted, then most
// tries left, then fewest done). A generation with more than one entry is
// left that way only by a crash or a foreign tool; PlanESP keeps the first.
func ReadEntries(fsys fs.FS) (map[int][]Entry, error) {
	out := map[int][]Entry{}
	if fsys == nil {
		return out, nil
	}
	ents, err := fs.ReadDir(fsys, EntriesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read esp %s: %w", EntriesDir, err)
	}
	for _, de := range ents {
		if e, ok := ParseEntryName(de.Name()); ok && de.Type().IsRegular() {
			out[e.N] = append(out[e.N], e)
		}
	}
	for _, es := range out {
		sort.Slice(es, func(i, j int) bool {
			a, b := es[i], es[j]
			if a.Counted != b.Counted {
				return !a.Counted
			}
			if a.Left != b.Left {
				return a.Left > b.Left
			}
			return a.Done < b.Done
		})
	}
	return out, nil
}

// entryFile chooses generation g's entry file: the one the ESP holds
// (its counter kept), else, for the current generation on a machine's ESP
// (existing not nil) with boot counting on, a counted one.
func entryFile(g Generation, current int, cfg LoaderConfig, onESP map[int][]Entry, machine bool) Entry {
	if es := onESP[g.N]; len(es) > 0 {
		return es[0]
	}
	counted := current
	if cfg.Count != 0 {
		counted = cfg.Count
	}
	if machine && g.N == counted && cfg.Tries > 0 {
		return Entry{N: g.N, File: CountedEntryName(g.N, cfg.Tries), Counted: true, Left: cfg.Tries}
	}
	return Entry{N: g.N, File: EntryName(g.N)}
}

// defaultPattern is loader.conf's `default` for the current entry: its
// file name when uncounted, else a glob matching it only while it has
// tries left.
func defaultPattern(e Entry) string {
	if !e.Counted {
		return e.File
	}
	return entryPrefix + strconv.Itoa(e.N) + "[+.][1-9c]*"
}
