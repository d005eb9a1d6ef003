package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The store stream carries paths between two kilns of possibly different
// versions (kiln switch --target-host writes it, the target's
// `kiln store receive` reads it):
//
//	kiln-store-stream 1\n
//	{"path":P,"refs":[...],"narHash":"sha256:...","narSize":N}\n   then N bytes: P's NAR
//	... (references before the paths that refer to them)
//	{"end":true,"count":K}\n
//
// The trailer makes a stream cut at a path boundary an error too.
//
// Wire compatibility: the header's keys are spelled narHash and narSize
// (camelCase, as Nix's narinfo and the first kiln that spoke this stream
// wrote them), unlike kiln's snake_case files: a receiver is the target's
// installed kiln, older than the sender, so the spelling never changes
// within version 1. A new field may be added (readers ignore what they do
// not know); a change of meaning is version 2, in the first line.

// Before a stream, the sender asks which paths the receiver lacks: it
// writes their logical paths, one a line; the receiver (`kiln store
// missing`, WriteMissing) answers with those not valid in its store, in
// the order asked.

// WriteMissing reads store paths from r, one a line, and writes to w
// those that are not valid in s, in the order read.
func (s *Store) WriteMissing(w io.Writer, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p, err := ParsePath(line)
		if err != nil {
			return err
		}
		if !s.Valid(p) {
			if _, err := fmt.Fprintf(w, "%s\n", p); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read paths: %w", err)
	}
	return nil
}

// StreamMagic is the first line of a store stream.
const StreamMagic = "kiln-store-stream 1"

// streamHeader announces one path, or (End) the end of the stream.
type streamHeader struct {
	Path    *Path  `json:"path,omitempty"`
	Refs    []Path `json:"refs,omitempty"`
	NarHash string `json:"narHash,omitempty"`
	NarSize int64  `json:"narSize,omitempty"`
	End     bool   `json:"end,omitempty"`
	Count   int    `json:"count,omitempty"`
}

// maxHeader bounds a header line (a path with thousands of references).
const maxHeader = 4 << 20

// TransferStats are the figures of one stream.
type TransferStats struct {
	Paths int
	Bytes int64 // NAR bytes
	Time  time.Duration
}

func (t TransferStats) String() string {
	secs := t.Time.Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(t.Bytes) / 1e6 / secs
	}
	return fmt.Sprintf("%d paths, %s in %s (%.1f MB/s)", t.Paths, FormatBytes(t.Bytes), t.Time.Round(time.Millisecond), rate)
}

// FormatBytes prints n bytes in binary units: "512 B", "1.5 MiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// SendStream writes the stream of paths from s to w, references first.
func (s *Store) SendStream(w io.Writer, paths []Path) (TransferStats, error) {
	start := time.Now()
	bw := bufio.NewWriterSize(w, 256<<10)
	st := TransferStats{}
	if _, err := fmt.Fprintf(bw, "%s\n", StreamMagic); err != nil {
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

// ReceiveStream imports the stream read from r into s, each NAR checked
// against its announced hash before its path is registered (ImportNAR);
// paths already valid are skipped. received, when set, hears of each path.
func (s *Store) ReceiveStream(ctx context.Context, r io.Reader, received func(Path)) (TransferStats, error) {
	start := time.Now()
	br := bufio.NewReaderSize(r, 256<<10)
	var st TransferStats
	magic, err := readLine(br)
	if err != nil {
		return st, fmt.Errorf("receive: %w", err)
	}
	if magic != StreamMagic {
		return st, fmt.Errorf("receive: stream starts with %q, want %q", truncate(magic, 40), StreamMagic)
	}
	for {
		line, err := readLine(br)
		if err != nil {
			return st, fmt.Errorf("receive: after %d paths: %w", st.Paths, err)
		}
		var h streamHeader
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			return st, fmt.Errorf("receive: header after %d paths: %w", st.Paths, err)
		}
		if h.End {
			if h.Count != st.Paths {
				return st, fmt.Errorf("receive: stream ended after %d paths, its trailer says %d", st.Paths, h.Count)
			}
			break
		}
		if h.Path == nil || h.NarSize <= 0 {
			return st, fmt.Errorf("receive: header after %d paths names no path or size", st.Paths)
		}
		nar := io.LimitReader(br, h.NarSize)
		if err := s.ImportNAR(ctx, nar, *h.Path, h.Refs, h.NarHash); err != nil {
			return st, fmt.Errorf("receive: %w", err)
		}
		// A path already valid reads nothing: skip its bytes.
		if n, err := io.Copy(io.Discard, nar); err != nil {
			return st, fmt.Errorf("receive %s: %w", *h.Path, err)
		} else if n > 0 && n != h.NarSize {
			return st, fmt.Errorf("receive %s: NAR shorter than the %d bytes announced", *h.Path, h.NarSize)
		}
		st.Paths++
		st.Bytes += h.NarSize
		if received != nil {
			received(*h.Path)
		}
	}
	st.Time = time.Since(start)
	return st, nil
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
