package system

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kiln-os/kiln/internal/testenv"
	"github.com/kiln-os/kiln/modules"
)

// TestJavaCertsScript runs kiln-java-cacerts.service's program with the
// machine's JRE and bookworm's ca-certificates-java jar over the
// machine's /etc/ssl/certs, in a mount namespace where
// /etc/ssl/certs/java is a fresh tmpfs, and lists the keystore it wrote
// with keytool: one trusted entry per CA link.
func TestJavaCertsScript(t *testing.T) {
	testenv.NeedRoot(t, "a mount namespace over /etc/ssl/certs/java")
	testenv.NeedTools(t, "java", "keytool", "unshare", "openssl")
	pk := realPackages(t, "ca-certificates-java")
	jar := filepath.Join(pk.root, "ca-certificates-java", caCertsJavaJar)
	if _, err := os.Stat("/etc/ssl/certs/java"); err != nil {
		testenv.SkipOrFail(t, "no /etc/ssl/certs/java on this machine: %v", err)
	}
	links, _ := filepath.Glob("/etc/ssl/certs/*.pem")
	want := 0
	for _, l := range links {
		if tg, err := os.Readlink(l); err == nil && (strings.HasPrefix(tg, "/usr/share/ca-certificates/") || strings.HasPrefix(tg, "/usr/local/share/ca-certificates/")) {
			want++
		}
	}
	if want < 100 {
		testenv.SkipOrFail(t, "this machine's /etc/ssl/certs has %d CA links", want)
	}
	java, _ := exec.LookPath("java")
	script := strings.NewReplacer("JAVA", java, "JAR", jar).Replace(javaCertsScript)
	cmd := exec.Command("unshare", "-m", "sh", "-c",
		`mount --make-rprivate / && mount -t tmpfs tmpfs /etc/ssl/certs/java && sh -ec "$1" >/dev/null && keytool -list -cacerts -storepass changeit | grep -c trustedCertEntry`, "sh", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || got != want {
		t.Errorf("the keystore holds %q trusted entries, want %d (one per CA link)", out, want)
	}
}

// TestJavaCertsUnit: the unit comes with ca-certificates-java, a JRE and
// the CA links, runs that JRE, and changes with /etc/ssl/certs.
func TestJavaCertsUnit(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"ca-certificates-java":    {caCertsJavaJar + "=jar"},
		"openjdk-17-jre-headless": {"usr/lib/jvm/java-17-openjdk-amd64/bin/java=#!/bin/sh\n"},
	})
	sys := &modules.System{}
	unit := func(etc []EtcEntry) string {
		t.Helper()
		p := &BuildPlan{sys: sys, pk: pk}
		byPath := map[string]EtcEntry{}
		for _, e := range etc {
			byPath[e.Path] = e
		}
		out, err := p.javaCerts(byPath)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range out {
			if e.Path == etcUnitPath+"/"+javaCertsUnit {
				return string(e.Data)
			}
		}
		return ""
	}
	certs := []EtcEntry{{Path: "ssl/certs/ca-certificates.crt", Data: []byte("a")}, {Path: "ssl/certs/A.pem", Target: "/usr/share/ca-certificates/mozilla/A.crt", Kind: "symlink"}}
	a := unit(certs)
	if !strings.Contains(a, "/usr/lib/jvm/java-17-openjdk-amd64/bin/java -Xmx64m -jar /"+caCertsJavaJar) || !strings.Contains(a, "X-Restart-Triggers=ssl/certs/=") {
		t.Errorf("unit:\n%s", a)
	}
	more := append(certs, EtcEntry{Path: "ssl/certs/B.pem", Target: "/usr/share/ca-certificates/mozilla/B.crt", Kind: "symlink"})
	if b := unit(more); b == a {
		t.Error("another certificate leaves the unit as it was")
	}
	if c := unit(nil); c != "" {
		t.Errorf("no CA links, still a unit:\n%s", c)
	}
}
