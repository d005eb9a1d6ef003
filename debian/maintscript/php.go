package maintscript

import (
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// PHP's module helpers (php-common's phpenmod, phpdismod and phpquery),
// which php-maintscript-helper's php_invoke runs: a module is enabled for
// a SAPI by a link /etc/php/V/SAPI/conf.d/PRIORITY-MOD.ini to
// /etc/php/V/mods-available/MOD.ini (the priority from the ini's
// "; priority=NN" line, 20 without one), in every SAPI directory the
// closure has (/usr/lib/php/V/sapi/*), and -r registers it so that a
// SAPI package configured later (php8.2-fpm's `phpquery -M`) enables it
// too. The state files phpenmod keeps under /var/lib/php/modules are
// made as it makes them: phpquery on the machine reads them.

func init() {
	recognizers["phpenmod"] = phpEnDisMod(true)
	recognizers["phpdismod"] = phpEnDisMod(false)
	recognizers["phpquery"] = phpQuery
}

// phpOptions are phpenmod's and phpquery's getopts options: flags, and
// -v/-s (repeatable) with a value; pos are the other arguments.
type phpOptions struct {
	flags            map[byte]bool
	versions, sapis  []string
	mod              string
	pos              []string
	unknown, invalid bool
}

func parsePHPOptions(cl *call, withValue string) phpOptions {
	o := phpOptions{flags: map[byte]bool{}}
	for i := 0; i < len(cl.args); i++ {
		a := cl.args[i]
		if !a.known {
			o.unknown = true
			return o
		}
		if len(o.pos) > 0 || len(a.s) < 2 || a.s[0] != '-' {
			o.pos = append(o.pos, a.s)
			continue
		}
		if a.s == "--" {
			for _, b := range cl.args[i+1:] {
				if !b.known {
					o.unknown = true
				}
				o.pos = append(o.pos, b.s)
			}
			return o
		}
		for j := 1; j < len(a.s); j++ {
			c := a.s[j]
			if !strings.ContainsRune(withValue, rune(c)) {
				o.flags[c] = true
				continue
			}
			v := a.s[j+1:]
			if v == "" {
				if i+1 >= len(cl.args) {
					o.invalid = true
					return o
				}
				i++
				if !cl.args[i].known {
					o.unknown = true
					return o
				}
				v = cl.args[i].s
			}
			switch c {
			case 'v':
				o.versions = append(o.versions, v)
			case 's':
				o.sapis = append(o.sapis, v)
			case 'm':
				o.mod = v
			}
			break
		}
	}
	return o
}

// phpVersions are the directories of /usr/lib/php named like a version
// (phpquery -V: list_parts_regex '.*[0-9]\.[0-9]', sort -rn).
var phpVersionDir = regexp.MustCompile(`^.*[0-9]\.[0-9]$`)

func phpVersions(fa *facts) []string {
	var out []string
	for _, n := range fa.list("/usr/lib/php") {
		if phpVersionDir.MatchString("/usr/lib/php/"+n) && fa.test("-d", "/usr/lib/php/"+n) == yes {
			out = append(out, n)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return leadingNumber(out[i]) > leadingNumber(out[j]) })
	return out
}

func leadingNumber(s string) float64 {
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	f, _ := strconv.ParseFloat(strings.TrimSuffix(s[:end], "."), 64)
	return f
}

func phpSAPIs(fa *facts, version string) []string {
	return fa.list("/usr/lib/php/" + version + "/sapi")
}

// phpVersionList is -v's versions, every version for ALL or none.
func phpVersionList(fa *facts, versions []string) []string {
	if len(versions) == 0 || len(versions) == 1 && versions[0] == "ALL" {
		return phpVersions(fa)
	}
	return versions
}

func resolvePHP(fa *facts, versions, sapis []string) map[string][]string {
	out := map[string][]string{}
	for _, v := range phpVersionList(fa, versions) {
		if len(sapis) == 0 || len(sapis) == 1 && sapis[0] == "ALL" {
			out[v] = phpSAPIs(fa, v)
		} else {
			out[v] = sapis
		}
	}
	return out
}

var phpPriority = regexp.MustCompile(`^;[[:space:]]*priority[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*$`)

// phpLiveLink is the module's link in the SAPI's conf.d: the one a script
// made already (any priority), else the name its ini's priority gives;
// "" when the ini's text is not known.
func phpLiveLink(cl *call, version, sapi, mod string) (link string, exists bool) {
	dir := "/etc/php/" + version + "/" + sapi + "/conf.d"
	for _, n := range cl.in.facts.list(dir) {
		if strings.HasSuffix(n, "-"+mod+".ini") && cl.in.facts.test("-L", dir+"/"+n) == yes {
			return dir + "/" + n, true
		}
	}
	text, ok := cl.knownText(lit("/etc/php/" + version + "/mods-available/" + mod + ".ini"))
	if !ok {
		return "", false
	}
	prio := "20"
	for _, l := range lines(text) {
		if m := phpPriority.FindStringSubmatch(l); m != nil {
			prio = m[1]
			break
		}
		if isDigits(l) {
			break // sed's /^[0-9]\+$/q
		}
	}
	return dir + "/" + prio + "-" + mod + ".ini", false
}

// phpEnDisMod is phpenmod (enable) and phpdismod on a fresh system.
func phpEnDisMod(enable bool) func(*call) tri {
	return func(cl *call) tri {
		o := parsePHPOptions(cl, "vs")
		if o.unknown {
			cl.unhandled(cl.name + " of a module, version or SAPI the analysis cannot resolve")
			return maybe
		}
		if o.invalid || len(o.pos) == 0 {
			return no // usage
		}
		who := "admin"
		if o.flags['m'] {
			who = "maint"
		}
		targets := resolvePHP(cl.in.facts, o.versions, o.sapis)
		for _, m := range o.pos {
			m, _, _ = strings.Cut(m, "/")
			for _, v := range slices.Sorted(maps.Keys(targets)) {
				ini := "/etc/php/" + v + "/mods-available/" + m + ".ini"
				present := cl.in.facts.test("-r", ini)
				if present == maybe && len(targets[v]) > 0 {
					cl.unhandled(cl.name + ": whether " + ini + " exists is not known")
					return maybe
				}
				// Without the ini it warns for each SAPI and goes on (the
				// registry below still takes the module, as phpenmod's).
				for _, s := range targets[v] {
					if present != yes {
						break
					}
					link, exists := phpLiveLink(cl, v, s, m)
					if !enable {
						if exists {
							cl.unhandled("phpdismod of a module a script enabled: " + link)
							return maybe
						}
						continue
					}
					if link == "" {
						cl.unhandled("phpenmod: the priority of " + ini + " is not known")
						return maybe
					}
					if cl.in.facts.test("-d", "/etc/php/"+v+"/"+s+"/conf.d") != yes {
						continue // "conf.d doesn't exist, not enabling the module"
					}
					if !exists {
						cl.addFile(File{Path: link, Kind: Link, Target: ini})
					}
					state := "/var/lib/php/modules/" + v + "/" + s + "/enabled_by_" + who + "/" + m
					if cl.in.facts.test("-e", "/var/lib/php/modules/"+v+"/"+s+"/enabled_by_admin/"+m) != yes {
						cl.tmpfile(state, "f")
						cl.in.facts.make(state, 'f')
					}
				}
				if o.flags['r'] && enable {
					reg := "/var/lib/php/modules/" + v + "/registry/" + m
					cl.tmpfile(reg, "f")
					cl.in.facts.make(reg, 'f')
				}
			}
		}
		return yes
	}
}

// phpQuery is phpquery: -V lists the versions, -S the SAPIs of -v, -M
// the registered modules, -m says whether a module is enabled for -v and
// -s (a fresh system has nothing an admin disabled).
func phpQuery(cl *call) tri {
	o := parsePHPOptions(cl, "vsm")
	if o.unknown {
		return query(cl)
	}
	fa := cl.in.facts
	quiet := o.flags['q']
	version := strings.Join(o.versions, " ")
	sapi := strings.Join(o.sapis, " ")
	print := func(words []string) tri {
		text := ""
		if len(words) > 0 {
			text = strings.Join(words, "\n") + "\n"
		}
		v := lit(text)
		cl.out = &v
		return yes
	}
	switch {
	case o.flags['V']:
		return print(phpVersions(fa))
	case o.flags['S']:
		if version == "" || fa.test("-d", "/usr/lib/php/"+version) != yes {
			return no
		}
		return print(phpSAPIs(fa, version))
	case o.flags['M']:
		var mods []string
		for _, v := range phpVersionList(fa, o.versions) {
			mods = append(mods, fa.list("/var/lib/php/modules/"+v+"/registry")...)
		}
		return print(mods)
	case o.mod != "":
		if version == "" || sapi == "" || fa.test("-d", "/usr/lib/php/"+version) != yes || fa.test("-e", "/usr/lib/php/"+version+"/sapi/"+sapi) != yes {
			return no // usage
		}
		if fa.test("-r", "/etc/php/"+version+"/mods-available/"+o.mod+".ini") == no {
			return no
		}
		_, exists := phpLiveLink(cl, version, sapi, o.mod)
		if !quiet {
			cl.prints = true
		}
		if exists {
			return yes
		}
		return no // "Disabled for SAPI by unknown" (1)
	}
	return maybe
}
