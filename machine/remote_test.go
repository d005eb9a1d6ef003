package machine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/sshtest"
	"github.com/kiln-os/kiln/store"
)

func TestShellSplitUndoesShellJoin(t *testing.T) {
	for _, args := range [][]string{
		{"/run/current-system/sw/bin/kiln", "store", "missing"},
		{"kiln", "--loader", `{"timeout":3,"console_mode":"keep"}`, "it's", "a b", "?*", ""},
	} {
		got, err := sshtest.ShellSplit(ShellJoin(args))
		if err != nil || !slices.Equal(got, args) {
			t.Errorf("ShellSplit(ShellJoin(%q)) = %q, %v", args, got, err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"root@host", "root@host:22", ""},
		{"root@10.0.0.2:2222", "root@10.0.0.2:2222", ""},
		{"root@[fe80::1]:2222", "root@[fe80::1]:2222", ""},
		{"root@fe80::1", "root@[fe80::1]:22", ""},
		{"host", "root@host:22", ""},
		{"alice@host", "alice@host:22", ""},
		{"host:2222", "root@host:2222", ""},
		{"@host", "", "want [USER@]HOST[:PORT]"},
		{"root@", "", "want [USER@]HOST[:PORT]"},
	} {
		got, err := ParseTarget(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseTarget(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got.String() != tc.want):
			t.Errorf("ParseTarget(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

// storeTarget plays the target side of a deploy with its store: kiln
// store missing and receive as the target's kiln runs them, and the
// toplevel's kiln switch, recorded.
type storeTarget struct {
	st       *store.Store
	switches [][]string
}

func (s *storeTarget) exec(line string, stdin io.Reader, stdout, stderr io.Writer) int {
	argv, err := sshtest.ShellSplit(line)
	if err != nil || len(argv) < 2 || !strings.HasSuffix(argv[0], "/bin/kiln") || strings.HasPrefix(argv[0], "/run/current-system/bin") {
		fmt.Fprintf(stderr, "sh: %s: not found\n", line)
		return 127
	}
	switch {
	case slices.Equal(argv[1:], []string{"store", "missing"}):
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			p, err := store.ParsePath(sc.Text())
			if err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			if !s.st.Valid(p) {
				fmt.Fprintln(stdout, p)
			}
		}
		return 0
	case slices.Equal(argv[1:], []string{"store", "receive"}):
		st, err := s.st.ReceiveStream(context.Background(), stdin, nil)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stderr, "received %s\n", st)
		return 0
	case slices.Contains(argv, "switch"):
		s.switches = append(s.switches, argv)
		fmt.Fprintf(stdout, "switched the target\n")
		fmt.Fprintf(stderr, "target log\n")
		return 3
	}
	return 2
}

// Deploy copies what the target lacks of the closure, with hashes the
// target's store checks, then runs the toplevel's own kiln to switch and
// relays its output and status.
func TestDeploy(t *testing.T) {
	local := newMachine(t)
	top := local.toplevel(t, "one", nil)
	target := &storeTarget{st: newMachine(t).Store}
	srv := sshtest.Start(t, target.exec)
	tgt, err := ParseTarget("root@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
	known := filepath.Join(srv.Home, ".ssh", "known_hosts")
	o := SSHOptions{Identity: srv.KeyFile, KnownHosts: known, Notice: func(s string) { notices = append(notices, s) }}
	if _, err := Dial(context.Background(), tgt, o); err == nil || !strings.Contains(err.Error(), "AcceptNew") && !strings.Contains(err.Error(), "accept-new-host-key") {
		t.Fatalf("an unknown host key: %v", err)
	}
	o.AcceptNew = true
	r, err := Dial(context.Background(), tgt, o)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(notices) != 1 || !strings.Contains(notices[0], "recorded the host key") {
		t.Errorf("notices %q", notices)
	}
	closure, _ := local.Store.Closure(top)
	for i, want := range []int{len(closure), 0} {
		var copied CopyStats
		var out, errs strings.Builder
		code, err := r.Deploy(context.Background(), local.Store, top, DeployOptions{DryRun: i == 1, Verbose: true, Stdout: &out, Stderr: &errs,
			Copied: func(c CopyStats) { copied = c }})
		if err != nil || code != 3 {
			t.Fatalf("deploy %d: code %d, %v", i, code, err)
		}
		if copied.Missing != want || copied.Closure != len(closure) || copied.Paths != want {
			t.Errorf("deploy %d copied %+v, want %d of %d", i, copied, want, len(closure))
		}
		if out.String() != "switched the target\n" || errs.String() != "target log\n" {
			t.Errorf("relayed %q and %q", out.String(), errs.String())
		}
	}
	for _, p := range closure {
		if !target.st.Valid(p) {
			t.Errorf("%s is not valid on the target", p)
		}
	}
	wantSwitch := [][]string{
		{top.String() + "/bin/kiln", "-v", "switch", "--toplevel", top.String()},
		{top.String() + "/bin/kiln", "-v", "switch", "--toplevel", top.String(), "--dry-run"},
	}
	if !slices.EqualFunc(target.switches, wantSwitch, slices.Equal) {
		t.Errorf("the target ran %q, want %q", target.switches, wantSwitch)
	}
	if cmds := srv.Commands(); !strings.HasPrefix(cmds[0], "/run/current-system/sw/bin/kiln store missing") {
		t.Errorf("first command %q", cmds[0])
	}
}
