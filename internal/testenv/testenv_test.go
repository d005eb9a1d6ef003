package testenv

import (
	"fmt"
	"strings"
	"testing"
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
