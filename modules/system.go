package modules

// System is the merged, typed configuration of one kiln system: what the
// built-in modules declare, after merging every definition. The system
// builder consumes only this; it never sees HCL.
//
// Field names follow the option paths users write (networking.host_name is
// Networking.HostName). Maps are keyed by the block label users write
// (users "alice" {} is Users["alice"]).
type System struct {
	Networking Networking         `kiln:"networking"`
	Users      map[string]User    `kiln:"users"`
	Groups     map[string]Group   `kiln:"groups"`
	Services   map[string]Service `kiln:"services"`
	Units      map[string]Unit    `kiln:"units"` // key: "NAME.TYPE", e.g. "backup.timer"
	// HealthChecks gate boot-complete.target and confirmed switches.
	HealthChecks map[string]HealthCheck `kiln:"health_checks"`
	// Alternatives override update-alternatives' auto mode, by name.
	Alternatives map[string]Alternative `kiln:"alternatives"`
	// PackageScripts, by package name, opt out of what its maintainer
	// scripts declare (debian/maintscript).
	PackageScripts map[string]PackageScripts `kiln:"package_scripts"`
	// Wrappers, by program name, opt out of a setuid or setgid wrapper.
	Wrappers map[string]WrapperOption `kiln:"wrappers"`
	// Debconf answers debconf questions the scripts read.
	Debconf    map[string]string `kiln:"debconf"`
	Mounts     map[string]Mount  `kiln:"mounts"` // key: mount point, "/" included
	Swaps      map[string]Swap   `kiln:"swaps"`  // key: device
	Timers     map[string]Timer  `kiln:"timers"` // key: the timer's name, without .timer
	Journald   Journald          `kiln:"journald"`
	Sudo       Sudo              `kiln:"sudo"`
	Kernel     Kernel            `kiln:"kernel"`
	Hardware   Hardware          `kiln:"hardware"`
	Bootloader Bootloader        `kiln:"bootloader"`
	Packages   []string          `kiln:"packages"` // Debian package names on PATH
	// InstallRecommends makes kiln lock follow Recommends.
	InstallRecommends bool               `kiln:"install_recommends"`
	Etc               map[string]EtcFile `kiln:"etc"`     // key: path relative to /etc
	Secrets           map[string]Secret  `kiln:"secrets"` // key: the file name in /run/secrets
	TimeZone          string             `kiln:"time_zone"`
	// Substituters are binary cache URLs (package cache), asked in order;
	// TrustedPublicKeys (NAME:BASE64, maybe with the newline file() reads)
	// are the keys whose signatures they need.
	Substituters      []string `kiln:"substituters"`
	TrustedPublicKeys []string `kiln:"trusted_public_keys"`
	Locale            string   `kiln:"locale"`
	Console           Console  `kiln:"console"`
	SSH               SSH      `kiln:"ssh"`
	Testing           Testing  `kiln:"testing"`
	// Impermanence makes / a tmpfs; the declared paths persist.
	Impermanence Impermanence `kiln:"impermanence"`
	// Nginx, Redis and PostgreSQL are the service modules (builtin/*.hcl):
	// the builder reads what they define (etc, units, services), not these.
	Nginx      Nginx      `kiln:"nginx"`
	Redis      Redis      `kiln:"redis"`
	PostgreSQL PostgreSQL `kiln:"postgresql"`
	// Documentation puts the packages' documentation outputs (usr/share/
	// doc, man, info, locale: debian.SplitDocs) into the sw tree.
	Documentation Documentation `kiln:"documentation"`
	// Referenced lists every Debian package named anywhere through pkgs.X
	// (in packages, exec_start strings, etc text...), sorted and unique. The
	// closure is built from Packages ∪ Referenced ∪ the base set.
	Referenced []string `kiln:"-"`
}

type Networking struct {
	HostName string `kiln:"host_name"`
	DHCP     bool   `kiln:"dhcp"` // systemd-networkd DHCP on all ethernet links
	// DNSStubListener is systemd-resolved's stub on 127.0.0.53 (nil: on
	// unless the closure has a local DNS server).
	DNSStubListener *bool `kiln:"dns_stub_listener"`
	// Interfaces are links configured by systemd-networkd (key: the
	// interface name, or any label when MACAddress matches).
	Interfaces map[string]Interface `kiln:"interfaces"`
	VLANs      map[string]VLAN      `kiln:"vlans"`   // key: the VLAN link's name
	Bridges    map[string]Bridge    `kiln:"bridges"` // key: the bridge's name
	Firewall   Firewall             `kiln:"firewall"`
}

// Interface is one .network file of systemd-networkd.
type Interface struct {
	MACAddress string   `kiln:"mac_address"` // match by MAC instead of the name
	DHCP       bool     `kiln:"dhcp"`
	Addresses  []string `kiln:"addresses"` // CIDR prefixes, IPv4 or IPv6
	Gateways   []string `kiln:"gateways"`
	Routes     []Route  `kiln:"routes"`
	DNS        []string `kiln:"dns"`
	Domains    []string `kiln:"domains"`
}

type Route struct {
	Destination string `kiln:"destination"` // CIDR
	Gateway     string `kiln:"gateway"`     // empty: on link
}

type VLAN struct {
	ID        int    `kiln:"id"`
	Interface string `kiln:"interface"` // the parent link
}

type Bridge struct {
	Interfaces []string `kiln:"interfaces"` // member links
}

// Firewall is an nftables table of kiln's: inbound denied unless allowed.
type Firewall struct {
	Enable          bool                         `kiln:"enable"`
	AllowPing       bool                         `kiln:"allow_ping"`
	AllowedTCPPorts []int                        `kiln:"allowed_tcp_ports"`
	AllowedUDPPorts []int                        `kiln:"allowed_udp_ports"`
	Interfaces      map[string]FirewallInterface `kiln:"interfaces"`
}

// FirewallInterface holds the ports open on one interface only.
type FirewallInterface struct {
	AllowedTCPPorts []int `kiln:"allowed_tcp_ports"`
	AllowedUDPPorts []int `kiln:"allowed_udp_ports"`
}

// Journald is systemd-journald's [Journal] settings, by key.
type Journald struct {
	Settings map[string]string `kiln:"settings"`
}

// Timer becomes NAME.timer, starting Service on a calendar.
type Timer struct {
	OnCalendar         string `kiln:"on_calendar"`
	Service            string `kiln:"service"` // unit name; without a suffix, .service
	Persistent         bool   `kiln:"persistent"`
	RandomizedDelaySec string `kiln:"randomized_delay_sec"`
}

// SudoRule is one line of /etc/sudoers.d/kiln.
type SudoRule struct {
	Users      []string `kiln:"users"`
	Groups     []string `kiln:"groups"`
	Commands   []string `kiln:"commands"`
	RunAs      string   `kiln:"run_as"`
	NoPassword bool     `kiln:"no_password"`
}

type Sudo struct {
	Rules map[string]SudoRule `kiln:"rules"`
}

type User struct {
	UID                *int     `kiln:"uid"` // nil: allocated, stable across generations
	Group              string   `kiln:"group"`
	Groups             []string `kiln:"groups"`
	Home               string   `kiln:"home"`
	Shell              string   `kiln:"shell"`
	System             bool     `kiln:"system"`
	AuthorizedKeys     []string `kiln:"authorized_keys"`
	HashedPasswordFile string   `kiln:"hashed_password_file"` // read at activation; never in the store
	// HashedPasswordSecret names a secret holding the hash (read from
	// /run/secrets/NAME).
	HashedPasswordSecret string `kiln:"hashed_password_secret"`
}

type Group struct {
	GID *int `kiln:"gid"` // nil: allocated
}

// Service becomes NAME.service.
type Service struct {
	Enable           bool              `kiln:"enable"`
	Description      string            `kiln:"description"`
	ExecStart        string            `kiln:"exec_start"`
	ExecReload       string            `kiln:"exec_reload"` // needed by reload_if_changed
	Type             string            `kiln:"type"`        // simple, oneshot, forking, notify, exec, idle
	User             string            `kiln:"user"`
	Environment      map[string]string `kiln:"environment"`
	After            []string          `kiln:"after"`
	Wants            []string          `kiln:"wants"`
	WantedBy         []string          `kiln:"wanted_by"`
	Restart          string            `kiln:"restart"`
	RestartIfChanged bool              `kiln:"restart_if_changed"` // default true
	ReloadIfChanged  bool              `kiln:"reload_if_changed"`
	Secrets          []string          `kiln:"secrets"` // secrets.NAME it reads: a change restarts it
}

// Unit is a raw systemd unit (timers, sockets, mounts, paths...) when
// Text is set, else settings for a unit a package ships.
type Unit struct {
	Text *string `kiln:"text"` // nil: the package's unit
	// Enable nil: a unit with Text is enabled, a package's unit as its
	// maintainer scripts say; false: no enablement links.
	Enable  *bool    `kiln:"enable"`
	DropIn  string   `kiln:"drop_in"` // written as NAME.d/kiln.conf
	Secrets []string `kiln:"secrets"`
}

// Secret is one age-encrypted file, decrypted on the machine into
// /run/secrets/NAME (never in the store).
type Secret struct {
	File  string `kiln:"file"` // resolved against the defining module
	Owner string `kiln:"owner"`
	Group string `kiln:"group"`
	Mode  string `kiln:"mode"`
}

// Alternative chooses an update-alternatives candidate.
type Alternative struct {
	Path string `kiln:"path"` // "": the highest priority (Debian's auto mode)
}

// PackageScripts says what the system takes from one package's
// maintainer scripts.
type WrapperOption struct {
	Enable bool `kiln:"enable"`
}

type PackageScripts struct {
	Enable bool     `kiln:"enable"`
	Ignore []string `kiln:"ignore"` // "script:line" or "script:*" of unhandled actions
}

type Mount struct {
	Device  string   `kiln:"device"`
	FSType  string   `kiln:"fs_type"`
	Options []string `kiln:"options"`
	// AutoResize grows the file system to its partition at boot
	// (x-systemd.growfs); on "/" the root partition first grows to the
	// end of its disk (systemd-repart).
	AutoResize bool `kiln:"auto_resize"`
}

type Swap struct {
	Options []string `kiln:"options"`
}

type Kernel struct {
	Package       string            `kiln:"package"` // Debian package name of the kernel image
	Params        []string          `kiln:"params"`
	Modules       []string          `kiln:"modules"`        // loaded at boot (modules-load.d)
	InitrdModules []string          `kiln:"initrd_modules"` // extra modules in the initrd
	Sysctl        map[string]string `kiln:"sysctl"`
}

// Hardware says what the system runs on: "virtual" (virtio, the cloud
// kernel) or "generic" (the built-in hardware module's kernel, initrd
// modules and firmware).
type Hardware struct {
	Profile string `kiln:"profile"`
}

type Bootloader struct {
	Timeout        int          `kiln:"timeout"` // seconds
	MaxGenerations int          `kiln:"max_generations"`
	ConsoleMode    string       `kiln:"console_mode"`
	Editor         bool         `kiln:"editor"`
	BootCounting   BootCounting `kiln:"boot_counting"`
}

// BootCounting is systemd's Automatic Boot Assessment.
type BootCounting struct {
	Tries int `kiln:"tries"` // boots a new generation gets to pass its health checks; 0: off
}

// HealthCheck is one health_checks "NAME" block: a command that must exit
// 0 and units that must be active.
type HealthCheck struct {
	Enable  bool     `kiln:"enable"`
	Command string   `kiln:"command"`
	Timeout string   `kiln:"timeout"`
	Units   []string `kiln:"units"`
}

// EtcFile is one file under /etc: Text or Source (a path, resolved relative
// to the defining file), never both.
type EtcFile struct {
	Text   string `kiln:"text"`
	Source string `kiln:"source"`
	Mode   string `kiln:"mode"` // octal, e.g. "0644"; empty: a symlink into /etc/static
}

type Console struct {
	SerialGetty   bool   `kiln:"serial_getty"`
	AutologinUser string `kiln:"autologin_user"`
}

type SSH struct {
	Enable                 bool `kiln:"enable"`
	Port                   int  `kiln:"port"`
	PasswordAuthentication bool `kiln:"password_authentication"`
}

// Impermanence is the ephemeral root: what survives a reboot.
type Impermanence struct {
	Enable      bool     `kiln:"enable"`
	Path        string   `kiln:"path"`
	Directories []string `kiln:"directories"`
	Files       []string `kiln:"files"`
}

// Testing holds what only test systems set.
type Documentation struct {
	Enable bool `kiln:"enable"`
}

type Testing struct {
	// Backdoor adds kiln-backdoor.service: a root shell on /dev/hvc0 that
	// the VM test driver speaks to.
	Backdoor bool `kiln:"backdoor"`
}

// PackageSet answers pkgs.NAME references during evaluation. modules stays
// pure: the caller backs it with kiln.lock and the store (for builds) or with
// the Debian index (for `kiln lock`).
type PackageSet interface {
	// Path returns the store path of a package, e.g. "/kiln/store/…-nginx".
	Path(name string) (string, bool)
	// Names lists every known package name, for "did you mean" suggestions.
	Names() []string
}

type Nginx struct {
	VirtualHosts map[string]NginxVirtualHost `kiln:"virtual_hosts"`
}

type NginxVirtualHost struct {
	ServerNames []string `kiln:"server_names"`
	Listen      int      `kiln:"listen"`
	Root        string   `kiln:"root"`
	ExtraConfig string   `kiln:"extra_config"`
}

type Redis struct {
	Enable bool     `kiln:"enable"`
	Bind   []string `kiln:"bind"`
	Port   int      `kiln:"port"`
}

type PostgreSQL struct {
	Enable    bool                          `kiln:"enable"`
	Port      int                           `kiln:"port"`
	Roles     map[string]PostgreSQLRole     `kiln:"roles"`
	Databases map[string]PostgreSQLDatabase `kiln:"databases"`
}

type PostgreSQLRole struct {
	Login bool `kiln:"login"`
}

type PostgreSQLDatabase struct {
	Owner string `kiln:"owner"`
}
