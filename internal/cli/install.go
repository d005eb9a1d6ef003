package cli

import (
	"context"
	"flag"
	"time"

	"github.com/kiln-os/kiln/image"
	"github.com/kiln-os/kiln/store"
)

type installFlags struct {
	config  string
	disk    string
	espSize string
	wipe    bool
}

func init() {
	register(&command{
		name:    "install",
		summary: "build a system and install it onto a disk (a block device or an image file)",
		usage:   "kiln install --disk /dev/X|FILE [-c host.hcl] [--wipe] [--esp-size 256M]",
		flags: func(fs *flag.FlagSet) any {
			f := &installFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.disk, "disk", "", "the `DISK` to install onto: a block device, or an existing file of the disk's size")
			fs.BoolVar(&f.wipe, "wipe", false, "destroy what the disk holds (a partition table, file systems); without it such a disk is refused")
			fs.StringVar(&f.espSize, "esp-size", "256M", "ESP `SIZE` (bytes, or with K, M, G)")
			return f
		},
		run: runInstall,
	})
}

func runInstall(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*installFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	if f.disk == "" {
		return usageErrorf("--disk is required")
	}
	esp, err := parseSize(f.espSize)
	if err != nil {
		return usageErrorf("--esp-size: %v", err)
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	res, err := r.build(ctx, st, f.config, false)
	if err != nil {
		return err
	}
	disk := r.Path(f.disk)
	start := time.Now()
	bar := newBar(r, "install")
	err = image.Install(ctx, st, disk, image.InstallOptions{ESPSize: esp, Wipe: f.wipe},
		func(done, total int64) { bar.set(done, total, "") }, res.Toplevel)
	bar.done()
	if err != nil {
		return err
	}
	r.Logf("installed onto %s in %s", disk, time.Since(start).Round(time.Millisecond))
	r.Printf("%s\n", disk)
	return nil
}
