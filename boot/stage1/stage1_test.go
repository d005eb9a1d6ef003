package stage1

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/toplevel"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want Cmdline
	}{
		{"BOOT_IMAGE=/vmlinuz root=LABEL=kiln-root rootfstype=ext4 rw init=/kiln/store/abc-toplevel/init console=ttyS0\n",
			Cmdline{Root: "LABEL=kiln-root", RootFSType: "ext4", RW: true, Init: "/kiln/store/abc-toplevel/init"}},
		{"root=/dev/vda ro", Cmdline{Root: "/dev/vda", RW: false}},
		{`root="LABEL=my root" init=/a init=/b`, Cmdline{Root: "LABEL=my root", RW: true, Init: "/b"}},
		{"rootflags=data=ordered,noatime quiet", Cmdline{RootFlags: "data=ordered,noatime", RW: true}},
		{"init=/x -- init=/y single", Cmdline{Init: "/x", RW: true}},
		{"", Cmdline{RW: true}},
	}
	for _, tc := range tests {
		got := ParseCmdline(tc.in)
		got.Params = nil
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseCmdline(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	if p := ParseCmdline("quiet console=ttyS0").Params; p["console"] != "ttyS0" || p["quiet"] != "" {
		t.Errorf("params = %v", p)
	}
}

func TestResolve(t *testing.T) {
	cfg := &toplevel.Stage1Config{Version: 1, Root: toplevel.Stage1Root{Spec: "LABEL=kiln-root"}}
	tests := []struct {
		name    string
		cfg     *toplevel.Stage1Config
		cmdline string
		want    Boot
		wantErr string
	}{
		{"config root, cmdline init", cfg, "init=/kiln/store/x-toplevel/init",
			Boot{Root: toplevel.DeviceSpec{Label: "kiln-root"}, FSType: "ext4", ReadWrite: true, Init: "/kiln/store/x-toplevel/init"}, ""},
		{"cmdline wins", &toplevel.Stage1Config{Version: 1, Root: toplevel.Stage1Root{Spec: "LABEL=a", FSType: "ext4", Init: "/a"}}, "root=UUID=ABC rootfstype=xfs init=/b ro",
			Boot{Root: toplevel.DeviceSpec{UUID: "abc"}, FSType: "xfs", Init: "/b"}, ""},
		{"config init", &toplevel.Stage1Config{Version: 1, Root: toplevel.Stage1Root{Spec: "/dev/vda", Init: "/sbin/init"}}, "",
			Boot{Root: toplevel.DeviceSpec{Path: "/dev/vda"}, FSType: "ext4", ReadWrite: true, Init: "/sbin/init"}, ""},
		{"no root", &toplevel.Stage1Config{Version: 1}, "init=/x", Boot{}, "no root device"},
		{"no init", cfg, "", Boot{}, "no init"},
		{"relative init", cfg, "init=init", Boot{}, "not an absolute path"},
		{"bad root", cfg, "root=vda init=/x", Boot{}, "want LABEL="},
		{"ephemeral root", cfg, "init=/x kiln.persist=/persist",
			Boot{Root: toplevel.DeviceSpec{Label: "kiln-root"}, FSType: "ext4", ReadWrite: true, Init: "/x", Persist: "/persist"}, ""},
		{"persist on /", cfg, "init=/x kiln.persist=/", Boot{}, "other than / and /kiln"},
		{"persist relative", cfg, "init=/x kiln.persist=persist", Boot{}, "want an absolute"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.cfg, ParseCmdline(tc.cmdline))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// mkfsExt4 makes a real ext4 image with e2fsprogs.
func mkfsExt4(t *testing.T, file, label, uuid string) {
	t.Helper()
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		testenv.SkipOrFail(t, "%v", "mkfs.ext4 not installed (make deps)")
	}
	args := []string{"-q", "-F", "-L", label, "-U", uuid, file, "4M"}
	if out, err := exec.Command("mkfs.ext4", args...).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4 %v: %v\n%s", args, err, out)
	}
}

func TestReadSuperblock(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ label, uuid string }{
		{"kiln-root", "0a1b2c3d-4e5f-4061-8273-8495a6b7c8d9"},
		{"exactly16chars__", "ffffffff-0000-4000-8000-000000000001"},
		{"", "12345678-9abc-4def-8123-456789abcdef"},
	}
	for i, tc := range tests {
		file := filepath.Join(dir, "fs"+string(rune('0'+i)))
		mkfsExt4(t, file, tc.label, tc.uuid)
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadSuperblock(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if want := (Superblock{Label: tc.label, UUID: tc.uuid}); got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
	}
	// Not ext4: zeros, and a file too short to hold a superblock.
	for _, size := range []int{8192, 100} {
		f := filepath.Join(dir, "zero")
		if err := os.WriteFile(f, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readSuperblockFile(f); !errors.Is(err, ErrNotExt4) {
			t.Errorf("%d zero bytes: got %v, want ErrNotExt4", size, err)
		}
	}
}

func TestFinder(t *testing.T) {
	dir := t.TempDir()
	sys, dev := filepath.Join(dir, "sys"), filepath.Join(dir, "dev")
	for _, d := range []string{sys, dev} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// vda: not a file system; vdb: another ext4; vdc appears later.
	os.WriteFile(filepath.Join(dev, "vda"), make([]byte, 8192), 0o644)
	mkfsExt4(t, filepath.Join(dev, "vdb"), "other", "11111111-1111-4111-8111-111111111111")
	for _, n := range []string{"vda", "vdb"} {
		os.Mkdir(filepath.Join(sys, n), 0o755)
	}
	var logs []string
	f := Finder{SysBlock: sys, Dev: dev, Timeout: 5 * time.Second, Poll: 10 * time.Millisecond,
		Log: func(format string, a ...any) { logs = append(logs, format) }}
	later := filepath.Join(dir, "vdc")
	mkfsExt4(t, later, "kiln-root", "22222222-2222-4222-8222-222222222222")
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Rename(later, filepath.Join(dev, "vdc"))
		os.Mkdir(filepath.Join(sys, "vdc"), 0o755)
	}()
	got, err := f.Find(context.Background(), toplevel.DeviceSpec{Label: "kiln-root"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dev, "vdc"); got != want {
		t.Errorf("by label: got %s, want %s", got, want)
	}
	if len(logs) == 0 {
		t.Errorf("Find logged nothing while waiting")
	}
	got, err = f.Find(context.Background(), toplevel.DeviceSpec{UUID: "11111111-1111-4111-8111-111111111111"})
	if err != nil || got != filepath.Join(dev, "vdb") {
		t.Errorf("by uuid: got %s, %v; want %s", got, err, filepath.Join(dev, "vdb"))
	}
	f.Timeout = 50 * time.Millisecond
	_, err = f.Find(context.Background(), toplevel.DeviceSpec{Label: "missing"})
	if err == nil || !strings.Contains(err.Error(), "LABEL=missing did not appear") || !strings.Contains(err.Error(), "vda vdb vdc") {
		t.Errorf("missing label: got %v, want a timeout naming the devices seen", err)
	}
	got, err = f.Find(context.Background(), toplevel.DeviceSpec{Path: filepath.Join(dev, "vda")})
	if err != nil || got != filepath.Join(dev, "vda") {
		t.Errorf("by path: got %s, %v", got, err)
	}
}
