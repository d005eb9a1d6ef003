package boot

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/google/go-cmp/cmp"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// initrdFixture makes host files standing in for the kiln binary and two
// kernel modules (one xz-compressed, as some kernels ship them).
func initrdFixture(t *testing.T) (Initrd, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(16)) // compressible, like code
		}
		return b
	}
	initBin, blk, pci, net, cons := blob(300_001), blob(40_003), blob(20_000), blob(7_001), blob(5_000)
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var xzBuf bytes.Buffer
	xw, err := xz.NewWriter(&xzBuf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(pci)
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	var zstBuf, gzBuf bytes.Buffer
	zw, err := zstd.NewWriter(&zstBuf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(net)
	zw.Close()
	gw := kgzip.NewWriter(&gzBuf)
	gw.Write(cons)
	gw.Close()
	kver := "lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/"
	cfg := []byte(`{"version":1,"modules":["/` + kver + `virtio/virtio_pci.ko"],"root":{"spec":"LABEL=kiln-root"}}` + "\n")
	in := Initrd{
		Init: write("kiln", initBin, 0o555),
		Files: []InitrdFile{
			{Path: kver + "block/virtio_blk.ko", Source: write("virtio_blk.ko", blk, 0o444)},
			{Path: "/" + kver + "virtio/virtio_pci.ko", Source: write("virtio_pci.ko.xz", xzBuf.Bytes(), 0o444)},
			{Path: kver + "net/virtio_net.ko", Source: write("virtio_net.ko.zst", zstBuf.Bytes(), 0o444)},
			{Path: kver + "char/virtio_console.ko", Source: write("virtio_console.ko.gz", gzBuf.Bytes(), 0o444)},
			{Path: "etc/kiln-stage1.json", Data: cfg},
			{Path: "bin/init", Data: []byte("../init"), Mode: fs.ModeSymlink},
		},
	}
	want := map[string][]byte{
		"init":                        initBin,
		kver + "block/virtio_blk.ko":  blk,
		kver + "virtio/virtio_pci.ko": pci,
		"etc/kiln-stage1.json":        cfg,
	}
	return in, want
}

func decompress(t testing.TB, c Compression, data []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(data)
	switch c {
	case Zstd:
		d, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		r = d
	case Gzip:
		g, err := kgzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = g
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress %s: %v", c, err)
	}
	return out
}

func TestWriteInitrd(t *testing.T) {
	for _, c := range []Compression{Zstd, Gzip, None} {
		t.Run(string(c), func(t *testing.T) {
			in, want := initrdFixture(t)
			in.Compression = c
			var buf bytes.Buffer
			rep, err := WriteInitrd(&buf, in)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Compressed != int64(buf.Len()) {
				t.Errorf("report says %d compressed bytes, wrote %d", rep.Compressed, buf.Len())
			}
			raw := decompress(t, c, buf.Bytes())
			if rep.Uncompressed != int64(len(raw)) {
				t.Errorf("report says %d uncompressed bytes, cpio has %d", rep.Uncompressed, len(raw))
			}
			if c != None && rep.Compressed >= rep.Uncompressed {
				t.Errorf("compressed %d >= uncompressed %d", rep.Compressed, rep.Uncompressed)
			}
			got := readCpio(t, raw)
			wantList := []string{
				"bin dir 755", "bin/init symlink 777 ../init", "dev dir 755", "dev/console char 600",
				"etc dir 755", "etc/kiln-stage1.json file 644", "init file 755", "lib dir 755",
				"lib/modules dir 755", "lib/modules/6.1.0-56-cloud-amd64 dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/block dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/block/virtio_blk.ko file 644",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/char dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/char/virtio_console.ko file 644",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/net dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/net/virtio_net.ko file 644",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio dir 755",
				"lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/virtio/virtio_pci.ko file 644",
				"mnt dir 755", "mnt-root dir 755", "proc dir 755", "root dir 755", "run dir 755", "sys dir 755",
			}
			if d := cmp.Diff(wantList, got.list); d != "" {
				t.Errorf("entries (-want +got):\n%s", d)
			}
			if rep.Files != len(wantList) {
				t.Errorf("report says %d files, want %d", rep.Files, len(wantList))
			}
			for name, data := range want {
				if !bytes.Equal(got.data[name], data) {
					t.Errorf("%s: content differs (%d bytes, want %d)", name, len(got.data[name]), len(data))
				}
			}
			checkWithRealCpio(t, c, buf.Bytes(), want)
		})
	}
}

type cpioContents struct {
	list []string
	data map[string][]byte
}

// readCpio lists an archive with the cpio package's reader, checking the
// fields that make it deterministic.
func readCpio(t *testing.T, raw []byte) cpioContents {
	t.Helper()
	r := cpio.NewReader(bytes.NewReader(raw))
	out := cpioContents{data: map[string][]byte{}}
	inodes := map[int64]bool{}
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Guid != 0 || h.ModTime.Unix() != 1 {
			t.Errorf("%s: uid %d gid %d mtime %d, want 0 0 1", h.Name, h.Uid, h.Guid, h.ModTime.Unix())
		}
		if inodes[h.Inode] {
			t.Errorf("%s: inode %d used twice", h.Name, h.Inode)
		}
		inodes[h.Inode] = true
		kind := map[cpio.FileMode]string{cpio.TypeDir: "dir", cpio.TypeReg: "file", cpio.TypeSymlink: "symlink", cpio.TypeChar: "char"}[h.Mode&cpio.ModeType]
		line := h.Name + " " + kind + " " + strings.TrimPrefix(h.Mode.Perm().String(), "0")
		if h.Linkname != "" {
			line += " " + h.Linkname
		}
		out.list = append(out.list, line)
		if kind == "file" {
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			out.data[h.Name] = b
		}
	}
	if !sort.StringsAreSorted(out.list) {
		t.Errorf("entries are not sorted")
	}
	return out
}

// checkWithRealCpio unpacks the initrd with the real gzip/zstd and cpio.
func checkWithRealCpio(t *testing.T, c Compression, data []byte, want map[string][]byte) {
	t.Helper()
	for _, tool := range []string{"cpio", "zstd", "gzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (make deps): %v", tool, err)
		}
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "initrd")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cat := map[Compression]string{Zstd: "zstd -dc", Gzip: "gzip -dc", None: "cat"}[c]
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	// As non-root cpio cannot make dev/console; it says so and goes on.
	script := cat + " " + img + " | (cd " + root + " && cpio -idm --quiet --no-absolute-filenames 2>&1 | grep -v 'dev/console' >&2; true) && " + cat + " " + img + " | cpio -tv --quiet"
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	listing := string(out)
	for _, w := range []string{"crw-------", "5,   1 Jan  1  1970 dev/console", "-rwxr-xr-x", "init -> ../init"} {
		if !strings.Contains(listing, w) {
			t.Errorf("cpio -tv output lacks %q:\n%s", w, listing)
		}
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Errorf("cpio -i: %v", err)
			continue
		}
		if sha256.Sum256(got) != sha256.Sum256(data) {
			t.Errorf("cpio -i: %s differs", name)
		}
	}
}

func TestWriteInitrdTwiceSameBytes(t *testing.T) {
	in, _ := initrdFixture(t)
	var a, b bytes.Buffer
	if _, err := WriteInitrd(&a, in); err != nil {
		t.Fatal(err)
	}
	in2, _ := initrdFixture(t) // other temp files, same contents
	if _, err := WriteInitrd(&b, in2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two builds differ: %x vs %x", sha256.Sum256(a.Bytes()), sha256.Sum256(b.Bytes()))
	}
}

func TestWriteInitrdErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Initrd
		want string
	}{
		{"missing source", Initrd{Files: []InitrdFile{{Path: "a", Source: "/nonexistent/x"}}}, "initrd file a"},
		{"twice", Initrd{Files: []InitrdFile{{Path: "a", Data: []byte{1}}, {Path: "/a", Data: []byte{2}}}}, `"a" given twice`},
		{"escape", Initrd{Files: []InitrdFile{{Path: "../a", Data: []byte{1}}}}, "bad path"},
		{"over a dir", Initrd{Files: []InitrdFile{{Path: "dev", Data: []byte{1}}}}, `"dev" given twice`},
		{"compression", Initrd{Compression: "lz4"}, `compression "lz4"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WriteInitrd(io.Discard, tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
