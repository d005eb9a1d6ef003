package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-os/kiln/internal/s3test"
	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/testvm"
)

// fleetCommon is the module both fleet hosts import: the test's access,
// and the cache they take paths from.
func fleetCommon(sshKey, url, publicKey string) string {
	return fmt.Sprintf(`
testing {
  backdoor = true
}

ssh {
  enable = true
}

bootloader {
  timeout = 1
}

users "root" {
  authorized_keys = [%q]
}

substituters        = [%q]
trusted_public_keys = [file(%q)]
`, sshKey, url, publicKey)
}

// fleetHost is one host of the fleet at generation gen: its name, a file
// that says the generation, and hello (a package the booted image lacks).
func fleetHost(name string, gen int) string {
	return fmt.Sprintf(`imports = ["./common.hcl"]

networking {
  host_name = %q
}

etc "kiln-test/fleet" {
  text = "generation %d\n"
}

packages = [pkgs.hello]
`, name, gen)
}

// deployJSON is what kiln --json deploy prints per host.
type deployJSON struct {
	Host        string `json:"host"`
	Status      string `json:"status"`
	Toplevel    string `json:"toplevel"`
	Closure     int    `json:"closure"`
	Copied      int    `json:"copied"`
	Substituted int    `json:"substituted"`
	SentBytes   int64  `json:"sent_bytes"`
	Error       string `json:"error"`
}

// Two VMs deployed in parallel from a fleet file with --substitute: the
// hosts' systems are pushed to a real S3 server (SeaweedFS), each target
// takes its closure from there itself and switches, and the deployer's
// SSH egress is measured against the closure. Then a tampered NAR in the
// bucket: the target refuses it, its switch fails cleanly (still on the
// previous generation, the path not in its store), and the other host
// deploys. Last, a failing health check in one host's configuration: that
// host's confirmation fails and it rolls back, the deploy exits non-zero
// naming the check, and the other host is switched.
func TestDeployFleetSubstitute(t *testing.T) {
	testenv.NeedVM(t)
	srv := s3test.Start(t)
	srv.MakeBucket(t, "fleet")
	guestSrv := srv.Expose(t) // the guests reach the host's own addresses
	url := guestSrv.URL("fleet", "prod")
	awsEnv := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey}
	key, keyFile := sshKey(t)
	bin := kilnBinary(t)

	keys := t.TempDir()
	kiln(t, bin, keys, "key", "generate", "fleet-1")
	dir := hostDir(t, "imports = [\"./fleet/common.hcl\"]\n\nnetworking {\n  host_name = \"kilnfleet\"\n}\n")
	fleetDir := filepath.Join(dir, "fleet")
	lock, err := os.ReadFile(filepath.Join(repoRoot(t), "tests", "testdata", "switch.lock"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(fleetDir, "kiln.lock"), string(lock))
	write(filepath.Join(fleetDir, "common.hcl"), fleetCommon(key, url, filepath.Join(keys, "fleet-1.public")))
	for _, h := range []string{"vm1", "vm2"} {
		write(filepath.Join(fleetDir, h+".hcl"), fleetHost("kilnfleet-"+h, 2))
	}
	storeDir := filepath.Join(t.TempDir(), "store")
	home := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	kilnRun(t, bin, dir, awsEnv, "--store", storeDir, "image", "-c", "host.hcl", "-o", img)

	// Both boot from the one image (each through its own overlay), while
	// the fleet's systems are built and pushed.
	vms := map[string]*testvm.Machine{}
	for _, h := range []string{"vm1", "vm2"} {
		vms[h] = testvm.Start(t, testvm.WithName(h), testvm.WithDisk(img), testvm.WithFreeHostPort(22))
	}
	var fleet strings.Builder
	for _, h := range []string{"vm1", "vm2"} {
		fmt.Fprintf(&fleet, "hosts %q {\n  target = \"root@127.0.0.1:%d\"\n  config = \"%s.hcl\"\n  tags   = [\"vm\"]\n}\n", h, vms[h].ForwardedPort(22), h)
	}
	write(filepath.Join(fleetDir, "fleet.hcl"), fleet.String())
	push := func() {
		t.Helper()
		r := kilnRun(t, bin, fleetDir, awsEnv, "--store", storeDir, "cache", "push", "--key", filepath.Join(keys, "fleet-1.secret"), "--fleet", "fleet.hcl", url)
		if r.code != 0 {
			t.Fatalf("cache push --fleet: exit %d\n%s", r.code, r.stderr)
		}
		t.Logf("cache push --fleet: %s", strings.TrimSpace(r.stdout))
	}
	push()
	var wg sync.WaitGroup
	for _, m := range vms {
		wg.Add(1)
		go func() { defer wg.Done(); m.WaitForUnit("multi-user.target") }()
	}
	wg.Wait()
	for _, m := range vms {
		// The operator's provisioning: the cache's read credentials, in
		// root's AWS credentials file (never in the store).
		m.Succeed(fmt.Sprintf("mkdir -p /root/.aws && printf '[default]\\naws_access_key_id = %s\\naws_secret_access_key = %s\\n' > /root/.aws/credentials && chmod 600 /root/.aws/credentials", srv.AccessKey, srv.SecretKey))
	}
	deploy := func() ([]deployJSON, kilnResult) {
		t.Helper()
		r := kilnRun(t, bin, fleetDir, append([]string{"HOME=" + home, "SSH_AUTH_SOCK="}, awsEnv...), "--store", storeDir, "--json",
			"deploy", "-f", "fleet.hcl", "--on", "@vm", "--parallel", "2", "--substitute", "-i", keyFile, "--accept-new-host-key")
		var doc struct {
			Version int          `json:"version"`
			Hosts   []deployJSON `json:"hosts"`
		}
		err := json.Unmarshal([]byte(r.stdout), &doc)
		res := doc.Hosts
		if err != nil || doc.Version != 1 || len(res) != 2 {
			t.Fatalf("deploy: exit %d, %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
		}
		t.Logf("deploy: exit %d in %s\n%s\n%s", r.code, r.took, r.stdout, r.stderr)
		return res, r
	}

	res, r := deploy()
	if r.code != 0 {
		t.Fatalf("deploy --substitute: exit %d", r.code)
	}
	for _, h := range res {
		m := vms[h.Host]
		if h.Status != "switched" || h.Copied != 0 || h.Substituted == 0 {
			t.Errorf("%s: %+v; want switched with every missing path substituted", h.Host, h)
		}
		if got := strings.TrimSpace(m.Succeed("readlink /run/current-system")); got != h.Toplevel {
			t.Errorf("%s runs %s, want %s", h.Host, got, h.Toplevel)
		}
		// The confirmed switch: kiln confirm ran on the target and closed
		// the window (no pending switch, no armed rollback).
		if !strings.Contains(r.stderr, h.Host+"| confirmed "+h.Toplevel) {
			t.Errorf("%s: the deploy's output does not say the target confirmed %s", h.Host, h.Toplevel)
		}
		if _, code := m.Execute("test -e /kiln/var/lib/confirm-pending.json"); code == 0 {
			t.Errorf("%s: a switch is still pending confirmation after the deploy", h.Host)
		}
		if got := strings.TrimSpace(m.Succeed("hostname; cat /etc/kiln-test/fleet; hello")); got != "kilnfleet-"+h.Host+"\ngeneration 2\nHello, world!" {
			t.Errorf("%s after the deploy: %q", h.Host, got)
		}
		info := kilnRun(t, bin, fleetDir, nil, "--store", storeDir, "--json", "store", "info", h.Toplevel)
		var infos struct {
			Version int `json:"version"`
			Paths   []struct {
				ClosureNarBytes int64 `json:"closure_nar_bytes"`
			} `json:"paths"`
		}
		if err := json.Unmarshal([]byte(info.stdout), &infos); err != nil || infos.Version != 1 || len(infos.Paths) != 1 {
			t.Fatalf("store info: %v %s", err, info.stdout)
		}
		closure := infos.Paths[0].ClosureNarBytes
		t.Logf("%s: the deployer sent %d bytes over SSH for a closure of %d bytes (%.4f%%); the target substituted %d paths", h.Host, h.SentBytes, closure, 100*float64(h.SentBytes)/float64(closure), h.Substituted)
		if h.SentBytes == 0 || h.SentBytes*100 > closure {
			t.Errorf("%s: egress %d bytes, want a small fraction of the closure's %d", h.Host, h.SentBytes, closure)
		}
	}
	if t.Failed() {
		return
	}
	gen2 := map[string]string{}
	for _, h := range res {
		gen2[h.Host] = h.Toplevel
	}

	// Generation 3, pushed; vm1's toplevel NAR is then tampered with in
	// the bucket.
	for _, h := range []string{"vm1", "vm2"} {
		write(filepath.Join(fleetDir, h+".hcl"), fleetHost("kilnfleet-"+h, 3))
	}
	push()
	top3 := kiln(t, bin, fleetDir, "--store", storeDir, "build", "-o", "", "-c", "vm1.hcl")
	hash := strings.SplitN(filepath.Base(top3), "-", 2)[0]
	narinfo := srv.GetObject(t, "fleet", "prod/"+hash+".narinfo")
	nar := ""
	for _, line := range strings.Split(string(narinfo), "\n") {
		if v, ok := strings.CutPrefix(line, "URL: "); ok {
			nar = "prod/" + v
		}
	}
	b := srv.GetObject(t, "fleet", nar)
	b = bytes.Clone(b)
	b[len(b)/2] ^= 0xff
	srv.PutObject(t, "fleet", nar, b)

	res, r = deploy()
	if r.code == 0 {
		t.Error("deploy with a tampered NAR exited 0")
	}
	for _, h := range res {
		m := vms[h.Host]
		current := strings.TrimSpace(m.Succeed("readlink /run/current-system"))
		switch h.Host {
		case "vm1":
			if h.Status != "failed" || !strings.Contains(h.Error, "substitute on") || !strings.Contains(h.Error, top3) {
				t.Errorf("vm1 with a tampered NAR: %+v; want failed, the refusal naming %s", h, top3)
			}
			if current != gen2["vm1"] {
				t.Errorf("vm1 runs %s after the refused deploy, want still %s", current, gen2["vm1"])
			}
			if _, code := m.Execute("test -e " + top3); code == 0 {
				t.Errorf("vm1: the tampered %s is in the store", top3)
			}
			if got := strings.TrimSpace(m.Succeed("cat /etc/kiln-test/fleet")); got != "generation 2" {
				t.Errorf("vm1: /etc/kiln-test/fleet says %q", got)
			}
		case "vm2":
			if h.Status != "switched" || current != h.Toplevel {
				t.Errorf("vm2: %+v, running %s; want switched despite vm1", h, current)
			}
		}
	}

	// Generation 4, where vm2's configuration adds a failing health check:
	// vm1 is switched and confirmed; vm2's confirmation runs the check,
	// which fails, so vm2 rolls back to generation 3 at once and the
	// deployer exits non-zero naming the check.
	gen3 := map[string]string{}
	for _, h := range res {
		gen3[h.Host] = h.Toplevel
	}
	write(filepath.Join(fleetDir, "vm1.hcl"), fleetHost("kilnfleet-vm1", 4))
	write(filepath.Join(fleetDir, "vm2.hcl"), fleetHost("kilnfleet-vm2", 4)+"\nhealth_checks \"web\" {\n  command = \"echo web is down; exit 1\"\n  timeout = \"60s\"\n}\n")
	push()
	res, r = deploy()
	if r.code == 0 {
		t.Error("deploy with a failing health check exited 0")
	}
	for _, h := range res {
		m := vms[h.Host]
		current := strings.TrimSpace(m.Succeed("readlink /run/current-system"))
		switch h.Host {
		case "vm1":
			if h.Status != "switched" || current != h.Toplevel {
				t.Errorf("vm1: %+v, running %s; want switched despite vm2's check", h, current)
			}
		case "vm2":
			if h.Status != "failed" || !strings.Contains(h.Error, "kiln-check-web.service") || !strings.Contains(r.stderr, "web is down") {
				t.Errorf("vm2 with a failing check: %+v\n%s; want failed, naming kiln-check-web.service", h, r.stderr)
			}
			if current != gen3["vm2"] {
				t.Errorf("vm2 runs %s after its failed check, want rolled back to %s", current, gen3["vm2"])
			}
			if got := strings.TrimSpace(m.Succeed("cat /etc/kiln-test/fleet")); got != "generation 3" {
				t.Errorf("vm2 after the rollback: /etc/kiln-test/fleet says %q", got)
			}
		}
	}
}
