package boot

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Compression is how an initrd's cpio archive is compressed. The Debian 12
// cloud kernel is built with CONFIG_RD_GZIP, CONFIG_RD_XZ and
// CONFIG_RD_ZSTD; kiln writes gzip or zstd.
type Compression string

const (
	Zstd Compression = "zstd" // the default: smaller and faster to unpack
	Gzip Compression = "gzip"
	None Compression = "none" // a plain cpio archive (tests, debugging)
)

// InitrdFile is one file in an initrd. Exactly one of Source and Data gives
// its content (Data wins when both are set). A Source ending in .xz, .zst
// or .gz is decompressed when Path does not carry that suffix, so
// compressed kernel modules land as plain .ko files that finit_module
// loads without help.
type InitrdFile struct {
	Path   string      // in the initrd, relative: "lib/modules/6.1.0-x/kernel/.../virtio_blk.ko"
	Source string      // host file
	Data   []byte      // content instead of Source
	Mode   fs.FileMode // permission bits (0: 0644, or the Source's); fs.ModeSymlink: Data is the target
}

// Initrd is the content of an initrd.
type Initrd struct {
	Init        string // host path of the static kiln binary; becomes /init, 0755
	Files       []InitrdFile
	Compression Compression // "" means Zstd
}

// InitrdReport says what WriteInitrd wrote.
type InitrdReport struct {
	Files        int   // cpio entries, directories and device included
	Uncompressed int64 // bytes of cpio
	Compressed   int64 // bytes written to w
}

// initrdTime is every entry's mtime, as in the store.
var initrdTime = time.Unix(1, 0)

// initrdDirs always exist in an initrd: stage 1 mounts on them.
var initrdDirs = []string{"dev", "proc", "sys", "run", "mnt", "mnt-root", "root"}

// WriteInitrd writes in as a compressed newc cpio archive to w. The output
// depends only on in: entries are sorted, owned by root, with mtime 1 and
// inode numbers given by their position.
func WriteInitrd(w io.Writer, in Initrd) (InitrdReport, error) {
	entries, err := initrdEntries(in)
	if err != nil {
		return InitrdReport{}, err
	}
	out := &countWriter{w: w}
	zw, err := compressor(out, in.Compression)
	if err != nil {
		return InitrdReport{}, err
	}
	raw := &countWriter{w: zw}
	if err := writeCpio(raw, entries); err != nil {
		return InitrdReport{}, err
	}
	if err := zw.Close(); err != nil {
		return InitrdReport{}, fmt.Errorf("compress initrd: %w", err)
	}
	return InitrdReport{Files: len(entries), Uncompressed: raw.n, Compressed: out.n}, nil
}

// entry is one cpio member before writing.
type entry struct {
	name   string
	mode   cpio.FileMode // type and permission bits
	source string        // host file to stream, or
	data   []byte        // content (symlink target for symlinks)
	size   int64
	rdev   [2]int // major, minor of a device node
}

func initrdEntries(in Initrd) ([]entry, error) {
	byName := map[string]entry{}
	add := func(e entry) error {
		if old, ok := byName[e.name]; ok && !(isDir(old.mode) && isDir(e.mode)) {
			return fmt.Errorf("initrd: %q given twice", e.name)
		}
		byName[e.name] = e
		return nil
	}
	for _, d := range initrdDirs {
		add(entry{name: d, mode: cpio.TypeDir | 0o755})
	}
	add(entry{name: "dev/console", mode: cpio.TypeChar | 0o600, rdev: [2]int{5, 1}})
	files := in.Files
	if in.Init != "" {
		files = append([]InitrdFile{{Path: "init", Source: in.Init, Mode: 0o755}}, files...)
	}
	for _, f := range files {
		e, err := fileEntry(f)
		if err != nil {
			return nil, err
		}
		for d := path.Dir(e.name); d != "."; d = path.Dir(d) {
			add(entry{name: d, mode: cpio.TypeDir | 0o755})
		}
		if err := add(e); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names) // a directory sorts before everything under it
	out := make([]entry, len(names))
	for i, n := range names {
		out[i] = byName[n]
	}
	return out, nil
}

func fileEntry(f InitrdFile) (entry, error) {
	name := path.Clean(strings.TrimPrefix(f.Path, "/"))
	if name == "." || strings.HasPrefix(name, "../") {
		return entry{}, fmt.Errorf("initrd: bad path %q", f.Path)
	}
	e := entry{name: name, mode: cpio.TypeReg | cpio.FileMode(f.Mode.Perm())}
	if f.Mode&fs.ModeSymlink != 0 {
		e.mode, e.data, e.size = cpio.TypeSymlink|0o777, f.Data, int64(len(f.Data))
		return e, nil
	}
	if f.Mode.Perm() == 0 {
		e.mode |= 0o644
	}
	if f.Data != nil || f.Source == "" {
		e.data, e.size = f.Data, int64(len(f.Data))
		return e, nil
	}
	fi, err := os.Stat(f.Source)
	if err != nil {
		return entry{}, fmt.Errorf("initrd file %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return entry{}, fmt.Errorf("initrd file %s: %s is not a regular file", name, f.Source)
	}
	if f.Mode.Perm() == 0 {
		e.mode = cpio.TypeReg | 0o644
		if fi.Mode()&0o111 != 0 {
			e.mode = cpio.TypeReg | 0o755
		}
	}
	if ext := path.Ext(f.Source); compressedExt[ext] && !strings.HasSuffix(name, ext) {
		data, err := decompressFile(f.Source, ext)
		if err != nil {
			return entry{}, fmt.Errorf("initrd file %s: %w", name, err)
		}
		e.data, e.size = data, int64(len(data))
		return e, nil
	}
	e.source, e.size = f.Source, fi.Size()
	return e, nil
}

var compressedExt = map[string]bool{".xz": true, ".zst": true, ".gz": true}

func decompressFile(name, ext string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader
	switch ext {
	case ".xz":
		r, err = xz.NewReader(f)
	case ".zst":
		var d *zstd.Decoder
		d, err = zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err == nil {
			defer d.Close()
			r = d
		}
	case ".gz":
		r, err = gzip.NewReader(f)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %w", name, err)
	}
	return data, nil
}

func writeCpio(w io.Writer, entries []entry) error {
	cw := cpio.NewWriter(w)
	for i, e := range entries {
		ino := int64(i + 1)
		if e.mode&cpio.ModeType == cpio.TypeChar {
			// The cpio package writes no device numbers, so device
			// nodes are written here, between its entries.
			if err := cw.Flush(); err != nil {
				return fmt.Errorf("write initrd: %w", err)
			}
			if _, err := w.Write(deviceHeader(e, ino)); err != nil {
				return fmt.Errorf("write initrd: %w", err)
			}
			continue
		}
		h := &cpio.Header{Name: e.name, Mode: e.mode, Size: e.size, ModTime: initrdTime, Inode: ino, Links: 1}
		if isDir(e.mode) {
			h.Links, h.Size = 2, 0
		}
		if err := cw.WriteHeader(h); err != nil {
			return fmt.Errorf("write initrd %s: %w", e.name, err)
		}
		if err := writeBody(cw, e); err != nil {
			return fmt.Errorf("write initrd %s: %w", e.name, err)
		}
	}
	if err := cw.Close(); err != nil {
		return fmt.Errorf("write initrd: %w", err)
	}
	return nil
}

func writeBody(w io.Writer, e entry) error {
	switch {
	case isDir(e.mode):
		return nil
	case e.source == "":
		_, err := w.Write(e.data)
		return err
	}
	f, err := os.Open(e.source)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, f)
	if err == nil && n != e.size {
		err = fmt.Errorf("%s changed size while being read", e.source)
	}
	return err
}

// deviceHeader is a newc header for a device node (no data follows).
func deviceHeader(e entry, ino int64) []byte {
	var b bytes.Buffer
	fields := []int64{ino, int64(e.mode), 0, 0, 1, initrdTime.Unix(), 0, 0, 0, int64(e.rdev[0]), int64(e.rdev[1]), int64(len(e.name) + 1), 0}
	b.WriteString("070701")
	for _, v := range fields {
		fmt.Fprintf(&b, "%08X", v)
	}
	b.WriteString(e.name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	return b.Bytes()
}

func compressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	switch c {
	case Zstd, "":
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
		if err != nil {
			return nil, fmt.Errorf("compress initrd: %w", err)
		}
		return zw, nil
	case Gzip:
		zw, err := kgzip.NewWriterLevel(w, kgzip.BestCompression)
		if err != nil {
			return nil, fmt.Errorf("compress initrd: %w", err)
		}
		return zw, nil
	case None:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("initrd compression %q: want zstd, gzip or none", c)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// isDir tests the type bits exactly (cpio.FileMode.IsDir also matches
// sockets and block devices).
func isDir(m cpio.FileMode) bool { return m&cpio.ModeType == cpio.TypeDir }
