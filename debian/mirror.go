package debian

import (
	"bufio"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrNoMirror reports that no Debian mirror was configured anywhere.
var ErrNoMirror = errors.New("no Debian mirror configured")

// Mirror maps each suite to the archive root that serves it. The main
// archive and the security archive usually live at different roots.
type Mirror struct {
	// Default serves every suite not listed in Suites.
	Default string
	// Suites maps a suite name (bookworm-security) to its archive root.
	Suites map[string]string
}

// Root returns the archive root URL serving suite, without a trailing slash.
func (m *Mirror) Root(suite string) string {
	if r, ok := m.Suites[suite]; ok {
		return r
	}
	return m.Default
}

// String describes the mirror for messages: "URL" or "URL (suite=URL, ...)".
func (m *Mirror) String() string {
	var b strings.Builder
	b.WriteString(m.Default)
	var keys []string
	for k := range m.Suites {
		if m.Suites[k] != m.Default {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%s", k, m.Suites[k])
		if i == len(keys)-1 {
			b.WriteString(")")
		}
	}
	return b.String()
}

// ParseMirror parses a mirror setting: comma-separated entries, each either
// a URL (the default root) or SUITE=URL (the root of one suite), e.g.
// "http://127.0.0.1:8080/debian,bookworm-security=http://127.0.0.1:8080/debian-security".
func ParseMirror(s string) (*Mirror, error) {
	m := &Mirror{Suites: map[string]string{}}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		suite, u, ok := strings.Cut(part, "=")
		if !ok || strings.Contains(suite, "/") {
			suite, u = "", part
		}
		if err := checkURL(u); err != nil {
			return nil, fmt.Errorf("parse mirror %q: %w", s, err)
		}
		u = strings.TrimRight(u, "/")
		if suite == "" {
			if m.Default != "" {
				return nil, fmt.Errorf("parse mirror %q: two default URLs", s)
			}
			m.Default = u
		} else {
			m.Suites[suite] = u
		}
	}
	if m.Default == "" {
		return nil, fmt.Errorf("parse mirror %q: no default URL (SUITE=URL entries only)", s)
	}
	// Debian serves security updates from a sibling archive: .../debian
	// → .../debian-security (snapshots too: .../debian/<time> →
	// .../debian-security/<time>). A SUITE=URL entry overrides this.
	for _, suite := range DefaultSuites {
		if _, ok := m.Suites[suite]; !ok && strings.HasSuffix(suite, "-security") {
			if root, ok := securityRoot(m.Default); ok {
				m.Suites[suite] = root
			}
		}
	}
	return m, nil
}

// securityRoot maps an archive root whose path has a "debian" segment to
// the security archive's root (the last such segment gets "-security").
func securityRoot(root string) (string, bool) {
	u, err := url.Parse(root)
	if err != nil {
		return "", false
	}
	segs := strings.Split(u.Path, "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i] == "debian" {
			segs[i] = "debian-security"
			u.Path = strings.Join(segs, "/")
			return u.String(), true
		}
	}
	return "", false
}

func checkURL(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return err
	}
	switch p.Scheme {
	case "http", "https", "file":
		return nil
	}
	return fmt.Errorf("url %q: scheme must be http, https or file", u)
}

// FindMirror returns the mirror to use: explicit (from --mirror) if set,
// else $KILN_MIRROR (read through getenv), else the Debian sources in the
// apt configuration under aptDir (normally /etc/apt).
func FindMirror(explicit string, getenv func(string) string, aptDir string) (*Mirror, error) {
	if explicit != "" {
		return ParseMirror(explicit)
	}
	if getenv != nil {
		if v := getenv("KILN_MIRROR"); v != "" {
			m, err := ParseMirror(v)
			if err != nil {
				return nil, fmt.Errorf("KILN_MIRROR: %w", err)
			}
			return m, nil
		}
	}
	srcs, err := ReadAptSources(aptDir)
	if err != nil {
		return nil, err
	}
	return mirrorFromSources(srcs, aptDir)
}

// AptSource is one "deb" entry of the apt configuration.
type AptSource struct {
	URI        string
	Suites     []string
	Components []string
	SignedBy   string
	File       string // where it was read, for messages
}

// isDebian reports whether the source serves Debian itself: signed by the
// Debian archive keyring, or naming a bookworm suite.
func (s AptSource) isDebian() bool {
	if strings.Contains(s.SignedBy, "debian-archive-keyring") {
		return true
	}
	for _, su := range s.Suites {
		if su == "bookworm" || strings.HasPrefix(su, "bookworm-") {
			return true
		}
	}
	return false
}

func mirrorFromSources(srcs []AptSource, aptDir string) (*Mirror, error) {
	m := &Mirror{Suites: map[string]string{}}
	for _, s := range srcs {
		if !s.isDebian() || checkURL(s.URI) != nil {
			continue
		}
		root := strings.TrimRight(s.URI, "/")
		for _, su := range s.Suites {
			if _, ok := m.Suites[su]; !ok {
				m.Suites[su] = root
			}
			if m.Default == "" && !strings.HasSuffix(su, "-security") {
				m.Default = root
			}
		}
	}
	if m.Default == "" {
		for _, r := range m.Suites {
			if m.Default == "" || r < m.Default {
				m.Default = r
			}
		}
	}
	if m.Default == "" {
		return nil, fmt.Errorf("%w: none in %s (set --mirror or KILN_MIRROR)", ErrNoMirror, aptDir)
	}
	return m, nil
}

// ReadAptSources reads the deb entries of aptDir/sources.list (one-line
// format) and aptDir/sources.list.d/*.list and *.sources (deb822), in the
// order apt reads them. Disabled entries (Enabled: no) are left out.
func ReadAptSources(aptDir string) ([]AptSource, error) {
	var out []AptSource
	main := filepath.Join(aptDir, "sources.list")
	if srcs, err := readOneLine(main); err == nil {
		out = append(out, srcs...)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		var srcs []AptSource
		switch {
		case strings.HasSuffix(f, ".list"):
			srcs, err = readOneLine(f)
		case strings.HasSuffix(f, ".sources"):
			srcs, err = readDeb822Sources(f)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}

// readOneLine parses "deb [opt=val ...] URI SUITE COMPONENT..." lines.
func readOneLine(file string) ([]AptSource, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	defer f.Close()
	var out []AptSource
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		src := AptSource{File: file}
		rest := fields[1:]
		if strings.HasPrefix(rest[0], "[") {
			var opts []string
			for len(rest) > 0 {
				o := rest[0]
				rest = rest[1:]
				opts = append(opts, strings.Trim(o, "[]"))
				if strings.HasSuffix(o, "]") {
					break
				}
			}
			for _, o := range opts {
				if k, v, ok := strings.Cut(o, "="); ok && strings.EqualFold(k, "signed-by") {
					src.SignedBy = v
				}
			}
		}
		if len(rest) < 2 {
			continue
		}
		src.URI, src.Suites, src.Components = rest[0], []string{rest[1]}, rest[2:]
		out = append(out, src)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read apt sources %s: %w", file, err)
	}
	return out, nil
}

// readDeb822Sources parses a .sources file: stanzas of Types, URIs,
// Suites, Components, Signed-By and Enabled.
func readDeb822Sources(file string) ([]AptSource, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read apt sources: %w", err)
	}
	var out []AptSource
	for _, st := range parseStanzas(string(data)) {
		if strings.EqualFold(st["Enabled"], "no") {
			continue
		}
		if !contains(strings.Fields(st["Types"]), "deb") {
			continue
		}
		for _, uri := range strings.Fields(st["URIs"]) {
			out = append(out, AptSource{
				URI:        uri,
				Suites:     strings.Fields(st["Suites"]),
				Components: strings.Fields(st["Components"]),
				SignedBy:   strings.TrimSpace(st["Signed-By"]),
				File:       file,
			})
		}
	}
	return out, nil
}

// parseStanzas splits deb822 text into stanzas of fields. Continuation
// lines are joined with "\n"; comment lines are dropped.
func parseStanzas(text string) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	last := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case strings.TrimSpace(line) == "":
			cur, last = nil, ""
			continue
		case line[0] == ' ' || line[0] == '\t':
			if cur != nil && last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if cur == nil {
			cur = map[string]string{}
			out = append(out, cur)
		}
		last = k
		cur[k] = strings.TrimSpace(v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
