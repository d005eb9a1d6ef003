package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Moving store paths between machines: ExportNAR writes a path as the NAR
// serialization its recorded hash covers, ImportNAR unpacks one into the
// store, checking the hash of the bytes received before the path is
// registered. Neither knows about transports; the CLI streams them over
// SSH.

// ErrHashMismatch reports a NAR whose content is not the one announced.
var ErrHashMismatch = errors.New("NAR hash mismatch")

// Limits on what an imported NAR may contain: more is an attack or a bug.
const (
	narMaxToken  = 64   // "nix-archive-1", "directory", ...
	narMaxName   = 255  // a directory entry (NAME_MAX)
	narMaxTarget = 4095 // a symlink target (PATH_MAX - 1)
	narMaxDepth  = 256  // nested directories
)

// ExportNAR writes p's NAR serialization to w. It fails when p is not valid
// or when its content no longer has the hash recorded for it (the store
// was damaged: sending it would only make the receiver refuse it).
func (s *Store) ExportNAR(w io.Writer, p Path) error {
	info, err := s.Info(p)
	if err != nil {
		return fmt.Errorf("export %s: %w", p, err)
	}
	tee := &teeHash{Hash: sha256.New(), w: w}
	walk := newWalkerHash(false, tee)
	narHash, narSize, err := walk.hashTree(s.Physical(p))
	if err == nil {
		err = tee.err
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", p, err)
	}
	if narHash != info.NarHash || narSize != info.NarSize {
		return fmt.Errorf("export %s: %w: content hashes to %s (%d bytes), recorded %s (%d bytes); run 'kiln store verify'",
			p, ErrHashMismatch, narHash, narSize, info.NarHash, info.NarSize)
	}
	return nil
}

// teeHash is a hash.Hash that also writes everything it hashes to w,
// remembering the first write error (narWriter ignores them).
type teeHash struct {
	hash.Hash
	w   io.Writer
	err error
}

func (t *teeHash) Write(b []byte) (int, error) {
	if t.err == nil {
		_, t.err = t.w.Write(b)
	}
	return t.Hash.Write(b)
}

// ImportNAR reads one NAR from r and makes it store path p with refs, like
// Build: refs must be valid (or p itself). The SHA-256 of the bytes read
// must be narHash ("sha256:<nix32>"), else nothing is registered and the
// error wraps ErrHashMismatch. ImportNAR reads exactly the NAR and no byte
// after it; when p is valid already it reads nothing.
func (s *Store) ImportNAR(ctx context.Context, r io.Reader, p Path, refs []Path, narHash string) error {
	return s.Import(ctx, r, Import{Path: p, Refs: refs, NarHash: narHash})
}

// Import describes a NAR that Store.Import makes a store path.
type Import struct {
	Path    Path
	Refs    []Path
	NarHash string // "sha256:<nix32>" the NAR must hash to
	NarSize int64  // the NAR's size in bytes; 0: not checked
	// Finish, when set, runs after the whole NAR was read and its hash and
	// size matched, before the path is registered: an error from it (say,
	// the compressed file around the NAR was not the one announced)
	// refuses the path as a bad hash does.
	Finish func() error
}

// Import is ImportNAR with the checks of im: the NAR read from r must
// also have im.NarSize bytes, and im.Finish must accept it. Nothing is
// registered when a check fails.
func (s *Store) Import(ctx context.Context, r io.Reader, im Import) error {
	p, narHash := im.Path, im.NarHash
	if !strings.HasPrefix(narHash, "sha256:") {
		return fmt.Errorf("import %s: NAR hash %q is not sha256:<nix32>", p, narHash)
	}
	fill := func(tmp string) error {
		h := sha256.New()
		nr := &narReader{r: io.TeeReader(r, h), ctx: ctx}
		if err := nr.archive(tmp); err != nil {
			return err
		}
		if got := "sha256:" + nix32(h.Sum(nil)); got != narHash {
			return fmt.Errorf("%w: received %s (%d bytes), announced %s", ErrHashMismatch, got, nr.n, narHash)
		}
		if im.NarSize > 0 && nr.n != im.NarSize {
			return fmt.Errorf("%w: received %d bytes, announced %d", ErrHashMismatch, nr.n, im.NarSize)
		}
		if im.Finish != nil {
			return im.Finish()
		}
		return nil
	}
	if err := s.Build(ctx, p, im.Refs, fill); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	// Build hashed the unpacked tree again; a difference would be a bug in
	// the reader, not in transit.
	info, err := s.Info(p)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if info.NarHash != narHash {
		return fmt.Errorf("import %s: %w: stored tree hashes to %s, announced %s", p, ErrHashMismatch, info.NarHash, narHash)
	}
	return nil
}

// narReader unpacks a NAR stream into a directory tree.
type narReader struct {
	r   io.Reader
	ctx context.Context
	n   int64
	buf [8]byte
	cp  []byte
}

func (nr *narReader) read(b []byte) error {
	n, err := io.ReadFull(nr.r, b)
	nr.n += int64(n)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (nr *narReader) u64() (uint64, error) {
	if err := nr.read(nr.buf[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(nr.buf[:]), nil
}

// pad reads the zero padding after n bytes of content.
func (nr *narReader) pad(n uint64) error {
	r := n % 8
	if r == 0 {
		return nil
	}
	b := nr.buf[:8-r]
	if err := nr.read(b); err != nil {
		return err
	}
	for _, c := range b {
		if c != 0 {
			return errors.New("bad NAR: non-zero padding")
		}
	}
	return nil
}

// str reads a string of at most max bytes.
func (nr *narReader) str(max int) (string, error) {
	l, err := nr.u64()
	if err != nil {
		return "", err
	}
	if l > uint64(max) {
		return "", fmt.Errorf("bad NAR: string of %d bytes (at most %d here)", l, max)
	}
	b := make([]byte, l)
	if err := nr.read(b); err != nil {
		return "", err
	}
	return string(b), nr.pad(l)
}

// expect reads a token and fails unless it is one of want.
func (nr *narReader) expect(want ...string) (string, error) {
	s, err := nr.str(narMaxToken)
	if err != nil {
		return "", err
	}
	for _, w := range want {
		if s == w {
			return s, nil
		}
	}
	return "", fmt.Errorf("bad NAR: got %q, want %s", s, strings.Join(want, " or "))
}

func (nr *narReader) archive(dst string) error {
	if _, err := nr.expect("nix-archive-1"); err != nil {
		return err
	}
	return nr.node(dst, 0)
}

func (nr *narReader) node(dst string, depth int) error {
	if depth > narMaxDepth {
		return fmt.Errorf("bad NAR: directories nested deeper than %d", narMaxDepth)
	}
	if err := nr.ctx.Err(); err != nil {
		return err
	}
	if _, err := nr.expect("("); err != nil {
		return err
	}
	if _, err := nr.expect("type"); err != nil {
		return err
	}
	typ, err := nr.expect("regular", "symlink", "directory")
	if err != nil {
		return err
	}
	switch typ {
	case "regular":
		err = nr.regular(dst)
	case "symlink":
		err = nr.symlink(dst)
	default:
		err = nr.directory(dst, depth)
	}
	return err
}

func (nr *narReader) regular(dst string) error {
	tok, err := nr.expect("executable", "contents")
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if tok == "executable" {
		if _, err := nr.expect(""); err != nil {
			return err
		}
		if _, err := nr.expect("contents"); err != nil {
			return err
		}
		mode = 0o755
	}
	size, err := nr.u64()
	if err != nil {
		return err
	}
	if size > 1<<42 {
		return fmt.Errorf("bad NAR: file of %d bytes", size)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if nr.cp == nil {
		nr.cp = make([]byte, 256<<10)
	}
	n, err := io.CopyBuffer(onlyWriter{f}, io.LimitReader(nr.r, int64(size)), nr.cp)
	nr.n += n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if uint64(n) != size {
		return io.ErrUnexpectedEOF
	}
	if err := nr.pad(size); err != nil {
		return err
	}
	_, err = nr.expect(")")
	return err
}

// onlyWriter hides ReadFrom so that CopyBuffer uses our buffer and counts.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(b []byte) (int, error) { return o.w.Write(b) }

func (nr *narReader) symlink(dst string) error {
	if _, err := nr.expect("target"); err != nil {
		return err
	}
	target, err := nr.str(narMaxTarget)
	if err != nil {
		return err
	}
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("bad NAR: symlink target %q", target)
	}
	if err := os.Symlink(target, dst); err != nil {
		return err
	}
	_, err = nr.expect(")")
	return err
}

func (nr *narReader) directory(dst string, depth int) error {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	prev := ""
	for {
		tok, err := nr.expect("entry", ")")
		if err != nil {
			return err
		}
		if tok == ")" {
			return nil
		}
		if _, err := nr.expect("("); err != nil {
			return err
		}
		if _, err := nr.expect("name"); err != nil {
			return err
		}
		name, err := nr.str(narMaxName)
		if err != nil {
			return err
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return fmt.Errorf("bad NAR: entry name %q", name)
		}
		if prev != "" && name <= prev {
			return fmt.Errorf("bad NAR: entry %q after %q (entries must be sorted and unique)", name, prev)
		}
		prev = name
		if _, err := nr.expect("node"); err != nil {
			return err
		}
		if err := nr.node(filepath.Join(dst, name), depth+1); err != nil {
			return err
		}
		if _, err := nr.expect(")"); err != nil {
			return err
		}
	}
}

// SortByReferences orders paths so that every path comes after the paths
// it refers to (among paths), as a receiver that registers them one by one
// needs. Ties keep the order of paths. Every path must be valid.
func (s *Store) SortByReferences(paths []Path) ([]Path, error) {
	in := make(map[Path]bool, len(paths))
	for _, p := range paths {
		in[p] = true
	}
	refs := make(map[Path][]Path, len(paths))
	for _, p := range paths {
		info, err := s.Info(p)
		if err != nil {
			return nil, fmt.Errorf("sort by references: %w", err)
		}
		refs[p] = info.Refs
	}
	const (
		unseen = iota
		visiting
		done
	)
	state := make(map[Path]int, len(paths))
	out := make([]Path, 0, len(paths))
	var visit func(p Path) error
	visit = func(p Path) error {
		switch state[p] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("sort by references: cycle through %s", p)
		}
		state[p] = visiting
		for _, r := range refs[p] {
			if r != p && in[r] {
				if err := visit(r); err != nil {
					return err
				}
			}
		}
		state[p] = done
		out = append(out, p)
		return nil
	}
	for _, p := range paths {
		if err := visit(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}
