package toplevel

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// capNames are Linux's capabilities by number (linux/capability.h, 6.1).
var capNames = []string{
	"chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
	"setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
	"ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
	"sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
	"lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
	"wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
}

// FileCapabilities is a program's file capabilities, as setcap sets them.
type FileCapabilities struct {
	Permitted, Inheritable uint64 // bit n: capability n
	Effective              bool   // raised on exec (file capabilities' one effective flag)
}

// ParseCapabilities reads setcap's text form (libcap's cap_from_text:
// clauses such as "cap_net_raw+ep" or "cap_dac_override,cap_net_admin=ep",
// separated by spaces; "all" or an empty list before "=" is every
// capability).
func ParseCapabilities(text string) (FileCapabilities, error) {
	var perm, inh, eff uint64
	all := uint64(1)<<len(capNames) - 1
	clauses := strings.Fields(text)
	if len(clauses) == 0 {
		return FileCapabilities{}, fmt.Errorf("capabilities %q: empty", text)
	}
	for _, cl := range clauses {
		i := strings.IndexAny(cl, "=+-")
		if i < 0 {
			return FileCapabilities{}, fmt.Errorf("capabilities %q: %q has no operator (=, + or -)", text, cl)
		}
		var set uint64
		if names := cl[:i]; names == "" || strings.EqualFold(names, "all") {
			set = all
		} else {
			for _, n := range strings.Split(names, ",") {
				c := capNumber(n)
				if c < 0 {
					return FileCapabilities{}, fmt.Errorf("capabilities %q: unknown capability %q", text, n)
				}
				set |= 1 << c
			}
		}
		for ops := cl[i:]; ops != ""; {
			op := ops[0]
			j := 1
			for j < len(ops) && strings.IndexByte("=+-", ops[j]) < 0 {
				j++
			}
			flags := ops[1:j]
			ops = ops[j:]
			if op == '=' {
				perm, inh, eff = perm&^set, inh&^set, eff&^set
			}
			for _, f := range flags {
				var target *uint64
				switch f {
				case 'p':
					target = &perm
				case 'i':
					target = &inh
				case 'e':
					target = &eff
				default:
					return FileCapabilities{}, fmt.Errorf("capabilities %q: flag %q (want e, i or p)", text, f)
				}
				if op == '-' {
					*target &^= set
				} else {
					*target |= set
				}
			}
		}
	}
	if eff != 0 && eff != perm|inh {
		// A file has one effective flag: every capability it gains is
		// raised, or none (setcap refuses the same).
		return FileCapabilities{}, fmt.Errorf("capabilities %q: the effective set must be empty or all of the permitted and inheritable ones", text)
	}
	if perm|inh == 0 {
		return FileCapabilities{}, fmt.Errorf("capabilities %q: none permitted or inheritable", text)
	}
	return FileCapabilities{Permitted: perm, Inheritable: inh, Effective: eff != 0}, nil
}

func capNumber(name string) int {
	n := strings.TrimPrefix(strings.ToLower(name), "cap_")
	for i, c := range capNames {
		if c == n {
			return i
		}
	}
	return -1
}

// XattrName is the extended attribute holding file capabilities.
const XattrName = "security.capability"

// Xattr is the security.capability value of c (struct vfs_cap_data,
// revision 2: little-endian magic and flags, then the permitted and
// inheritable words of capabilities 0-31 and 32-63).
func (c FileCapabilities) Xattr() []byte {
	b := make([]byte, 20)
	magic := uint32(0x02000000)
	if c.Effective {
		magic |= 1
	}
	binary.LittleEndian.PutUint32(b[0:], magic)
	binary.LittleEndian.PutUint32(b[4:], uint32(c.Permitted))
	binary.LittleEndian.PutUint32(b[8:], uint32(c.Inheritable))
	binary.LittleEndian.PutUint32(b[12:], uint32(c.Permitted>>32))
	binary.LittleEndian.PutUint32(b[16:], uint32(c.Inheritable>>32))
	return b
}
