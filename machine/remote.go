package machine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kiln-os/kiln/store"
)

// The building side of kiln switch --target-host: pure Go (x/crypto/ssh),
// keys from a file or the agent, host keys checked against known_hosts.
// The target side is the target's own kiln: store missing, store receive
// and switch --toplevel.

// remoteKilns are where a kiln machine has its kiln, tried in order.
var remoteKilns = []string{"/run/current-system/sw/bin/kiln", "/run/current-system/bin/kiln"}

// Target is a machine reached over SSH: USER@HOST[:PORT].
type Target struct{ User, Addr string }

// ParseTarget reads [USER@]HOST[:PORT]: user root (as nixos-rebuild's
// --target-host) and port 22 by default (ResolveTarget with no ssh
// configuration).
func ParseTarget(s string) (Target, error) {
	t, _, err := ResolveTarget(s, "")
	return t, err
}

func (t Target) String() string { return t.User + "@" + t.Addr }

// SSHOptions say how to reach a target.
type SSHOptions struct {
	Identity string // private key file; empty: the agent only
	// Identities are keys tried too when they exist and are not
	// encrypted (ssh_config's IdentityFile, ~/.ssh/id_*).
	Identities  []string
	AgentSocket string // the ssh agent's socket ($SSH_AUTH_SOCK); empty: none
	KnownHosts  string // known_hosts file
	AcceptNew   bool   // record unknown host keys instead of refusing
	// Notice hears what the user must be told: a host key recorded.
	Notice func(string)
	// Log receives progress lines (may be nil).
	Log func(format string, a ...any)
}

func (o SSHOptions) logf(format string, a ...any) {
	if o.Log != nil {
		o.Log(format, a...)
	}
}

// Remote is an SSH connection to a kiln machine.
type Remote struct {
	client *ssh.Client
	target Target
	opts   SSHOptions
	sent   *atomic.Int64 // bytes written to the connection
}

// Sent is how many bytes this side has written to the connection so far
// (SSH framing and encryption included): a deploy's egress to the target.
func (r *Remote) Sent() int64 { return r.sent.Load() }

// countingConn counts the bytes written to a connection.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// Dial connects and authenticates to t.
func Dial(ctx context.Context, t Target, o SSHOptions) (*Remote, error) {
	auth, closeAgent, err := authMethods(o)
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	cfg := &ssh.ClientConfig{
		User:            t.User,
		Auth:            auth,
		HostKeyCallback: hostKeyCallback(o),
		Timeout:         30 * time.Second,
	}
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", t, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl) // the handshake too, not only the connect
	}
	sent := new(atomic.Int64)
	c, chans, reqs, err := ssh.NewClientConn(countingConn{conn, sent}, t.Addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh %s: %w", t, err)
	}
	conn.SetDeadline(time.Time{})
	return &Remote{client: ssh.NewClient(c, chans, reqs), target: t, opts: o, sent: sent}, nil
}

// Close closes the connection.
func (r *Remote) Close() error { return r.client.Close() }

// authMethods offers the identity key first, then the agent's keys.
func authMethods(o SSHOptions) ([]ssh.AuthMethod, func(), error) {
	identity := o.Identity
	var signers []ssh.Signer
	if identity != "" {
		b, err := os.ReadFile(identity)
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
	for _, file := range o.Identities {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			o.logf("identity %s: %v (skipped: an encrypted key works through ssh-agent)", file, err)
			continue
		}
		signers = append(signers, s)
	}
	closeAgent := func() {}
	var ag agent.ExtendedAgent
	if sock := o.AgentSocket; sock != "" {
		conn, err := net.Dial("unix", sock)
		if err != nil {
			o.logf("ssh agent %s: %v", sock, err)
		} else {
			ag = agent.NewClient(conn)
			closeAgent = func() { conn.Close() }
		}
	}
	if len(signers) == 0 && ag == nil {
		return nil, nil, errors.New("no ssh key: pass -i KEY, have ~/.ssh/id_ed25519 (or an IdentityFile in ~/.ssh/config), or run an ssh agent (SSH_AUTH_SOCK)")
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
// whose key changed, and records an unknown one only when AcceptNew.
func hostKeyCallback(o SSHOptions) ssh.HostKeyCallback {
	file, acceptNew := o.KnownHosts, o.AcceptNew
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
		if o.Notice != nil {
			o.Notice(fmt.Sprintf("recorded the host key of %s (%s %s) in %s", hostname, key.Type(), ssh.FingerprintSHA256(key), file))
		}
		return nil
	}
}

// Run runs cmd on the target and returns its exit status (-1 when the
// target sent none, e.g. the connection broke).
func (r *Remote) Run(cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	sess, err := r.client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("ssh session: %w", err)
	}
	defer sess.Close()
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, stdout, stderr
	return exitCode(sess.Run(ShellJoin(cmd)))
}

// RunHeld is Run with the remote command's stdin held open, never
// written, until it exits: the command reads EOF only when this side
// goes away (killed, or the connection broke).
func (r *Remote) RunHeld(cmd []string, stdout, stderr io.Writer) (int, error) {
	sess, err := r.client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("ssh session: %w", err)
	}
	defer sess.Close()
	sess.Stdout, sess.Stderr = stdout, stderr
	if _, err := sess.StdinPipe(); err != nil { // closed by Wait once the command exits
		return -1, fmt.Errorf("ssh session: %w", err)
	}
	return exitCode(sess.Run(ShellJoin(cmd)))
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

// ShellJoin quotes args for the target's login shell.
func ShellJoin(args []string) string {
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

// Missing asks the target which of paths it lacks, and finds the
// target's kiln on the way.
func (r *Remote) Missing(paths []store.Path) (kiln string, missing []store.Path, err error) {
	var list strings.Builder
	for _, p := range paths {
		list.WriteString(p.String() + "\n")
	}
	for _, k := range remoteKilns {
		var out, errb strings.Builder
		code, err := r.Run([]string{k, "store", "missing"}, strings.NewReader(list.String()), &out, &errb)
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

// Receive streams paths from s into the target's store with its kiln
// (store.SendStream to `kiln store receive`).
func (r *Remote) Receive(kiln string, s *store.Store, paths []store.Path) (store.TransferStats, error) {
	if len(paths) == 0 {
		return store.TransferStats{}, nil
	}
	sess, err := r.client.NewSession()
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
	if err := sess.Start(ShellJoin(cmd)); err != nil {
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
	r.opts.logf("target: %s", msg)
	return st, nil
}

// CopyStats are the figures of a closure copied to a target.
type CopyStats struct {
	store.TransferStats
	Missing, Closure int // paths the target lacked, of the closure's
	// Substituted are the paths the target took from its caches itself
	// (DeployOptions.Substitute); Missing counts only what was copied.
	Substituted int
}

// Substitute names the caches a target takes paths from itself, and the
// keys it trusts for them (a configuration's substituters and
// trusted_public_keys).
type Substitute struct {
	From, TrustedKeys []string
}

// DeployOptions say how Deploy switches the target.
type DeployOptions struct {
	DryRun, Boot, Verbose bool // kiln switch's --dry-run, --boot and -v on the target
	NoBoot                bool // kiln switch --no-boot: activate only
	// Stdout and Stderr receive the target's kiln's output.
	Stdout, Stderr io.Writer
	// Copied, when set, hears how the copy went, before the switch runs.
	Copied func(CopyStats)
	// Substitute, when set, has the target take the paths it lacks from
	// these caches itself (kiln store substitute --missing-ok, signatures
	// and hashes checked there): the deployer sends only their names, and
	// copies over SSH only what no cache has. A path a cache serves bad
	// fails the deploy before anything switches.
	Substitute *Substitute
}

// Deploy switches the target to top from st: it copies the paths of top's
// closure the target lacks (each NAR's hash checked there before it is
// registered), then runs top's own kiln on the target to switch to it
// (with DryRun, to print the plan: the target needs the toplevel to plan),
// relaying its output. It returns the target's exit status.
func (r *Remote) Deploy(ctx context.Context, st *store.Store, top store.Path, o DeployOptions) (int, error) {
	if _, err := r.copyClosure(st, top, o.Copied, o.Substitute); err != nil {
		return -1, err
	}
	cmd := []string{top.String() + "/bin/kiln"}
	if o.Verbose {
		cmd = append(cmd, "-v")
	}
	cmd = append(cmd, "switch", "--toplevel", top.String())
	if o.DryRun {
		cmd = append(cmd, "--dry-run")
	}
	if o.Boot {
		cmd = append(cmd, "--boot")
	}
	if o.NoBoot {
		cmd = append(cmd, "--no-boot")
	}
	code, err := r.Run(cmd, nil, o.Stdout, o.Stderr)
	if err != nil {
		return code, fmt.Errorf("switch on %s: %w", r.target, err)
	}
	return code, nil
}

// substitute has the target take paths from caches itself and returns
// those no cache had.
func (r *Remote) substitute(kiln string, paths []store.Path, sub *Substitute) ([]store.Path, error) {
	cmd := []string{kiln, "store", "substitute", "--missing-ok"}
	for _, u := range sub.From {
		cmd = append(cmd, "--from", u)
	}
	for _, k := range sub.TrustedKeys {
		cmd = append(cmd, "--trusted-key", strings.TrimSpace(k))
	}
	var list, out, errb strings.Builder
	for _, p := range paths {
		list.WriteString(p.String() + "\n")
	}
	code, err := r.Run(cmd, strings.NewReader(list.String()), &out, &errb)
	if err != nil {
		return nil, fmt.Errorf("substitute on %s: %w", r.target, err)
	}
	if code != 0 {
		return nil, fmt.Errorf("substitute on %s: %s store substitute exited %d: %s", r.target, kiln, code, strings.TrimSpace(errb.String()))
	}
	still := map[store.Path]bool{}
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "missing "); ok {
			p, err := store.ParsePath(strings.TrimSpace(rest))
			if err != nil {
				return nil, fmt.Errorf("substitute on %s: the target answered: %w", r.target, err)
			}
			still[p] = true
		}
	}
	var left []store.Path // in the order asked: references first
	for _, p := range paths {
		if still[p] {
			left = append(left, p)
		}
	}
	r.opts.logf("target %s: %s", r.target, strings.TrimSpace(errb.String()))
	return left, nil
}
