package system

import (
	"fmt"
	"path/filepath"
	"strings"
)

// javaCertsUnit makes Java's trust store on the machine: what
// ca-certificates-java's postinst and its trigger (run when the JRE is
// configured) do on Debian, feeding every CA link of /etc/ssl/certs to
// its jar, which writes /etc/ssl/certs/java/cacerts. The store is made
// by the JRE itself, so on the machine, at boot and again by a switch
// that changes /etc/ssl/certs (the unit's X-Restart-Triggers names its
// hash). It starts over each time, so a certificate the configuration
// drops leaves the store too.
const javaCertsUnit = "kiln-java-cacerts.service"

const caCertsJavaJar = "usr/share/ca-certificates-java/ca-certificates-java.jar"

// javaCertsScript is the unit's program (JAVA and JAR replaced), as the
// postinst's update_cacerts on a fresh store: /etc/default/cacerts may
// set storepass and turn updates off; the jar reads "+PEM" per link into
// the CA directories.
const javaCertsScript = `storepass=changeit; cacerts_updates=yes; ` +
	`if [ -f /etc/default/cacerts ]; then . /etc/default/cacerts; fi; ` +
	`[ "$cacerts_updates" = yes ] || exit 0; ` +
	`rm -f /etc/ssl/certs/java/cacerts; mkdir -p /etc/ssl/certs/java; ` +
	`for pem in /etc/ssl/certs/*.pem; do case $(readlink "$pem") in /usr/share/ca-certificates/*|/usr/local/share/ca-certificates/*) echo "+$pem";; esac; done | ` +
	`LC_CTYPE=C.UTF-8 JAVA -Xmx64m -jar JAR -storepass "$storepass"`

// javaCerts is kiln-java-cacerts.service (and its enable link) when the
// closure has ca-certificates-java, a JRE and the CA links, unless
// units."kiln-java-cacerts.service" turns it off or replaces it; etc is
// the generation's /etc by path.
func (p *BuildPlan) javaCerts(etc map[string]EtcEntry) ([]EtcEntry, error) {
	if _, _, ok := find(p.pk, caCertsJavaJar); !ok {
		return nil, nil
	}
	if c, ok := p.sys.Units[javaCertsUnit]; ok && (c.Text != nil || c.Enable != nil && !*c.Enable) {
		return nil, nil
	}
	java := ""
	for _, d := range dirsHaving(p.pk, "usr/lib/jvm") {
		if m, _ := filepath.Glob(filepath.Join(d, "usr/lib/jvm/*/bin/java")); len(m) > 0 {
			rel, _ := filepath.Rel(d, m[0])
			java = "/" + filepath.ToSlash(rel)
			break
		}
	}
	if _, ok := etc["ssl/certs/ca-certificates.crt"]; !ok || java == "" {
		return nil, nil
	}
	h, err := etcHash("ssl/certs/", etc)
	if err != nil {
		return nil, err
	}
	script := strings.NewReplacer("JAVA", java, "JAR", "/"+caCertsJavaJar).Replace(javaCertsScript)
	var b strings.Builder
	b.WriteString("# ca-certificates-java postinst (triggered by the JRE): update_cacerts\n")
	b.WriteString("[Unit]\nDescription=kiln: Java's trust store from /etc/ssl/certs (ca-certificates-java)\n")
	b.WriteString("After=local-fs.target systemd-tmpfiles-setup.service\n")
	fmt.Fprintf(&b, "X-Restart-Triggers=ssl/certs/=%s\n", h)
	fmt.Fprintf(&b, "\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh -ec %s\n", quoteEnv(strings.ReplaceAll(script, "$", "$$")))
	b.WriteString("\n[Install]\nWantedBy=multi-user.target\n")
	return enabledUnit(javaCertsUnit, b.String()), nil
}
