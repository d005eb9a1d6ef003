// Package sshtest is an in-process SSH server for tests: it stands for a
// machine reached with kiln switch --target-host. It accepts one client
// key (written as an OpenSSH private key file for the client to use),
// runs each exec request through a function the test gives, and records
// the command lines. Only tests import it.
package sshtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Exec runs one command line with the session's stdio and returns its
// exit status.
type Exec func(line string, stdin io.Reader, stdout, stderr io.Writer) int

// Server is a running test SSH server.
type Server struct {
	Addr    string        // 127.0.0.1:PORT
	HostKey ssh.PublicKey // the server's host key
	KeyFile string        // the client's private key (OpenSSH format), authorized for root
	Home    string        // a HOME for the client, without .ssh/known_hosts yet
	// ClientKey is the public half of KeyFile.
	ClientKey ssh.PublicKey

	mu         sync.Mutex
	commands   []string
	authorized []ssh.PublicKey
}

// Authorize accepts another client key for root (one deployer's key on
// many servers).
func (s *Server) Authorize(k ssh.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized = append(s.authorized, k)
}

func (s *Server) accepts(k ssh.PublicKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.authorized {
		if string(a.Marshal()) == string(k.Marshal()) {
			return true
		}
	}
	return false
}

// Commands returns the command lines run so far, in order.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Start starts a server whose exec requests run exec; it stops when the
// test ends.
func Start(t testing.TB, exec Exec) *Server {
	t.Helper()
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	clientPub, clientPriv, _ := ed25519.GenerateKey(rand.Reader)
	authorized, _ := ssh.NewPublicKey(clientPub)
	blk, err := ssh.MarshalPrivateKey(clientPriv, "test key")
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	keyFile := filepath.Join(home, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{KeyFile: keyFile, Home: home, ClientKey: authorized, authorized: []ssh.PublicKey{authorized}}
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(c ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if c.User() == "root" && s.accepts(k) {
				return nil, nil
			}
			return nil, errors.New("not authorized")
		},
	}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr, s.HostKey = ln.Addr().String(), hostSigner.PublicKey()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(conn, cfg, exec)
			}()
		}
	}()
	return s
}

func (s *Server) serve(conn net.Conn, cfg *ssh.ServerConfig, exec Exec) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ch.Close()
			for req := range creqs {
				if req.Type != "exec" {
					req.Reply(false, nil)
					continue
				}
				var e struct{ Command string }
				if err := ssh.Unmarshal(req.Payload, &e); err != nil {
					req.Reply(false, nil)
					continue
				}
				req.Reply(true, nil)
				s.mu.Lock()
				s.commands = append(s.commands, e.Command)
				s.mu.Unlock()
				code := exec(e.Command, ch, ch, ch.Stderr())
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
				return
			}
		}()
	}
}

// ShellSplit undoes the quoting of a command line for a POSIX shell:
// words, single-quoted strings, backslash escapes.
func ShellSplit(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
