package system

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

func TestSysusers(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"systemd": {"usr/lib/sysusers.d/basic.conf=" + `# comment
g adm 4 -
g nogroup 65534 -
g games 60 -
g users 100 -
u root 0 - /root /bin/bash
u nobody 65534:65534 - /nonexistent /usr/sbin/nologin
u games 5:60 - /usr/games
u systemd-network - "systemd Network Management"
m root adm
`},
		// udev's postinst makes its groups.
		"udev": {"usr/bin/udevadm", ".kiln/control/control=Package: udev\nVersion: 1\n",
			".kiln/control/postinst=#!/bin/sh\nset -e\nfor g in input sgx kvm render; do addgroup --quiet --system $g; done\n"},
	})
	sys := &modules.System{
		Users:  map[string]modules.User{"alice": {Groups: []string{"adm"}}, "svc": {System: true}},
		Groups: map[string]modules.Group{"extra": {}},
	}
	d, err := analyzeScripts(sys, pk)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := planAccounts(sys, pk, d)
	if err != nil {
		t.Fatal(err)
	}
	users, groups := acc.spec()
	var got []string
	for _, u := range users {
		id := "-"
		if u.UID != nil {
			id = strconv.Itoa(*u.UID)
		}
		got = append(got, strings.Join([]string{"u", u.Name, id, u.Group, strings.Join(u.Groups, ","), u.Home, u.Shell, u.Description, boolStr(u.System), boolStr(u.CreateHome)}, " "))
	}
	for _, g := range groups {
		id := "-"
		if g.GID != nil {
			id = strconv.Itoa(*g.GID)
		}
		got = append(got, strings.Join([]string{"g", g.Name, id, strings.Join(g.Members, ",")}, " "))
	}
	want := []string{
		"u alice - users adm /home/alice /bin/bash  false true",
		"u games 5 games  /usr/games /usr/sbin/nologin  true false",
		"u nobody 65534 nogroup  /nonexistent /usr/sbin/nologin  true false",
		"u root 0 root  /root /bin/bash  true false",
		"u svc - svc  / /usr/sbin/nologin  true false",
		"u systemd-network - systemd-network  / /usr/sbin/nologin systemd Network Management true false",
		"g adm 4 root",
		"g extra - ",
		"g games 60 ",
		"g input - ", "g kvm - ", // udev's postinst groups
		"g nogroup 65534 ",
		"g render - ",
		"g root 0 ",
		"g sgx - ",
		"g svc - ",
		"g systemd-network - ",
		"g users 100 ",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("accounts (-want +got):\n%s", d)
	}
	bad := &modules.System{Users: map[string]modules.User{"bob": {Groups: []string{"nosuch"}}}}
	if err := acc.applyConfig(bad); err == nil || !strings.Contains(err.Error(), `user "bob": group "nosuch" is not declared`) {
		t.Errorf("undeclared group: got %v", err)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// pamTemplate is libpam-runtime's common-auth, its comments cut; the
// placeholders between the block comments are dropped, whatever their
// name (common-session-noninteractive's is "$session_nonint_primary").
const pamTemplate = `# head
# here are the per-package modules (the "Primary" block)
$auth_primary
# here's the fallback if no module succeeds
auth	requisite			pam_deny.so
auth	required			pam_permit.so
# and here are more per-package modules (the "Additional" block)
$auth_additional
# end of pam-auth-update config
`

// pamTemplateFor is pamTemplate for another type: its placeholders
// named for placeholder, its lines for typ.
func pamTemplateFor(placeholder, typ string) string {
	return strings.NewReplacer("$auth_", "$"+placeholder+"_", "auth\t", typ+"\t").Replace(pamTemplate)
}

func TestPamAuthUpdate(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"libpam-runtime": {
			"usr/share/pam/common-auth=" + pamTemplate,
			"usr/share/pam/common-session=" + pamTemplateFor("session", "session"),
			"usr/share/pam/common-session-noninteractive=" + pamTemplateFor("session_nonint", "session"),
			"usr/share/pam-configs/unix=Name: Unix\nDefault: yes\nPriority: 256\nAuth-Type: Primary\nAuth:\n\t[success=end default=ignore]\tpam_unix.so nullok try_first_pass\nAuth-Initial:\n\t[success=end default=ignore]\tpam_unix.so nullok\nSession-Type: Additional\nSession:\n\trequired\tpam_unix.so\n",
		},
		"libpam-extra": {
			"usr/share/pam-configs/extra=Name: Extra\nDefault: yes\nPriority: 128\nAuth-Type: Primary\nAuth:\n\t[success=end default=ignore]\tpam_extra.so\n",
			"usr/share/pam-configs/off=Name: Off\nDefault: no\nPriority: 999\nAuth-Type: Primary\nAuth:\n\trequired\tpam_off.so\n",
		},
		"libpam-systemd": {
			"usr/share/pam-configs/systemd=Name: systemd\nDefault: yes\nPriority: 0\nSession-Interactive-Only: yes\nSession-Type: Additional\nSession:\n\toptional\tpam_systemd.so\n",
		},
	})
	ents, err := pamAuthUpdate(pk)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range ents {
		got[e.Path] = string(e.Data)
	}
	// filled is the template with its blocks; the placeholders are gone.
	filled := func(typ, prim, add string) string {
		return "# head\n" + pamPrimaryMark + "\n" + prim + pamFallbackMark + "\n" +
			typ + "\trequisite\t\t\tpam_deny.so\n" + typ + "\trequired\t\t\tpam_permit.so\n" +
			pamAdditionalMark + "\n" + add + pamEndMark + "\n"
	}
	want := map[string]string{
		"pam.d/common-auth": filled("auth",
			"auth\t[success=2 default=ignore]\tpam_unix.so nullok\n"+
				"auth\t[success=1 default=ignore]\tpam_extra.so\n", ""),
		"pam.d/common-session": filled("session", "session\t[default=1]\t\t\tpam_permit.so\n",
			"session\trequired\tpam_unix.so\nsession\toptional\tpam_systemd.so\n"),
		"pam.d/common-session-noninteractive": filled("session", "session\t[default=1]\t\t\tpam_permit.so\n",
			"session\trequired\tpam_unix.so\n"),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("common-* (-want +got):\n%s", d)
	}
}

func TestLayerEtc(t *testing.T) {
	tests := []struct {
		name    string
		layers  [][]EtcEntry
		want    []string
		wantErr string
	}{
		{
			name: "later wins",
			layers: [][]EtcEntry{
				{{Path: "a", Target: "/kiln/store/x/etc/a"}, {Path: "b/c", Data: []byte("1")}},
				{{Path: "a", Data: []byte("2")}},
			},
			want: []string{"a link data=2", "b/c link data=1"},
		},
		{
			name:    "file where a directory is needed",
			layers:  [][]EtcEntry{{{Path: "ssh", Data: []byte("x")}}, {{Path: "ssh/sshd_config", Data: []byte("y")}}},
			wantErr: `etc "ssh" is a file, but "ssh/sshd_config" needs it to be a directory`,
		},
		{
			name:    "file where a directory is needed, past a sibling",
			layers:  [][]EtcEntry{{{Path: "a", Data: []byte("x")}, {Path: "a-b/x", Data: []byte("y")}, {Path: "a/b", Data: []byte("z")}}},
			wantErr: `etc "a" is a file, but "a/b" needs it to be a directory`,
		},
		{
			name:   "siblings are fine",
			layers: [][]EtcEntry{{{Path: "ssh", Data: []byte("x")}, {Path: "ssh-x/y", Data: []byte("y")}}},
			want:   []string{"ssh link data=x", "ssh-x/y link data=y"},
		},
		{name: "unclean path", layers: [][]EtcEntry{{{Path: "a/../b", Data: []byte{}}}}, wantErr: "clean relative path"},
		{name: "static", layers: [][]EtcEntry{{{Path: "static/x", Data: []byte{}}}}, wantErr: "outside static/"},
		{name: "two contents", layers: [][]EtcEntry{{{Path: "x", Data: []byte{}, Target: "/y"}}}, wantErr: "exactly one of"},
		{name: "symlink without target", layers: [][]EtcEntry{{{Path: "x", Kind: toplevel.EtcSymlink, Data: []byte{}}}}, wantErr: "symlink without target"},
		{name: "bad kind", layers: [][]EtcEntry{{{Path: "x", Kind: "hard", Data: []byte{}}}}, wantErr: `unknown kind "hard"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := layerEtc(tc.layers...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, e := range got {
				lines = append(lines, e.Path+" "+string(e.Kind)+" data="+string(e.Data))
			}
			if d := cmp.Diff(tc.want, lines); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestModuleLoadOrder(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{"k": {
		"modules.dep=kernel/virtio_ring.ko:\nkernel/virtio.ko: kernel/virtio_ring.ko\n" +
			"kernel/virtio_pci.ko: kernel/virtio_pci_modern.ko kernel/virtio.ko kernel/virtio_ring.ko\n" +
			"kernel/virtio_pci_modern.ko: kernel/virtio.ko kernel/virtio_ring.ko\n" +
			"kernel/virtio-blk.ko: kernel/virtio.ko kernel/virtio_ring.ko\n",
		"modules.builtin=kernel/fs/ext4/ext4.ko\n",
	}})
	d, _ := pk.Dir("k")
	ix, err := readModuleIndex(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ix.loadOrder([]string{"virtio_blk", "ext4", "virtio-pci"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/virtio_ring.ko", "kernel/virtio.ko", "kernel/virtio-blk.ko", "kernel/virtio_pci_modern.ko", "kernel/virtio_pci.ko"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("load order (-want +got):\n%s", d)
	}
	if _, err := ix.loadOrder([]string{"nosuch"}); err == nil || !strings.Contains(err.Error(), `initrd module "nosuch": neither in modules.dep nor built into the kernel`) {
		t.Errorf("unknown module: got %v", err)
	}
}

func TestPackageEtc(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"a": {"etc/a.conf=1", "etc/sysctl.d/99-sysctl.conf->../sysctl.conf", "etc/os-release->../usr/lib/os-release", "etc/abs->/run/x"},
		"b": {"etc/a.conf=1", "etc/sysctl.conf=x"},
	})
	got, err := packageEtc(pk)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Path+" -> "+strings.Replace(e.Target, pk.paths["a"].String(), "A", 1))
	}
	want := []string{
		"a.conf -> A/etc/a.conf", // same content in b: kept once
		"abs -> /run/x",
		"os-release -> /usr/lib/os-release",         // leaves /etc: absolute, resolved at run time
		"sysctl.d/99-sysctl.conf -> ../sysctl.conf", // inside /etc: stays relative
		"sysctl.conf -> " + pk.paths["b"].String() + "/etc/sysctl.conf",
	}
	if d := cmp.Diff(want, lines); d != "" {
		t.Errorf("package etc (-want +got):\n%s", d)
	}
	conflict := newTreePackages(t, map[string][]string{"a": {"etc/x=1"}, "b": {"etc/x=2"}})
	if _, err := packageEtc(conflict); err == nil || !strings.Contains(err.Error(), "/etc/x: packages a and b ship different files") {
		t.Errorf("conflict: got %v", err)
	}
}

func TestVarTmpfiles(t *testing.T) {
	pk := newTreePackages(t, map[string][]string{
		"a": {"var/lib/a/state=s", "var/tmp/", "var/mail/", "var/run->/run", "etc/ssl/private/", "etc/a.conf=x"},
	})
	b, err := varTmpfiles(pk)
	if err != nil {
		t.Fatal(err)
	}
	a := pk.paths["a"].String()
	want := "# Generated by kiln from the packages' /var contents and empty /etc directories.\n" +
		"d /etc/ssl/private 0755 root root -\n" +
		"d /var 0755 root root -\n" +
		"d /var/lib 0755 root root -\n" +
		"d /var/lib/a 0755 root root -\n" +
		"C /var/lib/a/state - - - - " + a + "/var/lib/a/state\n" +
		"d /var/mail 2775 root mail -\n" +
		"L /var/run - - - - /run\n" +
		"d /var/tmp 1777 root root -\n"
	if d := cmp.Diff(want, string(b)); d != "" {
		t.Errorf("tmpfiles (-want +got):\n%s", d)
	}
}

// TestPamAuthUpdateBookworm fills bookworm's own templates from its
// profiles: every line written is a comment or a PAM rule (type, control,
// module); none is a template placeholder, which PAM rejects, failing
// the whole stack.
func TestPamAuthUpdateBookworm(t *testing.T) {
	pk := realPackages(t, "libpam-runtime", "libpam-systemd")
	ents, err := pamAuthUpdate(pk)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 5 {
		t.Fatalf("got %d common-* files, want 5", len(ents))
	}
	rule := regexp.MustCompile(`^(auth|account|password|session)\s+(\[[^]]+\]|required|requisite|sufficient|optional)\s+pam_[a-z_]+\.so(\s|$)`)
	for _, e := range ents {
		rules := 0
		for i, l := range strings.Split(string(e.Data), "\n") {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if !rule.MatchString(l) {
				t.Errorf("%s line %d: not a PAM rule: %q", e.Path, i+1, l)
			}
			rules++
		}
		if !strings.Contains(string(e.Data), "pam_unix.so") {
			t.Errorf("%s: no pam_unix.so:\n%s", e.Path, e.Data)
		}
		if rules < 3 {
			t.Errorf("%s: %d rules:\n%s", e.Path, rules, e.Data)
		}
	}
}
