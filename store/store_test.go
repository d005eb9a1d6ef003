package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	// Store dirs are 0555: as an ordinary user, t.TempDir's cleanup could
	// not remove them.
	t.Cleanup(func() { removeTree(dir) })
	s, err := Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testPath(t testing.TB, name string) Path {
	t.Helper()
	p, err := NewKey("test/1").Add("name", name).Path(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tree describes content for fill: name -> content; "dir/" entries are
// directories, "->x" contents are symlinks to x.
type tree map[string]string

func (tr tree) fill(tmp string) error {
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return err
	}
	for name, content := range tr {
		full := filepath.Join(tmp, name)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(full, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(content[2:], full)
		default:
			err = os.WriteFile(full, []byte(content), 0o644)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func build(t testing.TB, s *Store, name string, refs []Path, tr tree) Path {
	t.Helper()
	p := testPath(t, name)
	if err := s.Build(context.Background(), p, refs, tr.fill); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCanonicalize(t *testing.T) {
	s := openTest(t)
	p := testPath(t, "canon")
	err := s.Build(context.Background(), p, nil, func(tmp string) error {
		for _, step := range []error{
			os.Mkdir(tmp, 0o700),
			os.WriteFile(filepath.Join(tmp, "plain"), []byte("a"), 0o600),
			os.WriteFile(filepath.Join(tmp, "suid"), []byte("b"), 0o755),
			os.Chmod(filepath.Join(tmp, "suid"), 0o4755|fs.ModeSetuid),
			os.Mkdir(filepath.Join(tmp, "sgid"), 0o2775),
			os.Chmod(filepath.Join(tmp, "sgid"), 0o775|fs.ModeSetgid|fs.ModeSticky),
			os.WriteFile(filepath.Join(tmp, "sgid", "exec-other"), []byte("c"), 0o601),
			os.Symlink("../plain", filepath.Join(tmp, "sgid", "link")),
			unix.Lsetxattr(filepath.Join(tmp, "plain"), "user.kiln-test", []byte("x"), 0),
		} {
			if step != nil {
				return step
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	root := s.Physical(p)
	for _, tc := range []struct {
		rel  string
		mode fs.FileMode
	}{
		{"", fs.ModeDir | 0o555},
		{"plain", 0o444},
		{"suid", 0o555},
		{"sgid", fs.ModeDir | 0o555},
		{"sgid/exec-other", 0o555},
		{"sgid/link", fs.ModeSymlink | 0o777},
	} {
		name := filepath.Join(root, tc.rel)
		st, err := os.Lstat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.rel, st.Mode(), tc.mode)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Mtim.Sec != 1 || sys.Mtim.Nsec != 0 {
			t.Errorf("%s: mtime %d.%09d, want 1", tc.rel, sys.Mtim.Sec, sys.Mtim.Nsec)
		}
		if os.Geteuid() == 0 && (sys.Uid != 0 || sys.Gid != 0) {
			t.Errorf("%s: owner %d:%d, want 0:0", tc.rel, sys.Uid, sys.Gid)
		}
		if n, err := unix.Llistxattr(name, make([]byte, 256)); err == nil && n != 0 {
			t.Errorf("%s: xattrs left (%d bytes of names)", tc.rel, n)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "sgid", "link")); err != nil || target != "../plain" {
		t.Errorf("symlink target = %q, %v; want ../plain", target, err)
	}
	if problems, err := s.Verify(context.Background()); err != nil || len(problems) != 0 {
		t.Errorf("Verify after Build = %v, %v; want no problems", problems, err)
	}
}

func TestSameContentSameHash(t *testing.T) {
	s := openTest(t)
	content := tree{"bin/": "", "bin/sh": "#!", "etc/a": "1", "link": "->etc/a"}
	a := build(t, s, "a", nil, content)
	// Same content written in another way: other modes, other order.
	b := testPath(t, "b")
	err := s.Build(context.Background(), b, nil, func(tmp string) error {
		os.MkdirAll(filepath.Join(tmp, "etc"), 0o700)
		os.WriteFile(filepath.Join(tmp, "etc", "a"), []byte("1"), 0o600)
		os.Symlink("etc/a", filepath.Join(tmp, "link"))
		os.Mkdir(filepath.Join(tmp, "bin"), 0o777)
		return os.WriteFile(filepath.Join(tmp, "bin", "sh"), []byte("#!"), 0o640)
	})
	if err != nil {
		t.Fatal(err)
	}
	other := build(t, s, "c", nil, tree{"bin/": "", "bin/sh": "#?", "etc/a": "1", "link": "->etc/a"})
	ia, _ := s.Info(a)
	ib, _ := s.Info(b)
	ic, _ := s.Info(other)
	if ia.NarHash != ib.NarHash || ia.NarSize != ib.NarSize {
		t.Errorf("same content: %s/%d vs %s/%d", ia.NarHash, ia.NarSize, ib.NarHash, ib.NarSize)
	}
	if ia.NarHash == ic.NarHash {
		t.Errorf("different content, same hash %s", ia.NarHash)
	}
	if !strings.HasPrefix(ia.NarHash, "sha256:") || len(ia.NarHash) != len("sha256:")+52 {
		t.Errorf("hash %q, want sha256:<52 nix32 chars>", ia.NarHash)
	}
}

// An executable bit changes the hash; other mode bits do not.
func TestHashCoversExecutableBit(t *testing.T) {
	s := openTest(t)
	var hashes []string
	for i, mode := range []fs.FileMode{0o644, 0o600, 0o700} {
		p := testPath(t, fmt.Sprintf("mode%d", i))
		err := s.Build(context.Background(), p, nil, func(tmp string) error { return os.WriteFile(tmp, []byte("x"), mode) })
		if err != nil {
			t.Fatal(err)
		}
		info, _ := s.Info(p)
		hashes = append(hashes, info.NarHash)
	}
	if hashes[0] != hashes[1] || hashes[0] == hashes[2] {
		t.Errorf("hashes for 0644, 0600, 0700 = %v; want equal, equal, different", hashes)
	}
}

func TestBuildFailuresRegisterNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		fill func(string) error
		want string
	}{
		{"error", func(tmp string) error { os.Mkdir(tmp, 0o755); return errors.New("boom") }, "fill: boom"},
		{"panic", func(tmp string) error { os.Mkdir(tmp, 0o755); panic("kaboom") }, "fill panicked: kaboom"},
		{"nothing", func(string) error { return nil }, "fill made nothing"},
		{"fifo", func(tmp string) error { return unix.Mkfifo(tmp, 0o644) }, "store paths hold only files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			p := testPath(t, tc.name)
			err := s.Build(context.Background(), p, nil, tc.fill)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p.String()) {
				t.Fatalf("Build error = %v, want one naming %s and containing %q", err, p, tc.want)
			}
			if s.Valid(p) {
				t.Fatal("failed build left a valid path")
			}
			assertNoLeftovers(t, s, p)
			build(t, s, tc.name, nil, tree{"f": "ok"})
		})
	}
}

func assertNoLeftovers(t *testing.T, s *Store, p Path) {
	t.Helper()
	if _, err := os.Lstat(s.Physical(p)); err == nil {
		t.Errorf("%s exists after a failed build", s.Physical(p))
	}
	if ents, _ := os.ReadDir(s.tmpDir()); len(ents) != 0 {
		t.Errorf("temp dir not cleaned: %v", ents)
	}
	if _, err := os.Lstat(s.recordFile(p)); err == nil {
		t.Errorf("record of %s exists after a failed build", p)
	}
}

func TestRefsMustBeValid(t *testing.T) {
	s := openTest(t)
	dep := build(t, s, "dep", nil, tree{"f": "1"})
	missing := testPath(t, "never-built")
	p := testPath(t, "user")
	err := s.Build(context.Background(), p, []Path{dep, missing}, tree{"f": "2"}.fill)
	if !errors.Is(err, ErrNotValid) || !strings.Contains(err.Error(), missing.String()) {
		t.Fatalf("Build with an invalid ref: %v, want ErrNotValid naming %s", err, missing)
	}
	if s.Valid(p) {
		t.Fatal("path with an invalid ref was registered")
	}
	// Itself and valid paths are fine, duplicates collapse.
	if err := s.Build(context.Background(), p, []Path{dep, p, dep}, tree{"f": "2"}.fill); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := sortPaths([]Path{dep, p}); fmt.Sprint(info.Refs) != fmt.Sprint(want) {
		t.Errorf("refs = %v, want %v", info.Refs, want)
	}
	closure, err := s.Closure(p)
	if err != nil || fmt.Sprint(closure) != fmt.Sprint(sortPaths([]Path{dep, p})) {
		t.Errorf("closure = %v, %v", closure, err)
	}
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(root string) error
		want   error
	}{
		{"flipped byte", func(root string) error {
			name := filepath.Join(root, "dir", "data")
			b, _ := os.ReadFile(name)
			b[5] ^= 1
			os.Chmod(name, 0o644)
			err := os.WriteFile(name, b, 0o644)
			os.Chmod(name, 0o444)
			unix.UtimesNano(name, []unix.Timespec{{Sec: 1}, {Sec: 1}})
			return err
		}, ErrChanged},
		{"deleted file", func(root string) error {
			os.Chmod(filepath.Join(root, "dir"), 0o755)
			defer os.Chmod(filepath.Join(root, "dir"), 0o555)
			return os.Remove(filepath.Join(root, "dir", "data"))
		}, ErrChanged},
		{"deleted path", removeTree, ErrMissing},
		{"made writable", func(root string) error { return os.Chmod(filepath.Join(root, "dir", "data"), 0o644) }, ErrNotCanonical},
		{"untouched", func(string) error { return nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t)
			p := build(t, s, "victim", nil, tree{"dir/data": "0123456789", "other": "x"})
			good := build(t, s, "bystander", nil, tree{"f": "y"})
			if err := tc.damage(s.Physical(p)); err != nil {
				t.Fatal(err)
			}
			problems, err := s.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == nil {
				if len(problems) != 0 {
					t.Fatalf("problems = %v, want none", problems)
				}
				return
			}
			if len(problems) != 1 || problems[0].Path != p || !errors.Is(problems[0].Err, tc.want) {
				t.Fatalf("problems = %v, want one %q for %s (and none for %s)", problems, tc.want, p, good)
			}
		})
	}
}

func TestConcurrentBuildsInOneProcess(t *testing.T) {
	s := openTest(t)
	var fills [3]atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every goroutine builds the shared path, and one of two others.
			for _, i := range []int{0, 1 + g%2} {
				p := testPath(t, fmt.Sprintf("p%d", i))
				err := s.Build(context.Background(), p, nil, func(tmp string) error {
					fills[i].Add(1)
					return tree{"f": fmt.Sprint(i)}.fill(tmp)
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range fills {
		if n := fills[i].Load(); n != 1 {
			t.Errorf("p%d filled %d times, want 1", i, n)
		}
		if !s.Valid(testPath(t, fmt.Sprintf("p%d", i))) {
			t.Errorf("p%d not valid", i)
		}
	}
}

// A builder killed between the rename and the registration leaves content
// without a record: the next Build replaces it.
func TestBuildReplacesUnregisteredLeftover(t *testing.T) {
	s := openTest(t)
	p := testPath(t, "leftover")
	if err := os.MkdirAll(filepath.Join(s.Physical(p), "half"), 0o555); err != nil {
		t.Fatal(err)
	}
	if s.Valid(p) {
		t.Fatal("unregistered content counts as valid")
	}
	build(t, s, "leftover", nil, tree{"whole": "1"})
	if _, err := os.Lstat(filepath.Join(s.Physical(p), "half")); err == nil {
		t.Error("leftover content survived the rebuild")
	}
	if problems, err := s.Verify(context.Background()); err != nil || len(problems) != 0 {
		t.Errorf("verify: %v, %v", problems, err)
	}
}

// A builder waiting for another's lock gives up when its context ends.
func TestBuildWaitHonoursContext(t *testing.T) {
	s := openTest(t)
	p := testPath(t, "slow")
	release, started := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- s.Build(context.Background(), p, nil, func(tmp string) error {
			close(started)
			<-release
			return tree{"f": "slow"}.fill(tmp)
		})
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Build(ctx, p, nil, tree{"f": "other"}.fill)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Build: %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !s.Valid(p) {
		t.Fatal("first builder's path not valid")
	}
}
