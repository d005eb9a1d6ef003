package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kiln-os/kiln/store"
	"github.com/kiln-os/kiln/testvm"
)

type vmFlags struct {
	config   string
	sshPort  int
	memoryMB int
	cpus     int
	writable bool
	dryRun   bool
}

func init() {
	register(&command{
		name:    "vm",
		summary: "boot a system or a disk image under QEMU on this terminal",
		usage: "kiln vm [-c host.hcl | disk.img] [--ssh-port 2222] [--writable] [--dry-run]\n\n" +
			"With a host file (or neither argument: the default system) the image is built\n" +
			"first. The serial console is this terminal: Ctrl-A X quits, Ctrl-A C switches\n" +
			"to QEMU's monitor. Unless --writable, the guest writes to a throw-away overlay.",
		flags: func(fs *flag.FlagSet) any {
			f := &vmFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` to build and boot")
			fs.IntVar(&f.sshPort, "ssh-port", 2222, "host `PORT` forwarded to the guest's port 22 (0: none)")
			fs.IntVar(&f.memoryMB, "memory", testvm.DefaultMemoryMB, "guest memory in `MiB`")
			fs.IntVar(&f.cpus, "cpus", testvm.DefaultCPUs, "virtual `CPUS`")
			fs.BoolVar(&f.writable, "writable", false, "let the guest modify the disk image itself")
			fs.BoolVar(&f.dryRun, "dry-run", false, "print the QEMU command line, run nothing")
			return f
		},
		run: runVM,
	})
}

// cachedImage builds the system of a host file ("" for the default
// system) and writes its image into the cache, named by the toplevel
// (which carries everything the image holds: the image of a toplevel is
// reproducible, so an existing one is reused). kiln vm -c and kiln test
// use it, through Run.buildImage.
func cachedImage(ctx context.Context, r *Run, hostFile string) (string, error) {
	st, err := store.Open(r.storeDir())
	if err != nil {
		return "", err
	}
	res, err := r.build(ctx, st, hostFile, false)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(r.cacheDir(), "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	out := filepath.Join(dir, res.Toplevel.Base()+".img")
	if _, err := os.Stat(out); err == nil {
		r.Logf("reusing image %s", out)
		return out, nil
	}
	size, _ := parseSize("2G")
	return out, writeImage(ctx, r, st, res.Toplevel, out, size, "")
}

func runVM(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*vmFlags)
	if len(args) > 1 {
		return usageErrorf("want at most one disk image, got %d arguments", len(args))
	}
	if len(args) == 1 && f.config != "" {
		return usageErrorf("give either -c host.hcl or a disk image, not both")
	}
	if f.sshPort < 0 || f.sshPort > 65535 {
		return usageErrorf("--ssh-port %d: want 0 to 65535", f.sshPort)
	}
	disk := ""
	if len(args) == 1 {
		disk = r.Path(args[0])
		if _, err := os.Stat(disk); err != nil {
			return fmt.Errorf("disk image: %w", err)
		}
	} else if !f.dryRun {
		img, err := r.image(ctx, f.config)
		if err != nil {
			return err
		}
		disk = img
	} else {
		disk = "IMAGE-OF-" + f.config
		if f.config == "" {
			disk = "IMAGE-OF-DEFAULT-SYSTEM"
		}
	}
	state, err := os.MkdirTemp("", "kiln-vm-")
	if err != nil {
		return fmt.Errorf("vm state: %w", err)
	}
	defer os.RemoveAll(state)
	o := []testvm.Option{testvm.WithName("kiln-vm"), testvm.WithInteractive(),
		testvm.WithMemory(f.memoryMB), testvm.WithCPUs(f.cpus)}
	if f.writable {
		o = append(o, testvm.WithWritableDisk(disk))
	} else {
		o = append(o, testvm.WithDisk(disk))
	}
	if f.sshPort != 0 {
		o = append(o, testvm.WithPortForward(f.sshPort, 22))
	}
	if len(args) == 0 {
		o = append(o, testvm.WithDiskFormat("raw")) // kiln writes raw images; in a dry run there is none yet
	}
	plan, err := testvm.PlanVM(state, o...)
	if err != nil {
		return err
	}
	if f.dryRun {
		r.Printf("%s\n", plan)
		return nil
	}
	if f.sshPort != 0 {
		fmt.Fprintf(r.Stderr, "kiln vm: booting %s; ssh -p %d root@127.0.0.1; Ctrl-A X quits\n", disk, f.sshPort)
	} else {
		fmt.Fprintf(r.Stderr, "kiln vm: booting %s; Ctrl-A X quits\n", disk)
	}
	return testvm.RunInteractive(ctx, plan, r.Stdin, r.Stdout, r.Stderr)
}
