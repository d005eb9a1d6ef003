package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kiln-os/kiln/store"
)

// The SSH side of kiln switch --target-host: pure Go (x/crypto/ssh), keys
// from -i or the agent, host keys checked against ~/.ssh/known_hosts.

// remoteKilns are where a kiln machine has its kiln, tried in order.
var remoteKilns = []string{"/run/current-system/sw/bin/kiln", "/run/current-system/bin/kiln"}

// target is root@HOST[:PORT].
type target struct{ user, addr string }

func parseTarget(s string) (target, error) {
	user, host, ok := strings.Cut(s, "@")
	if !ok || user == "" || host == "" {
		return target{}, fmt.Errorf("target host %q: want USER@HOST[:PORT]", s)
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "22")
	}
	return target{user: user, addr: host}, nil
}

func (t target) String() string { return t.user + "@" + t.addr }

type sshOptions struct {
	identity   string // private key file; empty: the agent only
	knownHosts string // known_hosts file
	acceptNew  bool   // record unknown host keys instead of refusing
}

// dialTarget connects and authenticates to t.
func dialTarget(ctx context.Context, r *Run, t target, o sshOptions) (*ssh.Client, error) {
	auth, closeAgent, err := authMethods(r, o.identity)
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	cfg := &ssh.ClientConfig{
		User:            t.user,
		Auth:            auth,
		HostKeyCallback: hostKeyCallback(r, o.knownHosts, o.acceptNew),
		Timeout:         30 * time.Second,
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", t.addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t, err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, t.addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s: %w", t, err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// authMethods offers the -i key first, then the agent's keys.
func authMethods(r *Run, identity string) ([]ssh.AuthMethod, func(), error) {
	var signers []ssh.Signer
	if identity != "" {
		b, err := os.ReadFile(r.Path(identity))
		if err != nil {
			return nil, nil, fmt.Errorf("read identity: %w", err)
		}
		s, err := ssh.ParsePrivateKey(b)
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, nil, fmt.Errorf("identity %s is encrypted: load it into ssh-agent instead", identity)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("identity %s: %w", identity, err)
		}
		signers = append(signers, s)
	}
	closeAgent := func() {}
	var ag agent.ExtendedAgent
	if sock := r.Getenv("SSH_AUTH_SOCK"); sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			r.Logf("ssh agent %s: %v", sock, err)
		} else {
			ag = agent.NewClient(conn)
			closeAgent = func() { conn.Close() }
		}
	}
	if len(signers) == 0 && ag == nil {
		return nil, nil, errors.New("no ssh key: pass -i KEY or run an ssh agent (SSH_AUTH_SOCK)")
	}
	cb := func() ([]ssh.Signer, error) {
		out := append([]ssh.Signer(nil), signers...)
		if ag != nil {
			more, err := ag.Signers()
			if err == nil {
				out = append(out, more...)
			}
		}
		return out, nil
	}
	return []ssh.AuthMethod{ssh.PublicKeysCallback(cb)}, closeAgent, nil
}

// hostKeyCallback accepts a host whose key known_hosts lists, refuses one
// whose key changed, and records an unknown one only when acceptNew.
func hostKeyCallback(r *Run, file string, acceptNew bool) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		if _, err := os.Stat(file); err == nil {
			check, err := knownhosts.New(file)
			if err != nil {
				return fmt.Errorf("read %s: %w", file, err)
			}
			err = check(hostname, remote, key)
			var ke *knownhosts.KeyError
			switch {
			case err == nil:
				return nil
			case !errors.As(err, &ke):
				return err
			case len(ke.Want) > 0:
				return fmt.Errorf("host key of %s (%s) does not match %s:%d: refusing to connect (if the machine was reinstalled, remove that line)",
					hostname, ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line)
			}
		}
		if !acceptNew {
			return fmt.Errorf("host %s is not in %s (its key is %s %s): rerun with --accept-new-host-key to trust and record it",
				hostname, file, key.Type(), ssh.FingerprintSHA256(key))
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return fmt.Errorf("record host key: %w", err)
		}
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("record host key: %w", err)
		}
		_, err = fmt.Fprintln(f, knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("record host key in %s: %w", file, err)
		}
		fmt.Fprintf(r.Stderr, "recorded the host key of %s (%s %s) in %s\n", hostname, key.Type(), ssh.FingerprintSHA256(key), file)
		return nil
	}
}

// remoteRun runs cmd on c and returns its exit status (-1 when the
// target sent none, e.g. the connection broke).
func remoteRun(c *ssh.Client, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	sess, err := c.NewSession()
	if err != nil {
		return -1, fmt.Errorf("ssh session: %w", err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, stdout, stderr
	return exitCode(sess.Run(shellJoin(cmd)))
}

func exitCode(err error) (int, error) {
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// shellJoin quotes args for the target's login shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		safe := a != ""
		for _, c := range a {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+=:,@%", c)) {
				safe = false
				break
			}
		}
		if safe {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}

// remoteMissing asks the target which of paths it lacks, and finds the
// target's kiln on the way.
func remoteMissing(c *ssh.Client, r *Run, paths []store.Path) (kiln string, missing []store.Path, err error) {
	var list strings.Builder
	for _, p := range paths {
		list.WriteString(p.String() + "\n")
	}
	for _, k := range remoteKilns {
		var out, errb strings.Builder
		code, err := remoteRun(c, []string{k, "store", "missing"}, strings.NewReader(list.String()), &out, &errb)
		if err != nil {
			return "", nil, fmt.Errorf("ask the target for missing paths: %w", err)
		}
		if code == 127 {
			continue // no such program: try the next place
		}
		if code != 0 {
			return "", nil, fmt.Errorf("%s store missing on the target exited %d: %s", k, code, strings.TrimSpace(errb.String()))
		}
		for _, line := range strings.Fields(out.String()) {
			p, err := store.ParsePath(line)
			if err != nil {
				return "", nil, fmt.Errorf("target answered: %w", err)
			}
			missing = append(missing, p)
		}
		return k, missing, nil
	}
	return "", nil, fmt.Errorf("the target has no kiln at %s: is it a kiln machine?", strings.Join(remoteKilns, " or "))
}

// remoteReceive streams paths into the target's store with its kiln.
func remoteReceive(c *ssh.Client, r *Run, kiln string, s *store.Store, paths []store.Path) (store.TransferStats, error) {
	if len(paths) == 0 {
		return store.TransferStats{}, nil
	}
	sess, err := c.NewSession()
	if err != nil {
		return store.TransferStats{}, fmt.Errorf("ssh session: %w", err)
	}
	defer sess.Close()
	in, err := sess.StdinPipe()
	if err != nil {
		return store.TransferStats{}, err
	}
	var errb strings.Builder
	sess.Stdout, sess.Stderr = io.Discard, &errb
	cmd := []string{kiln, "store", "receive"}
	start := time.Now()
	if err := sess.Start(shellJoin(cmd)); err != nil {
		return store.TransferStats{}, fmt.Errorf("start %s store receive: %w", kiln, err)
	}
	st, serr := s.SendStream(in, paths)
	in.Close()
	code, werr := exitCode(sess.Wait())
	st.Time = time.Since(start) // until the target has registered them all
	msg := strings.TrimSpace(errb.String())
	switch {
	case werr != nil:
		return st, fmt.Errorf("copy to the target: %w", werr)
	case code != 0:
		return st, fmt.Errorf("copy to the target: %s store receive exited %d: %s", kiln, code, msg)
	case serr != nil:
		return st, fmt.Errorf("copy to the target: %w", serr)
	}
	r.Logf("target: %s", msg)
	return st, nil
}
