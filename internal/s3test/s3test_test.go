package s3test

import (
	"bytes"
	"strings"
	"testing"
)

// The exposed server answers signed requests on a non-loopback address:
// a bucket made and an object stored there read back through the
// loopback endpoint, and the other way round.
func TestExpose(t *testing.T) {
	s := Start(t)
	out := s.Expose(t)
	if out.Endpoint == s.Endpoint || strings.HasPrefix(out.Endpoint, "127.") {
		t.Fatalf("exposed endpoint %s (server at %s)", out.Endpoint, s.Endpoint)
	}
	out.MakeBucket(t, "exposed")
	out.PutObject(t, "exposed", "a/b", []byte("through the relay"))
	if got := s.GetObject(t, "exposed", "a/b"); !bytes.Equal(got, []byte("through the relay")) {
		t.Errorf("read back %q", got)
	}
	big := bytes.Repeat([]byte("0123456789"), 1<<20)
	s.PutObject(t, "exposed", "big", big)
	if got := out.GetObject(t, "exposed", "big"); !bytes.Equal(got, big) {
		t.Errorf("10 MB through the relay: read back %d bytes", len(got))
	}
}
