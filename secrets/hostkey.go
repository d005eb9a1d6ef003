package secrets

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// errGotKey stops a handshake once the host key is known.
var errGotKey = errors.New("host key received")

// ScanHostKey connects to an SSH server at addr (HOST or HOST:PORT) and
// returns the ed25519 host key it presents, as a recipients-file line.
// No login is attempted: the key is taken from the key exchange, which
// proves the server holds its private half. Whether it is the right
// machine is for the admin to check (its fingerprint, printed on the
// console by ssh-keygen -l, or known_hosts), as with ssh itself.
func ScanHostKey(addr string, timeout time.Duration) (string, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	var got ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "kiln-host-key",
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			got = key
			return errGotKey
		},
		Timeout: timeout,
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", fmt.Errorf("host key of %s: %w", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	c, _, _, err := ssh.NewClientConn(conn, addr, cfg)
	if c != nil {
		c.Close()
	}
	if got == nil {
		return "", fmt.Errorf("host key of %s: %w", addr, err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(got))), nil
}
