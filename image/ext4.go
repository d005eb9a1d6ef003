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
	"time"

	"golang.org/x/sys/unix"
)

// mke2fsConf pins the ext4 features, so the image does not depend on the
// build host's /etc/mke2fs.conf. All are supported by Linux 6.1.
// inline_data keeps small files and symlinks up to ~150 bytes in the
// inode: the sw forest's store-path links (longer than the 60 bytes of a
// fast symlink) and the many tiny files of a closure then cost no 4 KiB
// block each (the default system's image: 242 -> 228 MiB used).
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
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize,inline_data
	}
`

// writeRoot makes the root ext4 file system with mkfs.ext4 -d directly
// in the image, at the root partition's offset (-E offset=): no temporary
// file, no copy, and the image stays sparse where the file system has no
// data (the journal's zeros are never written). Then it pins every inode
// timestamp with debugfs. While mkfs runs, progress follows the image's
// allocated bytes.
func writeRoot(ctx context.Context, img *os.File, m *DiskPlan, p *progressor, rootBytes int64, workParent string) error {
	root := m.Root()
	work, err := os.MkdirTemp(workParent, ".kiln-root-*")
	if err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	defer os.RemoveAll(work)
	stop := watchAllocation(img, p, rootBytes)
	err = mkfsExt4(ctx, work, img.Name(), root, m)
	stop()
	if err != nil {
		return err
	}
	if err := pinTimes(ctx, work, fmt.Sprintf("%s?offset=%d", img.Name(), root.Offset())); err != nil {
		return err
	}
	return nil
}

// watchAllocation reports progress while mkfs fills the image: the bytes
// allocated to it since the start, up to want. stop reports the rest.
func watchAllocation(img *os.File, p *progressor, want int64) (stop func()) {
	allocated := func() int64 {
		var st unix.Stat_t
		if unix.Fstat(int(img.Fd()), &st) != nil {
			return 0
		}
		return st.Blocks * 512
	}
	base, start := allocated(), p.done
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if n := min(allocated()-base, want*99/100); n > p.done-start {
					p.add(n - (p.done - start))
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		p.add(want - (p.done - start))
	}
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

// ext4BlockSize is the root file system's block size.
const ext4BlockSize = 4096

func mkfsExt4(ctx context.Context, work, img string, root Partition, m *DiskPlan) error {
	if err := os.WriteFile(filepath.Join(work, "mke2fs.conf"), []byte(mke2fsConf), 0o644); err != nil {
		return fmt.Errorf("make root: %w", err)
	}
	cmd := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-t", "ext4", "-b", strconv.Itoa(ext4BlockSize),
		"-L", root.Label, "-U", strings.ToLower(root.FSUUID),
		// lazy_journal_init: the journal is left unwritten, which in a
		// fresh sparse image reads as zeros anyway, saving 32 MiB of disk.
		"-E", fmt.Sprintf("offset=%d,hash_seed=%s,root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1", root.Offset(), strings.ToLower(m.HashSeed)),
		"-d", m.RootDir, img, strconv.FormatInt(root.Size()/ext4BlockSize, 10))
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
