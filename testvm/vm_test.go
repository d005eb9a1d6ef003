package testvm

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-os/kiln/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for QEMU's output goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func emptyDisk(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "empty.img")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 16<<20); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOVMFBoots boots the firmware with an empty disk, which it finds and
// cannot boot, then tries the network card: serial capture and its copy,
// the disk overlay, the network and a port forward, shutdown and cleanup.
func TestOVMFBoots(t *testing.T) {
	testenv.NeedVM(t)
	disk := emptyDisk(t)
	var serial syncBuffer
	m := Start(t, WithName("ovmf"), WithDisk(disk), WithoutBackdoor(), WithFreeHostPort(22),
		WithMemory(256), WithSerialLog(&serial))
	if !strings.Contains(m.CommandLine(), "qemu-img create") || !strings.Contains(m.CommandLine(), "hostfwd=tcp:127.0.0.1:") {
		t.Errorf("command line lacks the overlay or the forward:\n%s", m.CommandLine())
	}
	m.WaitForConsoleText(`BdsDxe: failed to load Boot0001 "UEFI Misc Device"`)
	m.WaitForConsoleText(`Start PXE over IPv4`)
	port := m.ForwardedPort(22)
	if port == 0 {
		t.Fatal("no host port for guest port 22")
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Errorf("forwarded port %d: %v", port, err)
	} else {
		c.Close()
	}
	if got := serial.String(); !strings.Contains(got, "BdsDxe") {
		t.Errorf("serial copy lacks the firmware's boot messages: %q", lastLines(got, 5))
	}
	dir := m.Plan().Dir
	if _, err := os.Stat(m.Plan().Overlay); err != nil {
		t.Errorf("overlay: %v", err)
	}
	m.Shutdown()
	if m.Running() {
		t.Error("still running after Shutdown")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("state directory %s still there after Close: %v", dir, err)
	}
	if fi, _ := os.Stat(disk); fi.Size() != 16<<20 {
		t.Errorf("disk image changed size: %d", fi.Size())
	}
}

// TestSelectGenerationThroughOVMF writes LoaderEntryOneShot while the
// machine runs (so at its next boot), reboots, and asks the firmware's
// own shell for the variable: OVMF must read the edited store (a corrupt
// one would be reformatted and the variable lost). Then the shell sets a
// variable and powers off, and the store OVMF wrote is read back.
func TestSelectGenerationThroughOVMF(t *testing.T) {
	testenv.NeedVM(t)
	m := Start(t, WithName("varstore"), WithoutBackdoor(), WithoutNetwork(), WithMemory(256), WithTimeout(90*time.Second))
	m.WaitForConsoleText(`Shell> `)
	m.SelectGeneration(3)
	vars, err := ReadVariablesFile(m.Plan().VarsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vars {
		if v.Name == "LoaderEntryOneShot" {
			t.Fatal("variable written while QEMU runs")
		}
	}
	m.Reboot()
	m.WaitForConsoleText(`Shell> `)
	m.SendConsole("dmpstore LoaderEntryOneShot -guid " + LoaderVendorGUID.String() + "\r")
	m.WaitForConsoleText(`LoaderEntryOneShot' DataSize = 0x2E`)
	m.WaitForConsoleText(`6B 00 69 00 6C 00 6E 00-2D 00 67 00 65 00 6E 00`)
	m.WaitForConsoleText(`Shell> `)
	m.SendConsole(`setvar KilnProbe -guid ` + LoaderVendorGUID.String() + ` -nv -bs =L"from-ovmf"` + "\r")
	m.WaitForConsoleText(`Shell> `)
	m.SendConsole("reset -s\r")
	m.WaitForShutdown()
	vars, err = ReadVariablesFile(m.Plan().VarsFile)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, v := range vars {
		if v.Vendor == LoaderVendorGUID {
			found[v.Name] = decodeUTF16Z(v.Data)
		}
	}
	if found["LoaderEntryOneShot"] != "kiln-generation-3.conf" || found["KilnProbe"] != "from-ovmf" {
		t.Errorf("variables after OVMF ran: %q", found)
	}
}
