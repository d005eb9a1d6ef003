package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// mke2fsConf pins the ext4 features, so the image does not depend on the
// build host's /etc/mke2fs.conf. All are supported by Linux 6.1.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
	reserved_ratio = 1.0
	lazy_itable_init = 1
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
`

// writeRoot makes the root ext4 file system with mkfs.ext4 -d in a file of
// the partition's size, pins every inode timestamp with debugfs, then
// copies it sparsely into the image.
func writeRoot(ctx context.Context, img *os.File, m *Manifest, p *progressor) error {
	root := m.Root()
	work, err := os.MkdirTemp(filepath.Dir(img.Name()), ".kiln-root-*")
	if err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	defer os.RemoveAll(work)
	fsImg := filepath.Join(work, "root.ext4")
	if err := mkfsExt4(ctx, work, fsImg, root, m); err != nil {
		return err
	}
	if err := pinTimes(ctx, work, fsImg); err != nil {
		return err
	}
	src, err := os.Open(fsImg)
	if err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	defer src.Close()
	if err := copySparse(ctx, img, root.Offset(), src, root.Size(), p); err != nil {
		return fmt.Errorf("copy root into image: %w", err)
	}
	return nil
}

// e2fsEnv is the environment of mke2fs and debugfs: fixed time and config.
func e2fsEnv(work string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH") + ":/usr/sbin:/sbin",
		"LC_ALL=C",
		"E2FSPROGS_FAKE_TIME=" + strconv.Itoa(ext4Time),
		"MKE2FS_CONFIG=" + filepath.Join(work, "mke2fs.conf"),
	}
}

func mkfsExt4(ctx context.Context, work, fsImg string, root Partition, m *Manifest) error {
	if err := os.WriteFile(filepath.Join(work, "mke2fs.conf"), []byte(mke2fsConf), 0o644); err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	f, err := os.Create(fsImg)
	if err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	err = f.Truncate(root.Size())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-t", "ext4",
		"-L", root.Label, "-U", strings.ToLower(root.FSUUID),
		"-E", "hash_seed="+strings.ToLower(m.HashSeed)+",root_owner=0:0",
		"-d", m.RootDir, fsImg)
	cmd.Env = e2fsEnv(work)
	asRoot(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 -d %s: %v: %s", m.RootDir, err, bytes.TrimSpace(out))
	}
	return nil
}

// asRoot runs cmd in a user namespace mapping the caller to root when the
// caller is not root, so that mkfs.ext4 records the files as root's.
func asRoot(cmd *exec.Cmd) {
	if os.Geteuid() == 0 {
		return
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
		GidMappingsEnableSetgroups: false,
	}
}

// pinTimes sets atime, ctime and mtime of every inode in use to the fixed
// time. mkfs.ext4 -d copies them from the host tree, where ctime cannot be
// chosen, so without this no two builds would give the same bytes.
func pinTimes(ctx context.Context, work, fsImg string) error {
	inodes, err := usedInodes(ctx, work, fsImg)
	if err != nil {
		return err
	}
	var script bytes.Buffer
	for _, ino := range inodes {
		for _, field := range []string{"atime", "ctime", "mtime"} {
			fmt.Fprintf(&script, "sif <%d> %s %d\n", ino, field, ext4Time)
		}
	}
	cmdFile := filepath.Join(work, "debugfs.cmd")
	if err := os.WriteFile(cmdFile, script.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pin root times: %w", err)
	}
	cmd := exec.CommandContext(ctx, "debugfs", "-w", "-f", cmdFile, fsImg)
	cmd.Env = e2fsEnv(work)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debugfs (pin root times): %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	// debugfs exits 0 when a command fails; its only expected output on
	// stderr is the version banner.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if line != "" && !strings.HasPrefix(line, "debugfs ") {
			return fmt.Errorf("debugfs (pin root times): %s", line)
		}
	}
	return nil
}

// usedInodes lists the root directory's inode and every inode in use from
// the first non-reserved one on, read from dumpe2fs's free-inode ranges.
func usedInodes(ctx context.Context, work, fsImg string) ([]int, error) {
	cmd := exec.CommandContext(ctx, "dumpe2fs", fsImg)
	cmd.Env = e2fsEnv(work)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("dumpe2fs %s: %w", fsImg, err)
	}
	count, firstIno := 0, 11
	var free []bool
	inGroups := false // "Free inodes:" is the header's total before the first group
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Group ") {
			inGroups = true
		}
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Inode count":
			count, err = strconv.Atoi(val)
			free = make([]bool, count+1)
		case "First inode":
			firstIno, err = strconv.Atoi(val)
		case "Free inodes":
			if inGroups && free != nil {
				err = markRanges(free, val)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("dumpe2fs %s: %q: %w", fsImg, sc.Text(), err)
		}
	}
	if count == 0 {
		return nil, fmt.Errorf("dumpe2fs %s: no inode count", fsImg)
	}
	used := []int{2}
	for ino := firstIno; ino <= count; ino++ {
		if !free[ino] {
			used = append(used, ino)
		}
	}
	return used, nil
}

// markRanges marks "12-8192, 9000" in free.
func markRanges(free []bool, val string) error {
	for _, r := range strings.Split(val, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return err
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return err
			}
		}
		if a < 1 || b >= len(free) || a > b {
			return fmt.Errorf("inode range %s out of bounds", r)
		}
		for i := a; i <= b; i++ {
			free[i] = true
		}
	}
	return nil
}

// copySparse copies size bytes of src into dst at off, skipping holes
// (SEEK_DATA/SEEK_HOLE) and all-zero blocks, which dst (a fresh sparse
// file) already reads as zero.
func copySparse(ctx context.Context, dst *os.File, off int64, src *os.File, size int64, p *progressor) error {
	const chunk = 1 << 20
	const block = 64 << 10
	buf := make([]byte, chunk)
	reported := int64(0)
	for pos := int64(0); pos < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(int(src.Fd()), pos, unix.SEEK_DATA)
		if err == unix.ENXIO {
			break // only a hole remains
		}
		if err != nil {
			return fmt.Errorf("seek data: %w", err)
		}
		hole, err := unix.Seek(int(src.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole: %w", err)
		}
		hole = min(hole, size)
		for pos = data; pos < hole; {
			n := min(int64(chunk), hole-pos)
			if _, err := src.ReadAt(buf[:n], pos); err != nil {
				return err
			}
			for b := int64(0); b < n; b += block {
				piece := buf[b:min(b+block, n)]
				if isZero(piece) {
					continue
				}
				if _, err := dst.WriteAt(piece, off+pos+b); err != nil {
					return err
				}
			}
			pos += n
			p.add(pos - reported)
			reported = pos
		}
	}
	p.add(size - reported)
	return nil
}

func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
