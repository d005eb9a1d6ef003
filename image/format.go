package image

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Format is the file format of a written image. Every format holds the
// same guest-visible disk, byte for byte; all are written in Go from the
// raw image's allocated extents, so a 2 GiB image with 250 MiB in use costs
// about 250 MiB of writing in any format.
type Format string

// The formats kiln writes.
const (
	// Raw is the disk itself, sparse.
	Raw Format = "raw"
	// RawZstd is the raw disk compressed with zstd (one frame, level 3):
	// the smallest download, for `zstd -d` or `dd`.
	RawZstd Format = "raw.zst"
	// QCOW2 is qcow2 version 3 with 64 KiB clusters, uncompressed, only the
	// clusters that hold data allocated (QEMU, libvirt, OpenStack).
	QCOW2 Format = "qcow2"
	// VHD is a fixed VHD: the raw disk followed by a 512-byte footer,
	// sparse on the local disk. Azure takes only fixed VHDs whose virtual
	// size is a whole number of MiB, which every kiln image is; Hyper-V and
	// AWS take them too.
	VHD Format = "vhd"
	// VMDK is a streamOptimized VMDK (deflate-compressed grains), what
	// vSphere imports (OVF/OVA) and AWS and GCP accept.
	VMDK Format = "vmdk"
)

// Formats lists every format, raw first.
var Formats = []Format{Raw, RawZstd, QCOW2, VHD, VMDK}

// Ext is the file name extension of a format's files.
func (f Format) Ext() string {
	switch f {
	case Raw, "":
		return ".img"
	case RawZstd:
		return ".img.zst"
	}
	return "." + string(f)
}

// formatExts maps the file name extensions that name a format.
var formatExts = []struct {
	ext string
	f   Format
}{
	// Longest first: disk.img.zst is raw.zst, not raw.
	{".img.zst", RawZstd}, {".raw.zst", RawZstd}, {".zst", RawZstd},
	{".img", Raw}, {".raw", Raw},
	{".qcow2", QCOW2}, {".vhd", VHD}, {".vmdk", VMDK},
}

// FormatOf returns the format a file name's extension says (case
// insensitive), if any.
func FormatOf(name string) (Format, bool) {
	base := strings.ToLower(filepath.Base(name))
	for _, e := range formatExts {
		if strings.HasSuffix(base, e.ext) && len(base) > len(e.ext) {
			return e.f, true
		}
	}
	return "", false
}

// ParseFormat parses a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if s == string(f) {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", fmt.Errorf("unknown image format %q: want one of %s", s, strings.Join(names, ", "))
}

// OutputFormat settles the format and file name of an image from what the
// user gave, either of which may be empty. A format with no file name
// writes disk plus the format's extension; a file name with no format
// takes the format its extension says, raw when it says none (disk.bin);
// both must agree when the extension names a format (a .vhd file that
// holds qcow2 is an error, not a surprise).
func OutputFormat(format, out string) (Format, string, error) {
	var f Format
	if format != "" {
		var err error
		if f, err = ParseFormat(format); err != nil {
			return "", "", err
		}
	}
	if out == "" {
		if f == "" {
			f = Raw
		}
		return f, "disk" + f.Ext(), nil
	}
	named, ok := FormatOf(out)
	switch {
	case f == "" && ok:
		f = named
	case f == "":
		f = Raw
	case ok && named != f:
		return "", "", fmt.Errorf("image file %s: its extension means %s, but the format is %s: name it %s, or write %s",
			out, named, f, trimFormatExt(out)+f.Ext(), named)
	}
	return f, out, nil
}

// trimFormatExt removes the extension FormatOf recognizes.
func trimFormatExt(name string) string {
	lower := strings.ToLower(name)
	for _, e := range formatExts {
		if strings.HasSuffix(lower, e.ext) {
			return name[:len(name)-len(e.ext)]
		}
	}
	return name
}
