package cli

import (
	"reflect"
	"testing"
)

func TestInitDispatch(t *testing.T) {
	stage1, stage2 := reflect.ValueOf(runStage1).Pointer(), reflect.ValueOf(runStage2).Pointer()
	tests := []struct {
		argv0 string
		want  uintptr // 0: not an init
	}{
		{"/init", stage1},
		{"/kiln/store/0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a-toplevel/init", stage2},
		{"/run/current-system/init", stage2},
		{"init", 0},
		{"/usr/bin/kiln", 0},
		{"kiln", 0},
	}
	for _, tc := range tests {
		run, ok := initEntry(Env{Argv0: tc.argv0})
		var got uintptr
		if ok {
			got = reflect.ValueOf(run).Pointer()
		}
		if got != tc.want {
			t.Errorf("argv0 %q: got entry %#x, want %#x (stage 1 %#x, stage 2 %#x)", tc.argv0, got, tc.want, stage1, stage2)
		}
	}
}
