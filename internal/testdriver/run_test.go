package testdriver

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/golden"
)

// fakeVM records every call in a log shared by the machines of a run and
// answers from a script keyed by "verb argument".
type fakeVM struct {
	name    string
	log     *[]string
	answers map[string]answer
	running bool
}

type answer struct {
	out string
	err error
}

var errExit1 = errors.New(`command exited 1; output:
no such user`)

func (f *fakeVM) call(verb, arg string) (string, error) {
	key := strings.TrimSpace(verb + " " + arg)
	*f.log = append(*f.log, f.name+": "+key)
	a := f.answers[key]
	return a.out, a.err
}

func (f *fakeVM) WaitForUnitCtx(ctx context.Context, unit string) error {
	if unit == "hang.service" { // never comes up: only the step timeout ends it
		<-ctx.Done()
		f.call("wait_for_unit", unit)
		return fmt.Errorf("wait for unit %s: %w", unit, ctx.Err())
	}
	_, err := f.call("wait_for_unit", unit)
	return err
}
func (f *fakeVM) SucceedCtx(_ context.Context, cmd string) (string, error) {
	return f.call("succeed", cmd)
}
func (f *fakeVM) FailCtx(_ context.Context, cmd string) (string, error) { return f.call("fail", cmd) }
func (f *fakeVM) WaitUntilSucceedsCtx(_ context.Context, cmd string) (string, error) {
	return f.call("wait_until_succeeds", cmd)
}
func (f *fakeVM) WaitUntilFailsCtx(_ context.Context, cmd string) (string, error) {
	return f.call("wait_until_fails", cmd)
}
func (f *fakeVM) WaitForOpenPortCtx(_ context.Context, port int) error {
	_, err := f.call("wait_for_open_port", fmt.Sprint(port))
	return err
}
func (f *fakeVM) WaitForConsoleTextCtx(_ context.Context, re string) (string, error) {
	return f.call("wait_for_console_text", re)
}
func (f *fakeVM) RebootCtx(context.Context) error { _, err := f.call("reboot", ""); return err }
func (f *fakeVM) ShutdownCtx(context.Context) error {
	f.running = false
	_, err := f.call("shutdown", "")
	return err
}
func (f *fakeVM) CrashCtx(context.Context) error {
	f.running = false
	_, err := f.call("crash", "")
	return err
}
func (f *fakeVM) BootCtx(context.Context) error {
	f.running = true
	_, err := f.call("boot", "")
	return err
}
func (f *fakeVM) SelectGenerationCtx(_ context.Context, n int) error {
	_, err := f.call("select_generation", fmt.Sprint(n))
	return err
}
func (f *fakeVM) Report() string {
	return fmt.Sprintf("machine %s: last lines of the serial console:\nWelcome to Debian", f.name)
}
func (f *fakeVM) Close() error { _, err := f.call("close", ""); return err }

// fakeClock advances 1.5 s per reading, so durations are deterministic.
func fakeClock() func() time.Time {
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { t = t.Add(1500 * time.Millisecond); return t }
}

const twoMachines = `
machine "server" {
  config = "server.hcl"
}
machine "client" {
  image = "/img/client.img"
  memory = 512
}
`

func TestRunGolden(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		answers  map[string]answer
		buildErr error
		startErr error
		pass     bool
	}{
		{
			name: "pass",
			src: twoMachines + `
step "wait_for_unit" {
  machine = "server"
  unit = "multi-user.target"
}
step "succeed" {
  machine = "server"
  command = "hostname"
  expect = "^server\n$"
}
step "fail" {
  machine = "client"
  command = "id nobody-here"
}
step "wait_until_succeeds" {
  machine = "client"
  command = "curl -s server"
}
step "wait_until_fails" {
  machine = "client"
  command = "pgrep sleep"
}
step "wait_for_open_port" {
  machine = "server"
  port = 22
}
step "wait_for_console_text" {
  machine = "server"
  regexp = "login:"
}
step "select_generation" {
  machine = "server"
  generation = 2
}
step "reboot" {
  machine = "server"
}
step "shutdown" {
  machine = "client"
}
step "start" {
  machine = "client"
}
step "crash" {
  machine = "client"
}
`,
			answers: map[string]answer{"succeed hostname": {out: "server\n"}},
			pass:    true,
		},
		{
			name: "command-fails",
			src: twoMachines + `
step "succeed" {
  machine = "server"
  command = "id alice"
}
step "succeed" {
  machine = "server"
  command = "never run"
}
`,
			answers: map[string]answer{"succeed id alice": {err: errExit1}},
		},
		{
			name: "output-mismatch",
			src: twoMachines + `
step "succeed" {
  machine = "client"
  command = "cat /etc/hostname"
  expect = "^client$"
}
`,
			answers: map[string]answer{"succeed cat /etc/hostname": {out: "nixos\n"}},
		},
		{
			name:     "build-fails",
			src:      twoMachines + "step \"reboot\" {\n  machine = \"client\"\n}\n",
			buildErr: errors.New("kiln.lock is stale: run kiln lock"),
		},
		{
			name:     "start-fails",
			src:      twoMachines + "step \"reboot\" {\n  machine = \"client\"\n}\n",
			startErr: errors.New("run QEMU: no such file"),
		},
		{
			name: "step-timeout",
			src: twoMachines + `
step "wait_for_unit" {
  machine = "server"
  unit = "hang.service"
  timeout = "20ms"
}
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := "tests/" + tc.name + ".hcl"
			test, diags := Parse(file, []byte(tc.src))
			if diags.HasErrors() {
				t.Fatal(FormatDiagnostics(diags))
			}
			var out strings.Builder
			var calls []string
			env := Env{
				Out: &out,
				Now: fakeClock(),
				Build: func(_ context.Context, m *MachineSpec) (string, error) {
					calls = append(calls, "build "+m.Config)
					return "/store/" + m.Name + ".img", tc.buildErr
				},
				Start: func(_ context.Context, m *MachineSpec, image string, timeout time.Duration) (Machine, error) {
					calls = append(calls, fmt.Sprintf("start %s from %s (memory %d, timeout %v)", m.Name, image, m.MemoryMB, timeout))
					if tc.startErr != nil {
						return nil, tc.startErr
					}
					return &fakeVM{name: m.Name, log: &calls, answers: tc.answers, running: true}, nil
				},
			}
			pass := Run(context.Background(), test, env)
			if pass != tc.pass {
				t.Errorf("Run = %v, want %v", pass, tc.pass)
			}
			got := out.String() + "--- calls\n" + strings.Join(calls, "\n") + "\n"
			golden.Check(t, filepath.Join("testdata", "run", tc.name+".golden"), []byte(got))
		})
	}
}
