package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kiln-os/kiln/store"
)

// The store stream that `kiln store receive` reads and sendPaths writes:
//
//	kiln-store-stream 1\n
//	{"path":P,"refs":[...],"narHash":"sha256:...","narSize":N}\n   then N bytes: P's NAR
//	... (references before the paths that refer to them)
//	{"end":true,"count":K}\n
//
// The trailer makes a stream cut at a path boundary an error too.

const streamMagic = "kiln-store-stream 1"

// streamHeader announces one path, or (End) the end of the stream.
type streamHeader struct {
	Path    *store.Path  `json:"path,omitempty"`
	Refs    []store.Path `json:"refs,omitempty"`
	NarHash string       `json:"narHash,omitempty"`
	NarSize int64        `json:"narSize,omitempty"`
	End     bool         `json:"end,omitempty"`
	Count   int          `json:"count,omitempty"`
}

// maxHeader bounds a header line (a path with thousands of references).
const maxHeader = 4 << 20

// storeMissing reads store paths, one a line, and prints those that are not
// valid in s, in the order read.
func storeMissing(r *Run, s *store.Store) error {
	sc := bufio.NewScanner(r.Stdin)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p, err := store.ParsePath(line)
		if err != nil {
			return err
		}
		if !s.Valid(p) {
			r.Printf("%s\n", p)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read paths: %w", err)
	}
	return nil
}

// transferStats are the figures of one stream.
type transferStats struct {
	Paths int
	Bytes int64 // NAR bytes
	Time  time.Duration
}

func (t transferStats) String() string {
	secs := t.Time.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(t.Bytes) / 1e6 / secs
	}
	return fmt.Sprintf("%d paths, %s in %s (%.1f MB/s)", t.Paths, gcBytes(t.Bytes), t.Time.Round(time.Millisecond), rate)
}

// storeReceive imports the stream on stdin into s.
func storeReceive(ctx context.Context, r *Run, s *store.Store) error {
	start := time.Now()
	br := bufio.NewReaderSize(r.Stdin, 256<<10)
	magic, err := readLine(br)
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	if magic != streamMagic {
		return fmt.Errorf("receive: stream starts with %q, want %q", truncate(magic, 40), streamMagic)
	}
	var st transferStats
	for {
		line, err := readLine(br)
		if err != nil {
			return fmt.Errorf("receive: after %d paths: %w", st.Paths, err)
		}
		var h streamHeader
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			return fmt.Errorf("receive: header after %d paths: %w", st.Paths, err)
		}
		if h.End {
			if h.Count != st.Paths {
				return fmt.Errorf("receive: stream ended after %d paths, its trailer says %d", st.Paths, h.Count)
			}
			break
		}
		if h.Path == nil || h.NarSize <= 0 {
			return fmt.Errorf("receive: header after %d paths names no path or size", st.Paths)
		}
		nar := io.LimitReader(br, h.NarSize)
		if err := s.ImportNAR(ctx, nar, *h.Path, h.Refs, h.NarHash); err != nil {
			return fmt.Errorf("receive: %w", err)
		}
		// A path already valid reads nothing: skip its bytes.
		if n, err := io.Copy(io.Discard, nar); err != nil {
			return fmt.Errorf("receive %s: %w", *h.Path, err)
		} else if n > 0 && n != h.NarSize {
			return fmt.Errorf("receive %s: NAR shorter than the %d bytes announced", *h.Path, h.NarSize)
		}
		st.Paths++
		st.Bytes += h.NarSize
		r.Logf("received %s", *h.Path)
	}
	st.Time = time.Since(start)
	fmt.Fprintf(r.Stderr, "received %s\n", st)
	return nil
}

func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > maxHeader {
			return "", errors.New("header line too long")
		}
		if err == nil {
			return strings.TrimSuffix(string(b), "\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sendPaths writes the stream of paths (in reference order) from s to w.
func sendPaths(w io.Writer, s *store.Store, paths []store.Path) (transferStats, error) {
	start := time.Now()
	bw := bufio.NewWriterSize(w, 256<<10)
	st := transferStats{}
	if _, err := fmt.Fprintf(bw, "%s\n", streamMagic); err != nil {
		return st, err
	}
	ordered, err := s.SortByReferences(paths)
	if err != nil {
		return st, err
	}
	for _, p := range ordered {
		info, err := s.Info(p)
		if err != nil {
			return st, err
		}
		p := p
		b, err := json.Marshal(streamHeader{Path: &p, Refs: info.Refs, NarHash: info.NarHash, NarSize: info.NarSize})
		if err != nil {
			return st, err
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return st, fmt.Errorf("send %s: %w", p, err)
		}
		if err := s.ExportNAR(bw, p); err != nil {
			return st, fmt.Errorf("send: %w", err)
		}
		st.Paths++
		st.Bytes += info.NarSize
	}
	b, _ := json.Marshal(streamHeader{End: true, Count: st.Paths})
	if _, err := bw.Write(append(b, '\n')); err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, err
	}
	st.Time = time.Since(start)
	return st, nil
}
