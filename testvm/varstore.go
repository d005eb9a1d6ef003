package testvm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/kiln-os/kiln/internal/fsutil"
	"os"
	"strings"
	"unicode/utf16"
)

// This file reads and edits the EFI variable store that OVMF keeps in its
// VARS flash image (edk2's "NV variable store"): a firmware volume header,
// a variable store header, then variables one after the other, each a
// header, a UTF-16 name and its data, every header aligned to 4 bytes.
// Flash semantics shape the format: bits only go from 1 to 0 without an
// erase, so a variable is deleted by clearing bits of its State byte and a
// new value is appended after the last variable; the firmware reclaims the
// space later. Editing the file is only safe while QEMU is not running.

// GUID is an EFI GUID in its on-disk byte order (the first three fields
// little-endian).
type GUID [16]byte

// ParseGUID parses the canonical text form
// "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f".
func ParseGUID(s string) (GUID, error) {
	var g GUID
	parts := strings.Split(s, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return g, fmt.Errorf("parse guid %q: want 8-4-4-4-12 hex digits", s)
	}
	raw, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		return g, fmt.Errorf("parse guid %q: %w", s, err)
	}
	copy(g[:], raw)
	reverse(g[0:4])
	reverse(g[4:6])
	reverse(g[6:8])
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed GUID.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func (g GUID) String() string {
	b := g
	reverse(b[0:4])
	reverse(b[4:6])
	reverse(b[6:8])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// Well-known GUIDs.
var (
	// LoaderVendorGUID is systemd-boot's vendor GUID (LoaderEntryOneShot, …).
	LoaderVendorGUID = MustParseGUID("4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
	// GlobalVariableGUID is EFI_GLOBAL_VARIABLE (BootOrder, Timeout, …).
	GlobalVariableGUID = MustParseGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")

	systemNVDataFVGUID  = MustParseGUID("fff12b8d-7696-4c8b-a985-2747075b4f50")
	authVariableGUID    = MustParseGUID("aaf32c78-947b-439a-a180-2e144ec37792")
	plainVariableGUID   = MustParseGUID("ddcf3616-3275-4164-98b6-fe85707ffe7d")
	errNotVarStore      = errors.New("not an EFI variable store")
	errVarStoreFull     = errors.New("variable store full")
	errVariableNotFound = errors.New("variable not found")
)

// Variable attributes (UEFI spec 8.2).
const (
	AttrNonVolatile       uint32 = 0x1
	AttrBootserviceAccess uint32 = 0x2
	AttrRuntimeAccess     uint32 = 0x4
)

// Variable is one EFI variable.
type Variable struct {
	Name       string
	Vendor     GUID
	Attributes uint32
	Data       []byte
}

const (
	fvHeaderMinLen   = 0x38 // up to and including the first block map entry
	varStoreHdrLen   = 28   // GUID, Size, Format, State, 2+4 reserved
	varStartID       = 0x55AA
	varStoreFormated = 0x5A
	varStoreHealthy  = 0xFE
	authVarHdrLen    = 60
	plainVarHdrLen   = 32
	stateAdded       = 0x3F // VAR_ADDED
	stateInDeletion  = 0xFE // VAR_IN_DELETED_TRANSITION (a mask)
	stateDeleted     = 0xFD // VAR_DELETED (a mask)
	headerAlignment  = 4
)

// VarStore is a parsed OVMF VARS image, edited in memory.
type VarStore struct {
	img   []byte
	auth  bool // authenticated variable headers (60 bytes) or plain (32)
	start int  // first variable header
	end   int  // end of the variable store region
}

// ParseVarStore parses an OVMF VARS image (e.g. a copy of
// OVMF_VARS_4M.fd). It keeps img and edits it in place.
func ParseVarStore(img []byte) (*VarStore, error) {
	if len(img) < fvHeaderMinLen+varStoreHdrLen {
		return nil, fmt.Errorf("%w: %d bytes", errNotVarStore, len(img))
	}
	if GUID(img[16:32]) != systemNVDataFVGUID || string(img[40:44]) != "_FVH" {
		return nil, fmt.Errorf("%w: no NV data firmware volume header", errNotVarStore)
	}
	fvLen := binary.LittleEndian.Uint64(img[32:40])
	hdrLen := int(binary.LittleEndian.Uint16(img[48:50]))
	if fvLen > uint64(len(img)) || hdrLen < fvHeaderMinLen || hdrLen+varStoreHdrLen > len(img) {
		return nil, fmt.Errorf("%w: firmware volume length %d, header length %d, image %d bytes", errNotVarStore, fvLen, hdrLen, len(img))
	}
	if sum := checksum16(img[:hdrLen]); sum != 0 {
		return nil, fmt.Errorf("%w: firmware volume header checksum %#04x, want 0", errNotVarStore, sum)
	}
	s := &VarStore{img: img}
	vs := img[hdrLen:]
	switch GUID(vs[0:16]) {
	case authVariableGUID:
		s.auth = true
	case plainVariableGUID:
	default:
		return nil, fmt.Errorf("%w: variable store signature %v", errNotVarStore, GUID(vs[0:16]))
	}
	size := int(binary.LittleEndian.Uint32(vs[16:20]))
	if vs[20] != varStoreFormated || vs[21] != varStoreHealthy {
		return nil, fmt.Errorf("%w: variable store format %#02x state %#02x, want formatted and healthy", errNotVarStore, vs[20], vs[21])
	}
	if size < varStoreHdrLen || hdrLen+size > int(fvLen) {
		return nil, fmt.Errorf("%w: variable store size %d exceeds firmware volume", errNotVarStore, size)
	}
	s.start = alignUp(hdrLen+varStoreHdrLen, headerAlignment)
	s.end = hdrLen + size
	return s, nil
}

func checksum16(b []byte) uint16 {
	var sum uint16
	for i := 0; i+1 < len(b); i += 2 {
		sum += binary.LittleEndian.Uint16(b[i:])
	}
	return sum
}

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// Bytes returns the image with every edit applied.
func (s *VarStore) Bytes() []byte { return s.img }

// entry is one variable header found in the store.
type entry struct {
	off   int // header offset
	next  int // offset of the next header
	state byte
	v     Variable
}

func (s *VarStore) hdrLen() int {
	if s.auth {
		return authVarHdrLen
	}
	return plainVarHdrLen
}

// entries walks every variable header, deleted ones included, and returns
// the offset where the next variable would be written.
func (s *VarStore) entries() ([]entry, int, error) {
	var out []entry
	off := s.start
	hl := s.hdrLen()
	for off+hl <= s.end {
		h := s.img[off : off+hl]
		if binary.LittleEndian.Uint16(h[0:2]) != varStartID {
			break
		}
		attrs := binary.LittleEndian.Uint32(h[4:8])
		var nameSize, dataSize int
		var vendor GUID
		if s.auth {
			nameSize = int(binary.LittleEndian.Uint32(h[36:40]))
			dataSize = int(binary.LittleEndian.Uint32(h[40:44]))
			vendor = GUID(h[44:60])
		} else {
			nameSize = int(binary.LittleEndian.Uint32(h[8:12]))
			dataSize = int(binary.LittleEndian.Uint32(h[12:16]))
			vendor = GUID(h[16:32])
		}
		nameAt := off + hl
		dataAt := nameAt + nameSize
		if nameSize < 0 || dataSize < 0 || dataAt+dataSize > s.end {
			return nil, 0, fmt.Errorf("variable at %#x: sizes %d+%d run past the store end %#x", off, nameSize, dataSize, s.end)
		}
		out = append(out, entry{
			off: off, next: alignUp(dataAt+dataSize, headerAlignment), state: h[2],
			v: Variable{
				Name: decodeUTF16Z(s.img[nameAt:dataAt]), Vendor: vendor, Attributes: attrs,
				Data: bytes.Clone(s.img[dataAt : dataAt+dataSize]),
			},
		})
		off = alignUp(dataAt+dataSize, headerAlignment)
	}
	return out, off, nil
}

// live reports whether a header's state marks a current value. A value
// caught in deletion (its replacement was being written) still counts
// when no fully added copy exists, as in edk2.
func live(state byte) bool { return state == stateAdded }

func inDeletion(state byte) bool { return state == stateAdded&stateInDeletion }

// Variables returns the current variables in store order.
func (s *VarStore) Variables() ([]Variable, error) {
	es, _, err := s.entries()
	if err != nil {
		return nil, err
	}
	type key struct {
		name   string
		vendor GUID
	}
	added := map[key]bool{}
	for _, e := range es {
		if live(e.state) {
			added[key{e.v.Name, e.v.Vendor}] = true
		}
	}
	var out []Variable
	for _, e := range es {
		if live(e.state) || (inDeletion(e.state) && !added[key{e.v.Name, e.v.Vendor}]) {
			out = append(out, e.v)
		}
	}
	return out, nil
}

// Get returns the current value of a variable.
func (s *VarStore) Get(name string, vendor GUID) (Variable, bool, error) {
	vs, err := s.Variables()
	if err != nil {
		return Variable{}, false, err
	}
	for _, v := range vs {
		if v.Name == name && v.Vendor == vendor {
			return v, true, nil
		}
	}
	return Variable{}, false, nil
}

// Set appends v after the last variable and marks any earlier value of
// the same name and vendor deleted.
func (s *VarStore) Set(v Variable) error {
	es, free, err := s.entries()
	if err != nil {
		return fmt.Errorf("set variable %s: %w", v.Name, err)
	}
	name := encodeUTF16Z(v.Name)
	hl := s.hdrLen()
	if free+hl+len(name)+len(v.Data) > s.end {
		return fmt.Errorf("set variable %s: %w (%d bytes free)", v.Name, errVarStoreFull, s.end-free)
	}
	h := s.img[free : free+hl]
	clear(h)
	binary.LittleEndian.PutUint16(h[0:2], varStartID)
	h[2] = stateAdded
	binary.LittleEndian.PutUint32(h[4:8], v.Attributes)
	if s.auth {
		// MonotonicCount, TimeStamp and PubKeyIndex stay zero: this is not
		// a time-based authenticated write.
		binary.LittleEndian.PutUint32(h[36:40], uint32(len(name)))
		binary.LittleEndian.PutUint32(h[40:44], uint32(len(v.Data)))
		copy(h[44:60], v.Vendor[:])
	} else {
		binary.LittleEndian.PutUint32(h[8:12], uint32(len(name)))
		binary.LittleEndian.PutUint32(h[12:16], uint32(len(v.Data)))
		copy(h[16:32], v.Vendor[:])
	}
	copy(s.img[free+hl:], name)
	copy(s.img[free+hl+len(name):], v.Data)
	s.markDeleted(es, v.Name, v.Vendor)
	return nil
}

// Delete marks a variable deleted.
func (s *VarStore) Delete(name string, vendor GUID) error {
	es, _, err := s.entries()
	if err != nil {
		return fmt.Errorf("delete variable %s: %w", name, err)
	}
	if !s.markDeleted(es, name, vendor) {
		return fmt.Errorf("delete variable %s: %w", name, errVariableNotFound)
	}
	return nil
}

func (s *VarStore) markDeleted(es []entry, name string, vendor GUID) bool {
	found := false
	for _, e := range es {
		if e.v.Name == name && e.v.Vendor == vendor && (live(e.state) || inDeletion(e.state)) {
			s.img[e.off+2] &= stateDeleted
			found = true
		}
	}
	return found
}

func encodeUTF16Z(s string) []byte {
	u := append(utf16.Encode([]rune(s)), 0)
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func decodeUTF16Z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// UTF16String encodes s as UTF-16LE with a NUL terminator, the form
// systemd-boot's string variables take.
func UTF16String(s string) []byte { return encodeUTF16Z(s) }

// OneShotEntry is the LoaderEntryOneShot variable that makes systemd-boot
// boot loader entry file (e.g. "kiln-generation-3.conf") once.
func OneShotEntry(entry string) Variable {
	return Variable{
		Name:       "LoaderEntryOneShot",
		Vendor:     LoaderVendorGUID,
		Attributes: AttrNonVolatile | AttrBootserviceAccess | AttrRuntimeAccess,
		Data:       UTF16String(entry),
	}
}

// GenerationEntry is the loader entry file name of kiln generation n.
func GenerationEntry(n int) string { return fmt.Sprintf("kiln-generation-%d.conf", n) }

// SetVariableFile sets v in the OVMF VARS image at path, atomically.
func SetVariableFile(path string, v Variable) error {
	img, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("set variable %s: %w", v.Name, err)
	}
	s, err := ParseVarStore(img)
	if err != nil {
		return fmt.Errorf("set variable %s in %s: %w", v.Name, path, err)
	}
	if err := s.Set(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return fsutil.WriteFile(path, s.Bytes(), 0o644)
}

// ReadVariablesFile lists the variables of the OVMF VARS image at path.
func ReadVariablesFile(path string) ([]Variable, error) {
	img, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	s, err := ParseVarStore(img)
	if err != nil {
		return nil, fmt.Errorf("read variables of %s: %w", path, err)
	}
	vs, err := s.Variables()
	if err != nil {
		return nil, fmt.Errorf("read variables of %s: %w", path, err)
	}
	return vs, nil
}
