package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that records how the test ended.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skip(args ...any)                  { r.skip = args[0].(string) }

func TestSkipOrFail(t *testing.T) {
	t.Setenv("KILN_VMTEST", "")
	r := &recorder{TB: t}
	SkipOrFail(r, "no %s", "tool")
	if r.skip != "no tool" || r.fatal != "" {
		t.Errorf("without KILN_VMTEST: skip %q fatal %q, want a skip", r.skip, r.fatal)
	}
	t.Setenv("KILN_VMTEST", "1")
	r = &recorder{TB: t}
	SkipOrFail(r, "no %s", "tool")
	if r.fatal == "" || r.skip != "" || !strings.Contains(r.fatal, "no tool") || !strings.Contains(r.fatal, "must run") {
		t.Errorf("with KILN_VMTEST: skip %q fatal %q, want a failure", r.skip, r.fatal)
	}
}

// In the clock-ahead run, time.Now is years past the kernel's clock (a
// new file's mtime); otherwise the two agree.
func TestClockAheadMovesTimeNow(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	ahead := time.Since(st.ModTime())
	if ClockAhead() && ahead < 10*365*24*time.Hour {
		t.Errorf("clock-ahead run: time.Now is %v past a new file's mtime, want years", ahead)
	}
	if !ClockAhead() && (ahead > time.Minute || ahead < -time.Minute) {
		t.Errorf("time.Now is %v from a new file's mtime", ahead)
	}
}
