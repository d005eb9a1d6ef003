package sshtest

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestShellSplit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"kiln store missing", []string{"kiln", "store", "missing"}, false},
		{"a  'b c' d\\ e ''", []string{"a", "b c", "d e", ""}, false},
		{`'it'\''s'`, []string{"it's"}, false},
		{"'open", nil, true},
	} {
		got, err := ShellSplit(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("ShellSplit(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// The server runs what the test gives it for root with the client key,
// records the command line and returns the function's exit status; it
// refuses another user.
func TestServer(t *testing.T) {
	s := Start(t, func(line string, _ io.Reader, stdout, _ io.Writer) int {
		stdout.Write([]byte(strings.ToUpper(line)))
		return 3
	})
	key, err := os.ReadFile(s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(user string) (*ssh.Client, error) {
		return ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
			HostKeyCallback: ssh.FixedHostKey(s.HostKey)})
	}
	if _, err := dial("alice"); err == nil {
		t.Error("a user other than root was let in")
	}
	c, err := dial("root")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.Output("echo hi")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 || string(out) != "ECHO HI" {
		t.Errorf("ran: %q, %v; want ECHO HI and status 3", out, err)
	}
	if got := s.Commands(); !slices.Equal(got, []string{"echo hi"}) {
		t.Errorf("commands %q", got)
	}
}
