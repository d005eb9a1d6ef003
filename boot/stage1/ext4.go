package stage1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kiln-os/kiln/toplevel"
)

// ErrNotExt4 reports a device without an ext2/3/4 superblock.
var ErrNotExt4 = errors.New("no ext4 superblock")

// Superblock is what stage 1 needs from an ext4 superblock.
type Superblock struct {
	Label string // s_volume_name
	UUID  string // s_uuid, lower-case 8-4-4-4-12
}

// ext4 superblock layout (Documentation/filesystems/ext4/super.rst): the
// superblock starts 1024 bytes into the device.
const (
	sbOffset    = 1024
	sbMagicOff  = 0x38
	sbUUIDOff   = 0x68
	sbLabelOff  = 0x78
	sbLabelSize = 16
	ext4Magic   = 0xEF53
)

// ReadSuperblock reads the label and UUID of the ext2/3/4 file system on r.
func ReadSuperblock(r io.ReaderAt) (Superblock, error) {
	var b [sbLabelOff + sbLabelSize]byte
	if _, err := r.ReadAt(b[:], sbOffset); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Superblock{}, ErrNotExt4
		}
		return Superblock{}, fmt.Errorf("read superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(b[sbMagicOff:]) != ext4Magic {
		return Superblock{}, ErrNotExt4
	}
	u := b[sbUUIDOff : sbUUIDOff+16]
	label := b[sbLabelOff : sbLabelOff+sbLabelSize]
	if i := bytes.IndexByte(label, 0); i >= 0 {
		label = label[:i]
	}
	return Superblock{
		Label: string(label),
		UUID:  fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]),
	}, nil
}

// Matches reports whether the superblock (of the device at devPath)
// satisfies spec.
func (s Superblock) Matches(spec toplevel.DeviceSpec, devPath string) bool {
	switch {
	case spec.Label != "":
		return s.Label == spec.Label
	case spec.UUID != "":
		return s.UUID == spec.UUID
	}
	return spec.Path == devPath
}
