package modules

import (
	"encoding/base64"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

var unitTypes = map[string]bool{
	"service": true, "socket": true, "timer": true, "mount": true, "automount": true, "path": true,
	"target": true, "slice": true, "scope": true, "swap": true, "device": true,
}

var serviceTypes = map[string]bool{"simple": true, "exec": true, "forking": true, "oneshot": true, "notify": true, "idle": true}

// validate checks what types alone cannot: names and exclusive settings.
func validate(c *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	bad := func(coll, label, summary, detail string) {
		r := hcl.Range{}
		if e := c.root.children[coll].children[label]; e != nil && len(e.defs) > 0 {
			r = e.defs[0].rng
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r})
	}
	s := &c.System
	for _, name := range sortedKeys(s.Etc) {
		f := s.Etc[name]
		if f.Text != "" && f.Source != "" {
			bad("etc", name, fmt.Sprintf("Both text and source for etc[%q]", name), "Set text or source, not both.")
		}
		if path.IsAbs(name) || path.Clean(name) != name || strings.HasPrefix(name, "../") || name == ".." {
			bad("etc", name, fmt.Sprintf("Invalid etc path %q", name), "etc paths are relative to /etc, without . or .. parts: etc \"ssh/sshd_config\" { ... }.")
		}
	}
	for _, name := range sortedKeys(s.Users) {
		u := s.Users[name]
		if !validName(name) {
			bad("users", name, fmt.Sprintf("Invalid user name %q", name), "A user name is 1 to 32 lower-case letters, digits, _ and -, starting with a letter or _.")
		}
		if u.UID != nil && (*u.UID < 0 || *u.UID > 65534) {
			bad("users", name, fmt.Sprintf("Invalid uid %d for user %q", *u.UID, name), "A uid is from 0 to 65534.")
		}
	}
	for _, name := range sortedKeys(s.Groups) {
		g := s.Groups[name]
		if !validName(name) {
			bad("groups", name, fmt.Sprintf("Invalid group name %q", name), "A group name is 1 to 32 lower-case letters, digits, _ and -, starting with a letter or _.")
		}
		if g.GID != nil && (*g.GID < 0 || *g.GID > 65534) {
			bad("groups", name, fmt.Sprintf("Invalid gid %d for group %q", *g.GID, name), "A gid is from 0 to 65534.")
		}
	}
	for _, name := range sortedKeys(s.Units) {
		if i := strings.LastIndexByte(name, '.'); i <= 0 || !unitTypes[name[i+1:]] {
			bad("units", name, fmt.Sprintf("Invalid unit name %q", name), "A unit is named NAME.TYPE, with TYPE one of service, socket, timer, mount, automount, path, target, slice, scope, swap.")
		}
	}
	for _, name := range sortedKeys(s.Services) {
		if t := s.Services[name].Type; !serviceTypes[t] {
			bad("services", name, fmt.Sprintf("Invalid service type %q", t), "type is one of simple, exec, forking, oneshot, notify, idle.")
		}
	}
	for _, name := range sortedKeys(s.Mounts) {
		if !path.IsAbs(name) || path.Clean(name) != name {
			bad("mounts", name, fmt.Sprintf("Invalid mount point %q", name), "A mount point is an absolute, clean path: mounts \"/srv\" { ... }.")
		}
	}
	diags = append(diags, validateCaches(c)...)
	diags = append(diags, validateLines(c)...)
	diags = append(diags, validateAccounts(c)...)
	diags = append(diags, validateDeclared(c)...)
	return diags
}

// validateCaches checks the form of substituters and trusted_public_keys
// (package cache parses them when they are used; modules imports nothing
// of kiln's).
func validateCaches(c *Config) hcl.Diagnostics {
	var diags hcl.Diagnostics
	bad := func(option, value, summary, detail string) {
		r := hcl.Range{}
		if leaf := c.root.children[option]; leaf != nil {
			for _, d := range leaf.defs {
				if d.isDefault {
					continue
				}
				r = d.rng
				if d.won && !d.value.IsNull() && containsString(d.value, value) {
					r = d.expr.Range()
					break
				}
			}
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: &r})
	}
	for _, u := range c.System.Substituters {
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok || rest == "" || scheme != "file" && scheme != "s3" && scheme != "http" && scheme != "https" {
			bad("substituters", u, fmt.Sprintf("Invalid substituter %q", u), "A substituter is file:///DIR, s3://BUCKET/PREFIX?endpoint=HOST:PORT&region=R, or http(s)://HOST/PATH.")
		}
	}
	for _, k := range c.System.TrustedPublicKeys {
		name, payload, ok := strings.Cut(strings.TrimSpace(k), ":")
		b, err := base64.StdEncoding.DecodeString(payload)
		if !ok || name == "" || strings.ContainsAny(name, " \t") || err != nil || len(b) != 32 {
			shown := k
			if len(shown) > 60 {
				shown = shown[:60] + "..."
			}
			bad("trusted_public_keys", k, fmt.Sprintf("Invalid public key %q", shown), "A trusted public key is NAME:BASE64 of an ed25519 key, as kiln key generate writes to NAME.public: trusted_public_keys = [file(\"NAME.public\")].")
		}
	}
	return diags
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validName follows Debian's default NAME_REGEX for users and groups.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case (c >= '0' && c <= '9') || c == '-':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}
