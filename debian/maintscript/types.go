package maintscript

import (
	"fmt"
	"strings"
)

// Phase is when, in dpkg's run of a fresh install, an action happens.
type Phase string

const (
	// Install: the config script, "preinst install" and "postinst
	// configure" with no previously configured version.
	Install Phase = "install"
	// Triggered: "postinst triggered", run when a package activates a
	// trigger this one declares an interest in.
	Triggered Phase = "triggered"
	// Remove: prerm and postrm on removal and purge. kiln removes a
	// package by switching to a generation without it, so nothing that
	// runs here needs an equivalent; they are listed for the audit.
	Remove Phase = "remove"
)

// Source says where a declaration or an action comes from.
type Source struct {
	Package string `json:"package"`
	// Script is preinst, postinst, prerm, postrm or config, a helper file
	// a script sources (an absolute path), or a shipped file the
	// declaration is read from (usr/lib/sysusers.d/NAME.conf, templates,
	// triggers).
	Script string `json:"script"`
	Line   int    `json:"line"`
	// Command is the command (or the file's line) as written, on one line.
	Command string `json:"command"`
	Phase   Phase  `json:"phase,omitempty"`
	// Snippet names the debhelper tool whose "# Automatically added by"
	// section holds the command, e.g. "dh_installsystemd/13.11.4".
	Snippet string `json:"snippet,omitempty"`
	// Via lists the function calls that led to the command, outermost
	// first, each as "SCRIPT:LINE NAME".
	Via []string `json:"via,omitempty"`
}

// String is the provenance as a user reads it:
// "redis-tools postinst line 24: adduser --system ...".
func (s Source) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s line %d", s.Package, s.Script, s.Line)
	if len(s.Via) > 0 {
		fmt.Fprintf(&b, " (via %s)", strings.Join(s.Via, ", "))
	}
	fmt.Fprintf(&b, ": %s", s.Command)
	return b.String()
}

// User is a system user a script or a sysusers.d file creates.
type User struct {
	Name   string `json:"name"`
	System bool   `json:"system"`
	// UID is the id the package asks for ("" lets kiln choose a stable one).
	UID string `json:"uid,omitempty"`
	// Group is the primary group; "" means a group of the user's name.
	Group      string   `json:"group,omitempty"`
	Groups     []string `json:"groups,omitempty"`
	Home       string   `json:"home,omitempty"`
	CreateHome bool     `json:"create_home,omitempty"`
	Shell      string   `json:"shell,omitempty"`
	Comment    string   `json:"comment,omitempty"`
	// Change is set when the account exists already (base-passwd's, or
	// another package's): the fields set change it (chsh, usermod).
	Change bool   `json:"change,omitempty"`
	From   Source `json:"from"`
}

// Group is a group a script or a sysusers.d file creates.
type Group struct {
	Name   string `json:"name"`
	System bool   `json:"system"`
	GID    string `json:"gid,omitempty"`
	From   Source `json:"from"`
}

// Member adds a user to a group (adduser USER GROUP, usermod -aG,
// sysusers.d "m").
type Member struct {
	User  string `json:"user"`
	Group string `json:"group"`
	From  Source `json:"from"`
}

// Tmpfile is one systemd-tmpfiles line for a path under /var, /etc, /run
// or /srv: what mkdir, install -d, touch, chown, chmod and
// dpkg-statoverride did, or a shipped tmpfiles.d line. Fields keep
// tmpfiles.d(5)'s meaning; "-" or "" leave a field unset.
type Tmpfile struct {
	Type     string `json:"type"` // d, f, z, Z, L, C, ...
	Path     string `json:"path"`
	Mode     string `json:"mode,omitempty"`
	User     string `json:"user,omitempty"`
	Group    string `json:"group,omitempty"`
	Age      string `json:"age,omitempty"`
	Argument string `json:"argument,omitempty"`
	// Shipped is set for a line of the package's own tmpfiles.d file,
	// which systemd-tmpfiles applies at boot without kiln's help.
	Shipped bool     `json:"shipped,omitempty"`
	From    []Source `json:"from"`
}

// Alternative is update-alternatives --install: Link (e.g. /usr/bin/awk)
// points through /etc/alternatives/Name to Path. Of all candidates for a
// name, the highest priority wins (Debian's auto mode).
type Alternative struct {
	Name     string  `json:"name"`
	Link     string  `json:"link"`
	Path     string  `json:"path"`
	Priority int     `json:"priority"`
	Slaves   []Slave `json:"slaves,omitempty"`
	From     Source  `json:"from"`
}

// Slave is a link that follows its master alternative's choice.
type Slave struct {
	Name string `json:"name"`
	Link string `json:"link"`
	Path string `json:"path"`
}

// UnitOp is what a script does to a unit.
type UnitOp string

const (
	// Enable: deb-systemd-helper enable, systemctl enable, update-rc.d
	// defaults for an init script without a native unit.
	Enable UnitOp = "enable"
	// NoEnable: the unit is registered (deb-systemd-helper update-state)
	// but left disabled, as dh_installsystemd --no-enable does.
	NoEnable UnitOp = "no-enable"
	// Start: deb-systemd-invoke start, systemctl start, invoke-rc.d start.
	Start UnitOp = "start"
	// Disable: systemctl disable or mask on install.
	Disable UnitOp = "disable"
)

// Unit is one thing a script does to a systemd unit.
type Unit struct {
	Name string `json:"name"` // e.g. nginx.service
	Op   UnitOp `json:"op"`
	// UserUnit is set for a unit of the user manager (deb-systemd-helper
	// --user, dh_installsystemduser), enabled for every user.
	UserUnit bool `json:"user_unit,omitempty"`
	// SysV is set when the unit is what systemd-sysv-generator makes of an
	// init script that has no native unit.
	SysV bool `json:"sysv,omitempty"`
	// IfEnabled is set on a Start that deb-systemd-invoke makes: it skips
	// units that are not enabled (disabled or static ones).
	IfEnabled bool   `json:"if_enabled,omitempty"`
	From      Source `json:"from"`
}

// Wrapper is a program that needs privileges the store cannot give (its
// files are root-owned 0555, without setuid bits or capabilities): a
// wrapper outside the store runs it with them.
type Wrapper struct {
	Path         string `json:"path"`
	Capabilities string `json:"capabilities,omitempty"` // setcap's text, e.g. cap_net_raw+ep
	Owner        string `json:"owner,omitempty"`
	Group        string `json:"group,omitempty"`
	Mode         string `json:"mode,omitempty"` // e.g. 4754
	From         Source `json:"from"`
}

// FileKind is how a File gets its content.
type FileKind string

const (
	// Copy: a copy of From (ucf, cp, install, mv of a template).
	Copy FileKind = "copy"
	// Link: a symbolic link to Target (ln -s, a2enmod).
	Link FileKind = "link"
	// Content: literal content written by the script (a here-document,
	// echo or printf into the file).
	Content FileKind = "content"
	// Directory: a directory (in /usr, where tmpfiles cannot make one).
	Directory FileKind = "directory"
	// Removed: a file the package ships that the script removes (in /usr:
	// the overlay hides it).
	Removed FileKind = "removed"
)

// File is a file a script makes in /etc, or in /usr, where the store is
// read-only: there it belongs in a generated tree laid over the
// packages' (see docs/design.md).
type File struct {
	Path string   `json:"path"`
	Kind FileKind `json:"kind"`
	// Template is the file copied (Copy); Target the link's target (Link).
	Template string `json:"template,omitempty"`
	Target   string `json:"target,omitempty"`
	// Edits change the file after it was copied, in order.
	Edits   []Edit `json:"edits,omitempty"`
	Content string `json:"content,omitempty"`
	// Mode, User and Group come from a chmod or chown of the same path
	// later in the script.
	Mode     string `json:"mode,omitempty"`
	User     string `json:"user,omitempty"`
	Group    string `json:"group,omitempty"`
	Register bool   `json:"register,omitempty"` // made with ucf: a config file the admin owns
	// Text is a copy's text with its edits applied, when the analysis
	// can compute it (its sed and postconf models, tested against GNU
	// sed and Debian's results): what the file holds after the scripts.
	Text string   `json:"text,omitempty"`
	From []Source `json:"from"`
}

// Edit is a command that changes a File in place, as the script ran it:
// Tool "sed" with its expressions (sed -e E...), or "postconf" with
// postconf's -e/-X arguments on a main.cf.
type Edit struct {
	Tool string   `json:"tool"`
	Args []string `json:"args"`
	// Unknown is set when an argument is a value the analysis cannot
	// resolve (shown as written): such an edit cannot be applied.
	Unknown bool `json:"unknown,omitempty"`
}

// Debconf is one use of a debconf question: asked (input), read (get)
// or set (set). Value is what a read gives on kiln: the answer, else what
// a script set, else the template's default.
type Debconf struct {
	Question string `json:"question"`
	Op       string `json:"op"`
	Type     string `json:"type,omitempty"`
	Default  string `json:"default,omitempty"`
	Value    string `json:"value,omitempty"`
	Known    bool   `json:"known"` // Value is known (the template or an answer gives it)
	// Missing: no package of the closure defines the question, so db_get
	// fails (user-setup's passwd/username on a system installed with apt).
	Missing bool   `json:"missing,omitempty"`
	From    Source `json:"from"`
}

// Cache is a cache or index a script or trigger rebuilds from files of
// the closure (ld.so.cache, the CA bundle, fontconfig, mime, glib
// schemas...): built per generation instead.
type Cache struct {
	Name string `json:"name"`
	// Args are the command's arguments, for the caches whose content
	// they give (update-xmlcatalog's entries, update-catalog's
	// catalogs); nil when one of them is not known.
	Args []string `json:"args,omitempty"`
	From Source   `json:"from"`
}

// Trigger is a line of the package's triggers file (interest or activate)
// or a dpkg-trigger call.
type Trigger struct {
	Name     string `json:"name"`
	Interest bool   `json:"interest"` // false: activates it
	Await    bool   `json:"await"`
	From     Source `json:"from"`
}

// FirstRun is state a script creates once on the machine that cannot
// live in the world-readable store: a database cluster, generated keys,
// a cookie. It is made on the machine, by the same command, before the
// units that need it start, unless Creates already exists.
type FirstRun struct {
	Name    string   `json:"name"`
	Args    []string `json:"args"`
	User    string   `json:"user,omitempty"` // run as (su, runuser)
	Creates string   `json:"creates,omitempty"`
	// Inputs are the temporary files the command reads that the script
	// wrote for it (slapadd -l of a mktemp copy of a template).
	Inputs []FirstRunInput `json:"inputs,omitempty"`
	// Then are commands the script ran on the state after making it
	// (chown -R of its directory), run after it in the same order.
	Then [][]string `json:"then,omitempty"`
	From Source     `json:"from"`
}

// FirstRunInput is a temporary file a first-run command reads: Arg is
// the argument of Args that names it (the mktemp result as written),
// File what the script wrote into it (a Copy with Edits, or Content). A
// Secret is text in it that only the machine may compute: the first-run
// unit replaces it there, so the secret never enters the store.
type FirstRunInput struct {
	Arg     string   `json:"arg"`
	File    File     `json:"file"`
	Secrets []Secret `json:"secrets,omitempty"`
}

// Secret is Placeholder in a first-run input, replaced on the machine by
// a value made by Kind: "slappasswd" is the {SSHA} hash of a random
// password (slapd's generate_admin_pass and create_password_hash, what
// its postinst makes when slapd/password1 is left empty).
type Secret struct {
	Placeholder string `json:"placeholder"`
	Kind        string `json:"kind"`
}

// Shell is a login shell a script adds to /etc/shells (add-shell).
type Shell struct {
	Path string `json:"path"`
	From Source `json:"from"`
}

// Note is an action that needs nothing from kiln (Ignored) or that no
// recognizer handles (Unhandled), with the reason.
type Note struct {
	Reason string `json:"reason"`
	From   Source `json:"from"`
}

// Analysis is everything derived from one package.
type Analysis struct {
	Package      string        `json:"package"`
	Version      string        `json:"version,omitempty"`
	Users        []User        `json:"users,omitempty"`
	Groups       []Group       `json:"groups,omitempty"`
	Members      []Member      `json:"members,omitempty"`
	Tmpfiles     []Tmpfile     `json:"tmpfiles,omitempty"`
	Alternatives []Alternative `json:"alternatives,omitempty"`
	Units        []Unit        `json:"units,omitempty"`
	Wrappers     []Wrapper     `json:"wrappers,omitempty"`
	Files        []File        `json:"files,omitempty"`
	Debconf      []Debconf     `json:"debconf,omitempty"`
	Caches       []Cache       `json:"caches,omitempty"`
	Triggers     []Trigger     `json:"triggers,omitempty"`
	FirstRun     []FirstRun    `json:"first_run,omitempty"`
	Shells       []Shell       `json:"shells,omitempty"`
	Ignored      []Note        `json:"ignored,omitempty"`
	Unhandled    []Note        `json:"unhandled,omitempty"`
}
