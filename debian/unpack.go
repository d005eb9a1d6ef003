package debian

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/klauspost/compress/zstd"
)

// ControlDir is where, inside a package's store path, the control files
// (control, conffiles, md5sums and the maintainer scripts) are kept.
const ControlDir = ".kiln/control"

// SetIDFile is where, inside a package's store path, the setuid and
// setgid files of its data.tar are listed (the store holds no such bits:
// they become wrappers made at activation). One line per file, sorted by
// path: MODE OWNER GROUP PATH, tab-separated, MODE four octal digits as
// dpkg would set them ("4755"), OWNER and GROUP the tar entry's names,
// PATH package-relative ("usr/sbin/exim4"). Absent when there are none.
const SetIDFile = ".kiln/setid"

// skipTop are the top-level directories of data.tar left out: they are
// mount points or runtime state, never package content kiln uses.
var skipTop = map[string]bool{"dev": true, "proc": true, "sys": true, "run": true, "tmp": true}

// Unpacker unpacks .debs. The zero value is what kiln uses; tests and
// benchmarks set the fields.
type Unpacker struct {
	// PureGoXZ decodes xz in Go even when the host has an xz program
	// (benchmarks compare the two).
	PureGoXZ bool
	// Hook, when set, runs before each data.tar entry is written (a test
	// stops an unpack midway).
	Hook func(name string)
}

// UnpackDeb unpacks .debs as Unpacker{}.UnpackDeb does.
func UnpackDeb(debFile, dir, wantSHA256 string) error {
	return Unpacker{}.UnpackDeb(debFile, dir, wantSHA256)
}

// UnpackDeb unpacks the .deb at debFile into dir (which must not exist):
// data.tar's tree, minus dev/ proc/ sys/ run/ tmp/, and control.tar's
// files under dir/.kiln/control/. The .deb's sha256 must be wantSHA256:
// it is checked on the bytes read, so a file changed after download is
// refused (the caller's store then discards dir). Maintainer scripts are
// never run.
func (u Unpacker) UnpackDeb(debFile, dir, wantSHA256 string) error {
	f, err := os.Open(debFile)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	if err := u.unpack(f, dir, wantSHA256); err != nil {
		return fmt.Errorf("unpack %s: %w", debFile, err)
	}
	return nil
}

func (u Unpacker) unpack(r io.Reader, dir, wantSHA256 string) error {
	h := sha256.New()
	br := bufio.NewReaderSize(io.TeeReader(r, h), 1<<16)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	root := &tree{dir: dir, dirs: map[string]bool{".": true}, links: map[string]bool{}, setid: map[string]string{}}
	ar, err := newArReader(br)
	if err != nil {
		return err
	}
	var sawData bool
	for {
		name, size, err := ar.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		body := io.LimitReader(br, size)
		switch {
		case name == "debian-binary":
			v, _ := io.ReadAll(body)
			if !bytes.HasPrefix(v, []byte("2.")) {
				return fmt.Errorf("debian-binary %q: not a version 2 package", bytes.TrimSpace(v))
			}
		case strings.HasPrefix(name, "control.tar"):
			if err := u.extractTar(root, body, name, true); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case strings.HasPrefix(name, "data.tar"):
			if err := u.extractTar(root, body, name, false); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			sawData = true
		}
		if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
	}
	if !sawData {
		return errors.New("no data.tar member")
	}
	if err := root.writeSetID(); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); wantSHA256 != "" && got != wantSHA256 {
		return fmt.Errorf("%w: sha256 %s, want %s", ErrDigestMismatch, got, wantSHA256)
	}
	return nil
}

// arReader reads the members of a Unix ar archive (the .deb container).
type arReader struct {
	r       *bufio.Reader
	pending int64 // padding byte after the previous member
}

func newArReader(r *bufio.Reader) (*arReader, error) {
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, errors.New("not an ar archive (.deb)")
	}
	return &arReader{r: r}, nil
}

// next reads the next member header; the caller reads exactly size bytes
// of body (next skips what it left, as unpack drains each member).
func (a *arReader) next() (string, int64, error) {
	if a.pending > 0 {
		if _, err := a.r.Discard(int(a.pending)); err != nil {
			return "", 0, err
		}
	}
	hdr := make([]byte, 60)
	if _, err := io.ReadFull(a.r, hdr); err != nil {
		if err == io.EOF {
			return "", 0, io.EOF
		}
		return "", 0, fmt.Errorf("read ar header: %w", err)
	}
	if string(hdr[58:60]) != "`\n" {
		return "", 0, errors.New("bad ar member header")
	}
	name := strings.TrimSuffix(strings.TrimSpace(string(hdr[0:16])), "/")
	size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("ar member %q: bad size", name)
	}
	a.pending = size % 2
	return name, size, nil
}

// decompressor returns a reader of the tar inside a member named
// (control|data).tar[.xz|.zst|.gz].
func (u Unpacker) decompressor(name string, r io.Reader) (io.ReadCloser, error) {
	switch path.Ext(name) {
	case ".tar":
		return io.NopCloser(r), nil
	case ".xz":
		return xzReader(r, u.PureGoXZ)
	case ".zst":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	case ".gz":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return zr, nil
	}
	return nil, fmt.Errorf("unsupported compression of %s", name)
}

var copyBufs = make(chan []byte, 16)

func getBuf() []byte {
	select {
	case b := <-copyBufs:
		return b
	default:
		return make([]byte, 256<<10)
	}
}

func putBuf(b []byte) {
	select {
	case copyBufs <- b:
	default:
	}
}

// extractTar writes a tar's entries under root. For control.tar, regular
// files go to ControlDir and everything else is ignored.
func (u Unpacker) extractTar(root *tree, r io.Reader, member string, control bool) error {
	zr, err := u.decompressor(member, r)
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	buf := getBuf()
	defer putBuf(buf)
	if control {
		if err := root.mkdirAll(ControlDir); err != nil {
			return err
		}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, ok := cleanEntry(hdr.Name)
		if !ok {
			continue
		}
		if control {
			if hdr.Typeflag == tar.TypeReg && !strings.Contains(name, "/") {
				if err := root.writeFile(path.Join(ControlDir, name), tr, 0o644, buf); err != nil {
					return err
				}
			}
			continue
		}
		if top, _, _ := strings.Cut(name, "/"); skipTop[top] {
			continue
		}
		if u.Hook != nil {
			u.Hook(name)
		}
		if err := root.extract(hdr, name, tr, buf); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	// Drain so that an xz subprocess sees its whole input and exits 0.
	if _, err := io.CopyBuffer(io.Discard, zr, buf); err != nil {
		return err
	}
	return zr.Close()
}

// tarOwner is a tar entry's owner (or group) name, else its number (a
// name is what dpkg resolves on the machine).
func tarOwner(name string, id int) string {
	if name != "" && !strings.ContainsAny(name, "\t\n") {
		return name
	}
	return strconv.Itoa(id)
}

// cleanEntry turns "./usr/bin/x" into "usr/bin/x"; it refuses names that
// would leave the tree (os.Root refuses them too).
func cleanEntry(name string) (string, bool) {
	n := path.Clean("/" + name)[1:]
	if n == "" || strings.HasPrefix(n, "../") {
		return "", false
	}
	return n, true
}

// tree writes a package's entries under dir. Names are cleaned (no ..),
// and no entry may pass through a symlink the package itself made, so
// nothing is ever written outside dir.
type tree struct {
	dir   string
	dirs  map[string]bool   // directories known to exist
	links map[string]bool   // symlinks made so far
	setid map[string]string // setuid/setgid files → their SetIDFile line
}

// writeSetID writes SetIDFile when the package has setuid or setgid
// files.
func (t *tree) writeSetID() error {
	if len(t.setid) == 0 {
		return nil
	}
	names := make([]string, 0, len(t.setid))
	for n := range t.setid {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(t.setid[n])
	}
	if err := t.mkdirAll(path.Dir(SetIDFile)); err != nil {
		return err
	}
	return t.writeFile(SetIDFile, strings.NewReader(b.String()), 0o644, make([]byte, 4096))
}

func (t *tree) abs(name string) string { return t.dir + "/" + name }

// checkParents refuses a name below one of the package's symlinks.
func (t *tree) checkParents(name string) error {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' && t.links[name[:i]] {
			return fmt.Errorf("path goes through symlink %s", name[:i])
		}
	}
	return nil
}

func (t *tree) mkdirAll(name string) error {
	if t.dirs[name] {
		return nil
	}
	if err := t.checkParents(name + "/"); err != nil {
		return err
	}
	if t.links[name] {
		return fmt.Errorf("directory %s is a symlink", name)
	}
	if err := os.MkdirAll(t.abs(name), 0o755); err != nil {
		return err
	}
	for n := name; n != "." && !t.dirs[n]; n = path.Dir(n) {
		t.dirs[n] = true
	}
	return nil
}

func (t *tree) extract(hdr *tar.Header, name string, tr io.Reader, buf []byte) error {
	if err := t.mkdirAll(path.Dir(name)); err != nil {
		return err
	}
	if err := t.checkParents(name); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return t.mkdirAll(name)
	case tar.TypeReg:
		mode := os.FileMode(0o644)
		if hdr.Mode&0o111 != 0 {
			mode = 0o755
		}
		delete(t.setid, name) // a later entry of the same name replaces it
		if hdr.Mode&0o6000 != 0 {
			if strings.ContainsAny(name, "\t\n") {
				return fmt.Errorf("setuid or setgid file %q: a tab or newline in its name", name)
			}
			t.setid[name] = fmt.Sprintf("%04o\t%s\t%s\t%s\n", hdr.Mode&0o7777, tarOwner(hdr.Uname, hdr.Uid), tarOwner(hdr.Gname, hdr.Gid), name)
		}
		return t.writeFile(name, tr, mode, buf)
	case tar.TypeSymlink:
		if t.dirs[name] {
			return fmt.Errorf("symlink %s replaces a directory", name)
		}
		os.Remove(t.abs(name))
		t.links[name] = true
		return os.Symlink(hdr.Linkname, t.abs(name))
	case tar.TypeLink:
		target, ok := cleanEntry(hdr.Linkname)
		if !ok {
			return fmt.Errorf("hardlink to %q leaves the package", hdr.Linkname)
		}
		if err := t.checkParents(target); err != nil {
			return err
		}
		if t.links[target] || t.dirs[target] {
			return fmt.Errorf("hardlink to %q: not a regular file", hdr.Linkname)
		}
		os.Remove(t.abs(name))
		return os.Link(t.abs(target), t.abs(name))
	}
	return nil // devices and fifos have no place in the store
}

func (t *tree) writeFile(name string, r io.Reader, mode os.FileMode, buf []byte) error {
	if t.dirs[name] || t.links[name] {
		return fmt.Errorf("file %s replaces a directory or symlink", name)
	}
	f, err := os.OpenFile(t.abs(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	_, err = io.CopyBuffer(struct{ io.Writer }{f}, r, buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
