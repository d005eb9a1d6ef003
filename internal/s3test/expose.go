package s3test

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Expose makes the server reachable on an address of this machine other
// than loopback, for clients elsewhere: a QEMU guest on user networking
// reaches the host's own addresses, and the same URL then works from the
// host too (a request's signature covers the host name it is sent to). It
// returns the server as seen there: a TCP relay to the server on a free
// port of the first non-loopback IPv4 address, closed when t ends.
func (s *Server) Expose(t testing.TB) *Server {
	t.Helper()
	ip, err := outwardIP()
	if err != nil {
		t.Fatalf("expose the S3 server: %v", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("expose the S3 server: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				relay(c, s.Endpoint)
			}()
		}
	}()
	out := *s
	out.Endpoint = net.JoinHostPort(ip, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	return &out
}

func relay(c net.Conn, to string) {
	defer c.Close()
	up, err := net.Dial("tcp", to)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, up)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

func outwardIP() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("this machine has no IPv4 address but loopback")
}
