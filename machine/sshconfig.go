package machine

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// SSHHost is what ~/.ssh/config says of one host alias: the options kiln
// honours (HostName, User, Port, IdentityFile), first value wins as in
// ssh(1). Other options (ProxyJump, Include, Match...) are not read.
type SSHHost struct {
	HostName, User, Port string
	IdentityFiles        []string
}

// ReadSSHConfig reads the options of alias from an ssh_config file; a
// missing file says nothing.
func ReadSSHConfig(file, alias string) (SSHHost, error) {
	var h SSHHost
	if file == "" {
		return h, nil
	}
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read ssh config: %w", err)
	}
	defer f.Close()
	home := filepath.Dir(filepath.Dir(file)) // ~/.ssh/config → ~
	match := true                            // options before the first Host apply to all
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, " ")
		if k, v, eq := strings.Cut(line, "="); eq && (!ok || len(k) < len(key)) {
			key, val = k, v
		}
		key, val = strings.ToLower(strings.TrimSpace(key)), strings.Trim(strings.TrimSpace(val), `"`)
		switch key {
		case "host":
			match = hostMatches(alias, strings.Fields(val))
		case "match":
			match = false // not supported: its options are skipped
		}
		if !match {
			continue
		}
		switch key {
		case "hostname":
			if h.HostName == "" {
				h.HostName = strings.ReplaceAll(val, "%h", alias)
			}
		case "user":
			if h.User == "" {
				h.User = val
			}
		case "port":
			if h.Port == "" {
				h.Port = val
			}
		case "identityfile":
			if strings.HasPrefix(val, "~/") {
				val = filepath.Join(home, val[2:])
			}
			h.IdentityFiles = append(h.IdentityFiles, val)
		}
	}
	if err := sc.Err(); err != nil {
		return h, fmt.Errorf("read ssh config %s: %w", file, err)
	}
	return h, nil
}

// hostMatches applies ssh_config's Host patterns (*, ?, !negation).
func hostMatches(alias string, patterns []string) bool {
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if ok, _ := path.Match(strings.TrimPrefix(p, "!"), alias); ok {
			if neg {
				return false
			}
			matched = true
		}
	}
	return matched
}

// DefaultIdentities are the keys ssh(1) tries when no IdentityFile says
// otherwise, under home.
func DefaultIdentities(home string) []string {
	var out []string
	for _, n := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		out = append(out, filepath.Join(home, ".ssh", n))
	}
	return out
}

// ResolveTarget reads [USER@]HOST[:PORT] as ssh(1) would with the
// configuration file sshConfig: HOST may be an alias whose HostName,
// User and Port apply unless given; the user is root by default (as
// nixos-rebuild's --target-host). It returns the target and the
// configuration's identity files.
func ResolveTarget(s, sshConfig string) (Target, []string, error) {
	user, hostport, ok := strings.Cut(s, "@")
	if !ok {
		user, hostport = "", s
	}
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	host = strings.Trim(host, "[]")
	if host == "" || (ok && user == "") {
		return Target{}, nil, fmt.Errorf("target host %q: want [USER@]HOST[:PORT]", s)
	}
	c, err := ReadSSHConfig(sshConfig, host)
	if err != nil {
		return Target{}, nil, err
	}
	if c.HostName != "" {
		host = c.HostName
	}
	if user == "" {
		user = c.User
	}
	if user == "" {
		user = "root"
	}
	if port == "" {
		port = c.Port
	}
	if port == "" {
		port = "22"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return Target{}, nil, fmt.Errorf("target host %q: port %q is not a number from 1 to 65535", s, port)
	}
	return Target{User: user, Addr: net.JoinHostPort(host, port)}, c.IdentityFiles, nil
}
