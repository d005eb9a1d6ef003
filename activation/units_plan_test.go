package activation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unitsToplevel writes a toplevel holding files into root and loads its
// units with LoadUnits. Keys are relative to etc/systemd/system, or to
// sw/lib/systemd/system with a "sw:" prefix, or "fstab", or absolute
// machine paths (packages' store paths); a value "->X" is a symlink.
func unitsToplevel(t *testing.T, root, name string, files map[string]string) (string, map[string]*UnitFile) {
	t.Helper()
	top := "/kiln/store/" + strings.Repeat("u", 32-len(name)) + name + "-system"
	etc := "/kiln/store/" + strings.Repeat("e", 32-len(name)) + name + "-etc"
	sw := "/kiln/store/" + strings.Repeat("s", 32-len(name)) + name + "-sw"
	out := map[string]string{top + "/etc": "->" + etc, top + "/sw": "->" + sw,
		etc + "/systemd/system/.keep": "", sw + "/lib/systemd/system/.keep": ""}
	for k, v := range files {
		switch {
		case k == "fstab":
			out[etc+"/fstab"] = v
		case strings.HasPrefix(k, "/"):
			out[k] = v // a machine path: another store path
		case strings.HasPrefix(k, "sw:"):
			out[sw+"/lib/systemd/system/"+strings.TrimPrefix(k, "sw:")] = v
		default:
			out[etc+"/systemd/system/"+k] = v
		}
	}
	writeFiles(t, root, out)
	units, err := LoadUnits(root, top)
	if err != nil {
		t.Fatal(err)
	}
	return top, units
}

const (
	svcA    = "[Unit]\nDescription=a\n\n[Service]\nExecStart=/bin/a\n\n[Install]\nWantedBy=multi-user.target\n"
	svcA2   = "[Unit]\nDescription=a\n\n[Service]\nExecStart=/bin/a --new\n\n[Install]\nWantedBy=multi-user.target\n"
	target  = "[Unit]\nDescription=t\n"
	target2 = "[Unit]\nDescription=t\nWants=a.service\n"
	sock    = "[Socket]\nListenStream=80\n"
	wantsA  = "->/etc/systemd/system/a.service"
)

func TestPlanUnits(t *testing.T) {
	tests := []struct {
		name     string
		old, new map[string]string
		observed map[string]string // unit → ActiveState
		want     string
	}{
		{
			name:     "removed running service is stopped",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{},
			observed: map[string]string{"a.service": "active"},
			want:     "stop     a.service (removed)\ndaemon-reload\n",
		},
		{
			// ssh.enable = false: Debian's ssh.service is still in the
			// closure, no longer linked from multi-user.target.
			name: "disabled package service is stopped",
			old: map[string]string{"sw:ssh.service": svcA, "multi-user.target.wants/ssh.service": "->/usr/lib/systemd/system/ssh.service",
				"sw:multi-user.target": "[Unit]\nDescription=m\n"},
			new:      map[string]string{"sw:ssh.service": svcA, "sw:multi-user.target": "[Unit]\nDescription=m\n"},
			observed: map[string]string{"ssh.service": "active", "multi-user.target": "active"},
			want:     "stop     ssh.service (no longer enabled: nothing wants it)\ndaemon-reload\n",
		},
		{
			name:     "removed inactive service is untouched",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{},
			observed: map[string]string{"a.service": "inactive"},
			want:     "daemon-reload\n",
		},
		{
			name:     "masked service is stopped",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "->/dev/null"},
			observed: map[string]string{"a.service": "active"},
			want:     "stop     a.service (masked)\ndaemon-reload\n",
		},
		{
			name:     "removed with X-StopOnRemoval=false is skipped",
			old:      map[string]string{"a.service": "[Unit]\nX-StopOnRemoval=false\n[Service]\nExecStart=/bin/a\n"},
			new:      map[string]string{},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nskip     a.service (removed, but X-StopOnRemoval=false)\n",
		},
		{
			name:     "changed service is stopped before activation and started after",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": svcA2},
			observed: map[string]string{"a.service": "active"},
			want:     "stop     a.service (changed, started again after activation)\ndaemon-reload\nstart    a.service (changed)\n",
		},
		{
			name:     "activating counts as running",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": svcA2},
			observed: map[string]string{"a.service": "activating"},
			want:     "stop     a.service (changed, started again after activation)\ndaemon-reload\nstart    a.service (changed)\n",
		},
		{
			name:     "X-StopIfChanged=false restarts",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "[Service]\nX-StopIfChanged=false\nExecStart=/bin/a\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nrestart  a.service (changed, X-StopIfChanged=false)\n",
		},
		{
			name:     "X-ReloadIfChanged=true in [Unit] (kiln's generator) reloads",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "[Unit]\nX-ReloadIfChanged=true\n[Service]\nExecStart=/bin/a\nExecReload=/bin/kill -HUP $MAINPID\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nreload   a.service (changed, reload_if_changed)\n",
		},
		{
			name:     "X-ReloadIfChanged=yes in [Service] (NixOS) reloads",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "[Service]\nX-ReloadIfChanged=yes\nExecStart=/bin/a\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nreload   a.service (changed, reload_if_changed)\n",
		},
		{
			name:     "X-RestartIfChanged=false is skipped with a message",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "[Unit]\nX-RestartIfChanged=false\n[Service]\nExecStart=/bin/a --new\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nskip     a.service (changed, but restart_if_changed = false: keeps running its old unit)\n",
		},
		{
			name:     "RefuseManualStop is skipped",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "[Unit]\nRefuseManualStop=yes\n[Service]\nExecStart=/bin/a --new\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nskip     a.service (changed, but RefuseManualStop=yes: keeps running its old unit)\n",
		},
		{
			name:     "socket-activated service restarts through its socket",
			old:      map[string]string{"a.service": svcA, "a.socket": sock},
			new:      map[string]string{"a.service": svcA2, "a.socket": sock},
			observed: map[string]string{"a.service": "active", "a.socket": "active"},
			want: "stop     a.socket (socket of changed a.service)\n" +
				"stop     a.service (changed, started again through a.socket)\ndaemon-reload\n" +
				"start    a.socket (restarts changed a.service through its socket)\n",
		},
		{
			name:     "Sockets= names the socket",
			old:      map[string]string{"a.service": svcA, "web.socket": sock},
			new:      map[string]string{"a.service": "[Service]\nSockets=web.socket\nExecStart=/bin/a --new\n", "web.socket": sock},
			observed: map[string]string{"a.service": "active", "web.socket": "active", "a.socket": "inactive"},
			want: "stop     web.socket (socket of changed a.service)\n" +
				"stop     a.service (changed, started again through web.socket)\ndaemon-reload\n" +
				"start    web.socket (restarts changed a.service through its socket)\n",
		},
		{
			name:     "socket removed: service is started directly",
			old:      map[string]string{"a.service": svcA, "a.socket": sock},
			new:      map[string]string{"a.service": svcA2},
			observed: map[string]string{"a.service": "active", "a.socket": "active"},
			want: "stop     a.socket (removed)\n" +
				"stop     a.service (changed, started again after activation)\ndaemon-reload\n" +
				"start    a.service (changed)\n",
		},
		{
			name:     "socket-activated with X-StopIfChanged=false restarts the service only",
			old:      map[string]string{"a.service": svcA, "a.socket": sock},
			new:      map[string]string{"a.service": "[Service]\nX-StopIfChanged=false\nExecStart=/bin/a\n", "a.socket": sock},
			observed: map[string]string{"a.service": "active", "a.socket": "active"},
			want:     "daemon-reload\nrestart  a.service (changed, X-StopIfChanged=false)\n",
		},
		{
			name:     "changed socket is restarted with its service stopped",
			old:      map[string]string{"a.service": svcA, "a.socket": sock},
			new:      map[string]string{"a.service": svcA, "a.socket": "[Socket]\nListenStream=8080\n"},
			observed: map[string]string{"a.service": "active", "a.socket": "active"},
			want: "stop     a.socket (changed socket)\n" +
				"stop     a.service (its socket a.socket changed; started again through it)\ndaemon-reload\n" +
				"start    a.socket (changed socket)\n",
		},
		{
			name:     "changed timer is restarted",
			old:      map[string]string{"b.timer": "[Timer]\nOnCalendar=daily\n"},
			new:      map[string]string{"b.timer": "[Timer]\nOnCalendar=hourly\n"},
			observed: map[string]string{"b.timer": "active"},
			want:     "daemon-reload\nrestart  b.timer (changed)\n",
		},
		{
			name:     "changed slice and path take effect on daemon-reload",
			old:      map[string]string{"b.slice": "[Slice]\nMemoryMax=1G\n", "b.path": "[Path]\nPathExists=/x\n"},
			new:      map[string]string{"b.slice": "[Slice]\nMemoryMax=2G\n", "b.path": "[Path]\nPathExists=/y\n"},
			observed: map[string]string{"b.slice": "active", "b.path": "active"},
			want:     "daemon-reload\n",
		},
		{
			name:     "new unit wanted by an active target is started",
			old:      map[string]string{"multi-user.target": target},
			new:      map[string]string{"multi-user.target": target, "a.service": svcA, "multi-user.target.wants/a.service": wantsA},
			observed: map[string]string{"multi-user.target": "active"},
			want:     "daemon-reload\nstart    a.service (new, wanted by multi-user.target)\n",
		},
		{
			name:     "new unit wanted by an inactive target is not started",
			old:      map[string]string{"rescue.target": target},
			new:      map[string]string{"rescue.target": target, "a.service": svcA, "rescue.target.wants/a.service": wantsA},
			observed: map[string]string{"rescue.target": "inactive"},
			want:     "daemon-reload\n",
		},
		{
			name:     "new unit not wanted by anything is not started",
			old:      map[string]string{},
			new:      map[string]string{"a.service": svcA},
			observed: map[string]string{"multi-user.target": "active"},
			want:     "daemon-reload\n",
		},
		{
			name:     "newly enabled unit is started",
			old:      map[string]string{"multi-user.target": target, "a.service": svcA},
			new:      map[string]string{"multi-user.target": target, "a.service": svcA, "multi-user.target.wants/a.service": wantsA},
			observed: map[string]string{"multi-user.target": "active", "a.service": "inactive"},
			want:     "daemon-reload\nstart    a.service (now wanted by multi-user.target)\n",
		},
		{
			name:     "wanted before and still inactive is untouched",
			old:      map[string]string{"multi-user.target": target, "a.service": svcA, "multi-user.target.wants/a.service": wantsA},
			new:      map[string]string{"multi-user.target": target, "a.service": svcA2, "multi-user.target.wants/a.service": wantsA},
			observed: map[string]string{"multi-user.target": "active", "a.service": "failed"},
			want:     "daemon-reload\n",
		},
		{
			name:     "changed target is started",
			old:      map[string]string{"app.target": target},
			new:      map[string]string{"app.target": target2},
			observed: map[string]string{"app.target": "active"},
			want:     "daemon-reload\nstart    app.target (changed target)\n",
		},
		{
			name:     "changed target with X-StopOnReconfiguration is stopped and started",
			old:      map[string]string{"app.target": target},
			new:      map[string]string{"app.target": target2 + "X-StopOnReconfiguration=true\n"},
			observed: map[string]string{"app.target": "active"},
			want:     "stop     app.target (changed target with X-StopOnReconfiguration=true)\ndaemon-reload\nstart    app.target (changed target)\n",
		},
		{
			name:     "changed target refusing manual start is skipped",
			old:      map[string]string{"app.target": target},
			new:      map[string]string{"app.target": target2 + "RefuseManualStart=yes\n"},
			observed: map[string]string{"app.target": "active"},
			want:     "daemon-reload\nskip     app.target (changed target, but it refuses manual start)\n",
		},
		{
			name:     "unchanged active target is not started",
			old:      map[string]string{"app.target": target},
			new:      map[string]string{"app.target": target},
			observed: map[string]string{"app.target": "active"},
			want:     "units: no changes\n",
		},
		{
			name:     "new unit wanted by a started target is started",
			old:      map[string]string{"app.target": target},
			new:      map[string]string{"app.target": target2, "a.service": svcA, "app.target.wants/a.service": wantsA},
			observed: map[string]string{"app.target": "active"},
			want:     "daemon-reload\nstart    a.service (new, wanted by app.target)\nstart    app.target (changed target)\n",
		},
		{
			name:     "changed mount options remount",
			old:      map[string]string{"data.mount": "[Mount]\nWhat=/dev/vdb\nWhere=/data\nOptions=ro\n"},
			new:      map[string]string{"data.mount": "[Mount]\nWhat=/dev/vdb\nWhere=/data\nOptions=rw\n"},
			observed: map[string]string{"data.mount": "active"},
			want:     "daemon-reload\nreload   data.mount (mount options changed: remount)\n",
		},
		{
			name:     "changed mount device restarts",
			old:      map[string]string{"data.mount": "[Mount]\nWhat=/dev/vdb\nWhere=/data\n"},
			new:      map[string]string{"data.mount": "[Mount]\nWhat=/dev/vdc\nWhere=/data\n"},
			observed: map[string]string{"data.mount": "active"},
			want:     "daemon-reload\nrestart  data.mount (changed mount)\n",
		},
		{
			name: "fstab: / is remounted, never restarted; other mounts restart or remount",
			old: map[string]string{"fstab": "LABEL=kiln-root / ext4 rw 0 1\n/dev/vdb /data ext4 defaults 0 2\n" +
				"/dev/vdc /srv ext4 defaults 0 2\n/dev/vdd /old ext4 defaults 0 2\n"},
			new: map[string]string{"fstab": "/dev/vda2 / ext4 rw,noatime 0 1\n/dev/vdb /data ext4 noatime 0 2\n" +
				"/dev/vde /srv ext4 defaults 0 2\n/dev/vdf /new\\040disk ext4 defaults 0 2\n"},
			observed: map[string]string{"-.mount": "active", "data.mount": "active", "srv.mount": "active",
				"old.mount": "active", "local-fs.target": "active"},
			want: "stop     old.mount (removed)\ndaemon-reload\n" +
				"reload   -.mount (changed, remounted: / and the store are never unmounted)\n" +
				"reload   data.mount (mount options changed: remount)\n" +
				"restart  srv.mount (changed mount)\n" +
				"start    new\\x20disk.mount (new, wanted by local-fs.target)\n",
		},
		{
			name:     "enabling an ephemeral root: / and its persist volume wait for the next boot",
			old:      map[string]string{"fstab": "/dev/vda2 / ext4 rw 0 1\n"},
			new:      map[string]string{"fstab": "tmpfs / tmpfs mode=0755 0 0\n/dev/vda2 /persist ext4 rw 0 0\n"},
			observed: map[string]string{"-.mount": "active", "local-fs.target": "active"},
			want: "daemon-reload\n" +
				"skip     -.mount (changed, but / and the store are never unmounted: the new file system type applies at the next boot)\n" +
				"skip     persist.mount (new, but it mounts the device the running / is on: stage 1 mounts it at the next boot)\n",
		},
		{
			name: "a changed unit ssh.service requires: ssh.service, stopped with it, starts again",
			old: map[string]string{"keygen.service": "[Service]\nExecStart=/bin/true\n[Install]\nRequiredBy=ssh.service\n",
				"ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n"},
			new: map[string]string{"keygen.service": "[Service]\nExecStart=/bin/false\n[Install]\nRequiredBy=ssh.service\n",
				"ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\n"},
			observed: map[string]string{"keygen.service": "active", "ssh.service": "active"},
			want: "stop     keygen.service (changed, started again after activation)\ndaemon-reload\n" +
				"start    keygen.service (changed)\nstart    ssh.service (stopped with keygen.service, which it requires)\n",
		},
		{
			name:     "/ is never unmounted",
			old:      map[string]string{"fstab": "LABEL=kiln-root / ext4 rw 0 1\n"},
			new:      map[string]string{"fstab": "# nothing\n"},
			observed: map[string]string{"-.mount": "active"},
			want:     "daemon-reload\nskip     -.mount (removed, but / and the store are never unmounted)\n",
		},
		{
			name:     "changed inactive and failed services are untouched",
			old:      map[string]string{"a.service": svcA, "b.service": svcA},
			new:      map[string]string{"a.service": svcA2, "b.service": svcA2},
			observed: map[string]string{"a.service": "inactive", "b.service": "failed"},
			want:     "daemon-reload\n",
		},
		{
			name:     "[Install]-only change is ignored",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": strings.Replace(svcA, "multi-user.target", "graphical.target", 1)},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\n",
		},
		{
			name:     "cosmetic [Unit] keys are ignored",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": strings.Replace(svcA, "Description=a", "Description=the a service\nDocumentation=man:a(8)", 1)},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\n",
		},
		{
			name:     "comments and layout are no change at all",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": "# Generated.\n" + strings.ReplaceAll(svcA, "\n\n", "\n\n\n")},
			observed: map[string]string{"a.service": "active"},
			want:     "units: no changes\n",
		},
		{
			name:     "added drop-in counts",
			old:      map[string]string{"a.service": svcA},
			new:      map[string]string{"a.service": svcA, "a.service.d/env.conf": "[Service]\nEnvironment=X=1\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "stop     a.service (changed, started again after activation)\ndaemon-reload\nstart    a.service (changed)\n",
		},
		{
			name:     "changed drop-in of a package unit counts",
			old:      map[string]string{"sw:a.service": svcA, "sw:a.service.d/x.conf": "[Service]\nNice=1\n"},
			new:      map[string]string{"sw:a.service": svcA, "sw:a.service.d/x.conf": "[Service]\nNice=1\n", "a.service.d/x.conf": "[Service]\nNice=2\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "stop     a.service (changed, started again after activation)\ndaemon-reload\nstart    a.service (changed)\n",
		},
		{
			name:     "setting moved into a drop-in is no change",
			old:      map[string]string{"a.service": svcA + "[Service]\nNice=1\n"},
			new:      map[string]string{"a.service": svcA, "a.service.d/x.conf": "[Service]\nNice=1\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "units: no changes\n", // systemd's view is the same
		},
		{
			name:     "etc unit hides the package's",
			old:      map[string]string{"a.service": svcA, "sw:a.service": svcA},
			new:      map[string]string{"a.service": svcA, "sw:a.service": svcA2},
			observed: map[string]string{"a.service": "active"},
			want:     "units: no changes\n",
		},
		{
			name:     "X-Reload-Triggers only: reload",
			old:      map[string]string{"a.service": "[Unit]\nX-Reload-Triggers=1\n[Service]\nExecStart=/bin/a\n"},
			new:      map[string]string{"a.service": "[Unit]\nX-Reload-Triggers=2\n[Service]\nExecStart=/bin/a\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "daemon-reload\nreload   a.service (X-Reload-Triggers changed)\n",
		},
		{
			// The generator's drop-in for a package unit that reads a file
			// in /etc (sshd_config): the file changed, the unit did not.
			name: "a file in /etc a package unit reads changed: reload naming it",
			old: map[string]string{"sw:ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\nExecReload=/bin/kill -HUP $MAINPID\n",
				"ssh.service.d/kiln-triggers.conf": "[Unit]\nX-Reload-Triggers=ssh/sshd_config=aaaa\nX-Reload-Triggers=ssh/sshd_config.d/=none\n"},
			new: map[string]string{"sw:ssh.service": "[Service]\nExecStart=/usr/sbin/sshd -D\nExecReload=/bin/kill -HUP $MAINPID\n",
				"ssh.service.d/kiln-triggers.conf": "[Unit]\nX-Reload-Triggers=ssh/sshd_config=bbbb\nX-Reload-Triggers=ssh/sshd_config.d/=none\n"},
			observed: map[string]string{"ssh.service": "active"},
			want:     "daemon-reload\nreload   ssh.service (X-Reload-Triggers changed: ssh/sshd_config)\n",
		},
		{
			name:     "X-Restart-Triggers changed: restart",
			old:      map[string]string{"a.service": "[Unit]\nX-Restart-Triggers=x=1\n[Service]\nExecStart=/bin/a\n"},
			new:      map[string]string{"a.service": "[Unit]\nX-Restart-Triggers=x=2\n[Service]\nExecStart=/bin/a\n"},
			observed: map[string]string{"a.service": "active"},
			want:     "stop     a.service (changed, started again after activation)\ndaemon-reload\nstart    a.service (changed)\n",
		},
		{
			name: "template change reaches running instances",
			old: map[string]string{"sw:getty@.service": "[Service]\nExecStart=/sbin/agetty %I\n",
				"getty.target.wants/getty@tty1.service": "->/usr/lib/systemd/system/getty@.service"},
			new: map[string]string{"sw:getty@.service": "[Service]\nExecStart=/sbin/agetty -a root %I\n",
				"getty.target.wants/getty@tty1.service": "->/usr/lib/systemd/system/getty@.service"},
			observed: map[string]string{"getty@tty1.service": "active", "getty.target": "active"},
			want:     "stop     getty@tty1.service (changed, started again after activation)\ndaemon-reload\nstart    getty@tty1.service (changed)\n",
		},
		{
			// postgresql@15-main.service is started by postgresql.service
			// through a generator, so no enablement link names it: only
			// its drop-in directory does (the PostgreSQL module's port).
			name:     "an instance's own drop-in restarts it",
			old:      map[string]string{"sw:pg@.service": "[Service]\nExecStart=/bin/pg %i\n"},
			new:      map[string]string{"sw:pg@.service": "[Service]\nExecStart=/bin/pg %i\n", "pg@main.service.d/kiln.conf": "[Service]\nEnvironment=PORT=5433\n"},
			observed: map[string]string{"pg@main.service": "active"},
			want:     "stop     pg@main.service (changed, started again after activation)\ndaemon-reload\nstart    pg@main.service (changed)\n",
		},
		{
			name:     "an instance's drop-in changed",
			old:      map[string]string{"sw:pg@.service": "[Service]\nExecStart=/bin/pg %i\n", "pg@main.service.d/kiln.conf": "[Service]\nEnvironment=PORT=5433\n"},
			new:      map[string]string{"sw:pg@.service": "[Service]\nExecStart=/bin/pg %i\n", "pg@main.service.d/kiln.conf": "[Service]\nEnvironment=PORT=5434\n"},
			observed: map[string]string{"pg@main.service": "active", "pg@other.service": "active"},
			want:     "stop     pg@main.service (changed, started again after activation)\ndaemon-reload\nstart    pg@main.service (changed)\n",
		},
		{
			name:     "package upgrade restarts its unit, same text or not",
			old:      pkgUnits("1", map[string]string{"ssh.service": svcA, "dbus.service": svcA, "dbus.socket": sock, "cron.service": svcA}),
			new:      pkgUnits("2", map[string]string{"ssh.service": svcA, "dbus.service": svcA, "dbus.socket": sock}),
			observed: map[string]string{"ssh.service": "active", "dbus.service": "active", "dbus.socket": "active", "cron.service": "active"},
			want: "stop     cron.service (removed)\n" +
				"stop     ssh.service (package changed: pkg-1 -> pkg-2, started again after activation)\ndaemon-reload\n" +
				"reload   dbus.service (package changed: pkg-1 -> pkg-2; the system bus is reloaded, never restarted)\n" +
				"start    ssh.service (package changed: pkg-1 -> pkg-2)\n" +
				"skip     dbus.socket (package changed: pkg-1 -> pkg-2, but the system bus is never restarted)\n",
		},
		{
			name:     "same package: no change",
			old:      pkgUnits("1", map[string]string{"ssh.service": svcA}),
			new:      pkgUnits("1", map[string]string{"ssh.service": svcA}),
			observed: map[string]string{"ssh.service": "active"},
			want:     "units: no changes\n",
		},
		{
			name:     "units the old generation did not provide are left alone",
			old:      map[string]string{},
			new:      map[string]string{},
			observed: map[string]string{"run-u1.service": "active", "session-1.scope": "active"},
			want:     "units: no changes\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, old := unitsToplevel(t, root, "a", tc.old)
			_, new := unitsToplevel(t, root, "b", tc.new)
			observed := map[string]UnitState{}
			for n, s := range tc.observed {
				observed[n] = UnitState{Active: s}
			}
			got := PlanUnits(old, new, observed).String()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("plan differs (-want +got):\n%s", diff)
			}
		})
	}
}

// pkgUnits puts units into a package store path "pkg-V" that the sw forest
// links to, as kiln's sw does.
func pkgUnits(v string, units map[string]string) map[string]string {
	pkg := "/kiln/store/" + strings.Repeat(v, 32) + "-pkg-" + v
	out := map[string]string{}
	for n, text := range units {
		out[pkg+"/lib/systemd/system/"+n] = text
		out["sw:"+n] = "->" + pkg + "/lib/systemd/system/" + n
	}
	return out
}
