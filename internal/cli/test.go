package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/kiln-os/kiln/internal/testdriver"
	"github.com/kiln-os/kiln/testvm"
)

type testFlags struct {
	dryRun bool
}

func init() {
	register(&command{
		name:    "test",
		summary: "run declarative VM tests (tests/NAME.hcl)",
		usage: "kiln test [--dry-run] tests/NAME.hcl...\n\n" +
			"A test file declares machines (machine \"NAME\" { config = \"host.hcl\" } or\n" +
			"{ image = \"disk.img\" }) and steps run in order, e.g.\n" +
			"  step \"wait_for_unit\" { unit = \"multi-user.target\" }\n" +
			"  step \"succeed\" { command = \"hostname\", expect = \"^web\\n$\" }\n" +
			"Step kinds: " + kindNames() + ".\n" +
			"Each step names its machine (machine = \"NAME\") unless there is only one.\n" +
			"With -v the machines' serial consoles are copied to stderr.",
		flags: func(fs *flag.FlagSet) any {
			f := &testFlags{}
			fs.BoolVar(&f.dryRun, "dry-run", false, "check the test files and list their steps, run nothing")
			return f
		},
		run: runTest,
	})
}

func kindNames() string {
	var ks []string
	for _, k := range testdriver.Kinds() {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ", ")
}

// errTestsFailed reports failed tests; their output says why.
var errTestsFailed = errors.New("tests failed")

func runTest(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*testFlags)
	if len(args) == 0 {
		return usageErrorf("want at least one test file")
	}
	var tests []*testdriver.Test
	for _, a := range args {
		t, diags := testdriver.Load(r.Path(a))
		if diags.HasErrors() {
			return fmt.Errorf("invalid test %s:\n%s", a, strings.TrimRight(testdriver.FormatDiagnostics(diags), "\n"))
		}
		tests = append(tests, t)
	}
	if f.dryRun {
		for _, t := range tests {
			r.Printf("%s\n", t.File)
			for _, m := range t.Machines {
				src := "config " + m.Config
				if m.Image != "" {
					src = "image " + m.Image
				}
				r.Printf("  machine %s: %s\n", m.Name, src)
			}
			for _, s := range t.Steps {
				r.Printf("  %s\n", s)
			}
		}
		return nil
	}
	var vmOpts []testvm.Option
	if r.Verbose {
		vmOpts = append(vmOpts, testvm.WithSerialLog(r.Stderr))
	}
	env := testdriver.Env{
		Out: r.Stdout,
		Build: func(ctx context.Context, m *testdriver.MachineSpec) (string, error) {
			return r.image(ctx, m.Config)
		},
		Start: testdriver.StartVM(vmOpts...),
	}
	failed := 0
	for _, t := range tests {
		if !testdriver.Run(ctx, t, env) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", errTestsFailed, failed, len(tests))
	}
	return nil
}
