package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/kiln-os/kiln/debian"
	"github.com/kiln-os/kiln/internal/golden"
	"github.com/kiln-os/kiln/internal/testenv"
)

// openPTY opens a pseudo-terminal: the master to read what was drawn,
// the terminal itself to draw on.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		testenv.SkipOrFail(t, "no pseudo-terminals: %v", err) // every Linux has them; a sandbox may not
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// raw output: no \n → \r\n translation, so the recording is what kiln wrote
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// fakeClock steps by step on each reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

// drive plays a fetch of 283 packages (97 MiB, 10 events a package, 5 ms
// apart: 14 s), a build of 12 parts and a 2 GiB image write (644 steps)
// through the bars of r.
func drive(r *Run, clock *fakeClock) {
	f := newBar(r, "fetch")
	f.now = clock.now
	const pkgs, total = 283, 97 << 20
	var done int64
	for i := 0; i < pkgs; i++ {
		for j := 0; j < 10; j++ {
			done += total / pkgs / 10
			f.fetch(debian.Progress{BytesDone: done, BytesTotal: total, Done: i, Total: pkgs, Package: fmt.Sprintf("linux-image-6.1.0-28-cloud-amd64-unsigned-%03d", i)})
		}
	}
	f.fetch(debian.Progress{BytesDone: total, BytesTotal: total, Done: pkgs, Total: pkgs})
	f.done()
	b := newBar(r, "build")
	b.now = clock.now
	for i, part := range []string{"sw", "etc", "units", "modules", "initrd", "toplevel"} {
		b.count(int64(i+1), 0, "parts", part)
	}
	b.done()
	img := newBar(r, "image")
	img.now = clock.now
	for i := int64(0); i <= 644; i++ {
		img.set(i*(2<<30)/644, 2<<30, "qcow2")
	}
	img.done()
}

// TestProgressOnTerminal records the progress display on a real
// pseudo-terminal: every redraw fits 80 columns, redraws are throttled
// (a 14 s phase of 2,830 events redraws at most 4 times a second), and
// each phase ends with its summary line. The recording, one redraw a
// line, is testdata/progress_pty.golden.
func TestProgressOnTerminal(t *testing.T) {
	master, tty := openPTY(t)
	defer master.Close()
	var raw bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&raw, master); close(read) }()
	r := &Run{Env: Env{Stderr: tty}}
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: 5 * time.Millisecond}
	drive(r, clock)
	tty.Close()
	<-read // the master reads EIO once the terminal is closed
	var rec strings.Builder
	redraws := 0
	for _, line := range strings.Split(raw.String(), "\n") {
		for _, draw := range strings.Split(line, "\r") {
			draw = strings.ReplaceAll(draw, "\x1b[K", "")
			if draw == "" {
				continue
			}
			if n := utf8.RuneCountInString(draw); n > 79 {
				t.Errorf("a redraw is %d columns wide: %q", n, draw)
			}
			redraws++
			rec.WriteString(draw + "\n")
		}
	}
	// 14 s of fetch, 3 s of image at 4 redraws a second, plus finals
	if redraws > 100 {
		t.Errorf("%d redraws, want them throttled", redraws)
	}
	for _, want := range []string{"fetch:  283 packages  97.0 MiB", "build:  6 parts", "image:  2048.0 MiB"} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("the recording lacks %q", want)
		}
	}
	t.Logf("pty recording (%d redraws):\n%s", redraws, rec.String())
	golden.Check(t, "testdata/progress_pty.golden", []byte(rec.String()))
}

// TestProgressOffTerminal: off a terminal nothing is drawn while a phase
// runs, and each phase prints one line with its time.
func TestProgressOffTerminal(t *testing.T) {
	var errb bytes.Buffer
	r := &Run{Env: Env{Stderr: &errb}}
	drive(r, &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: 5 * time.Millisecond})
	want := "fetch:  283 packages  97.0 MiB  6.9 MiB/s  in 14.2s\nbuild:  6 parts  in 30ms\nimage:  2048.0 MiB  635.0 MiB/s  in 3.2s\n"
	if got := errb.String(); got != want {
		t.Errorf("off a terminal:\n%s\nwant:\n%s", got, want)
	}
}

// TestFetchOnTerminal records a real kiln fetch (real .debs from a signed
// archive on disk, downloaded, checked and unpacked) with stderr on a
// pseudo-terminal: the display's lines fit 80 columns and the fetch
// ends with its summary line. Off a terminal the same fetch prints only
// the summary.
func TestFetchOnTerminal(t *testing.T) {
	a := newTestArchive(t)
	var names []string
	for i := 0; i < 40; i++ {
		names = append(names, fmt.Sprintf("pkg%02d", i))
	}
	a.publishDebs(t, names, 256<<10)
	s := archiveTranscript(t, a)
	if code, _ := s.run("--keyring", "archive.asc", "lock", "--packages", "pkg01,pkg02"); code != ExitOK {
		t.Fatalf("lock:\n%s", s.buf.String())
	}
	master, tty := openPTY(t)
	defer master.Close()
	var raw bytes.Buffer
	read := make(chan struct{})
	go func() { io.Copy(&raw, master); close(read) }()
	var out bytes.Buffer
	code := Main(context.Background(), Env{Args: []string{"--store", "store", "fetch"}, Stdin: strings.NewReader(""),
		Stdout: &out, Stderr: tty, Getenv: func(k string) string { return s.env[k] }, Dir: s.dir})
	tty.Close()
	<-read
	if code != ExitOK {
		t.Fatalf("fetch: exit %d\n%s", code, raw.String())
	}
	var draws []string
	for _, line := range strings.Split(raw.String(), "\n") {
		for _, d := range strings.Split(line, "\r") {
			if d = strings.ReplaceAll(d, "\x1b[K", ""); d != "" {
				draws = append(draws, d)
				if utf8.RuneCountInString(d) > 79 {
					t.Errorf("a redraw is %d columns wide: %q", utf8.RuneCountInString(d), d)
				}
			}
		}
	}
	t.Logf("kiln fetch on a pseudo-terminal (%d draws):\n%s", len(draws), strings.Join(draws, "\n"))
	if len(draws) == 0 || !strings.HasPrefix(draws[len(draws)-1], "fetch:  3 packages  770.") { // pkg00 is Essential
		t.Errorf("the fetch did not end with its summary: %q", draws)
	}
	if strings.Count(out.String(), "/kiln/store/") != 3 {
		t.Errorf("fetch printed %q, want 3 store paths", out.String())
	}
}
