package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-os/kiln/image"
	"github.com/kiln-os/kiln/store"
)

type imageFlags struct {
	config string
	out    string
	size   string
	format string
}

func init() {
	register(&command{
		name:    "image",
		summary: "build a system and write it as a bootable GPT disk image",
		usage:   "kiln image [-c host.hcl] [-o disk.img] [--format raw|raw.zst|qcow2|vhd|vmdk] [--size 2G]",
		flags: func(fs *flag.FlagSet) any {
			f := &imageFlags{}
			fs.StringVar(&f.config, "c", "", "host `FILE` (default: the built-in default system)")
			fs.StringVar(&f.out, "o", "", "image `FILE` to write (default: disk.img, or disk and the format's extension)")
			fs.StringVar(&f.format, "format", "", "image `FORMAT`: raw, raw.zst, qcow2, vhd (fixed) or vmdk (streamOptimized); default: what -o's extension says, else raw")
			fs.StringVar(&f.size, "size", "2G", "image `SIZE` (bytes, or with K, M, G)")
			return f
		},
		run: runImage,
	})
}

func runImage(ctx context.Context, r *Run, opts any, args []string) error {
	f := opts.(*imageFlags)
	if len(args) > 0 {
		return usageErrorf("unexpected argument %q", args[0])
	}
	size, err := parseSize(f.size)
	if err != nil {
		return usageErrorf("--size: %v", err)
	}
	format, out, err := image.OutputFormat(f.format, f.out)
	if err != nil {
		return usageErrorf("--format, -o: %v", err)
	}
	// Refuse a size no image fits in before building the system: the
	// disk plan reads nothing.
	if _, err := image.PlanDisk(image.Layout{Size: size, Format: format, Seed: "size-check", RootDir: "/"}); err != nil {
		return usageErrorf("--size %s: %v", f.size, err)
	}
	// Refuse an output no image can go to before building the system.
	out = r.Path(out)
	target, err := image.ResolveTarget(out)
	if err != nil {
		return usageErrorf("-o: %v", err)
	}
	if target.Device && format != image.Raw {
		return usageErrorf("-o %s is a block device: it gets the raw image, not --format %s", out, format)
	}
	st, err := store.Open(r.storeDir())
	if err != nil {
		return err
	}
	res, err := r.build(ctx, st, f.config, false)
	if err != nil {
		return err
	}
	if err := writeImage(ctx, r, st, res.Toplevel, out, size, format); err != nil {
		return err
	}
	fmt.Fprintln(r.Stderr, imageSummary(displayPath(r, out), format, res.Toplevel.String()))
	r.Printf("%s\n", out)
	return nil
}

// imageSummary is the line kiln image ends with on stderr: the file, its
// size and what of it is allocated, and the toplevel it boots.
func imageSummary(file string, format image.Format, top string) string {
	if format == "" {
		format = image.Raw
	}
	line := fmt.Sprintf("wrote %s (%s)", file, format)
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err == nil {
		line = fmt.Sprintf("wrote %s: %s (%s, %s allocated)", file, mib(st.Size), format, mib(st.Blocks*512))
	}
	return line + "\ntoplevel " + top
}

// writeImage writes the image of top (image.WriteSystem), drawing its
// progress.
func writeImage(ctx context.Context, r *Run, st *store.Store, top store.Path, out string, size int64, format image.Format) error {
	start := time.Now()
	bar := newBar(r, "image")
	err := image.WriteSystem(ctx, st, out, image.SystemOptions{Size: size, Format: format}, func(done, total int64) { bar.set(done, total, string(format)) }, top)
	bar.done()
	if err != nil {
		return err
	}
	r.Logf("image %s written in %s", out, time.Since(start).Round(time.Millisecond))
	return nil
}

// parseSize parses 2G, 512M, 1048576.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q: want a positive number with an optional K, M or G", s)
	}
	return n * mult, nil
}
