package activation

import (
	"os"
	"syscall"
)

// ownedBy reports whether fi has owner uid and group gid (a negative id
// matches anything).
func ownedBy(fi os.FileInfo, uid, gid int) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	return (uid < 0 || int(st.Uid) == uid) && (gid < 0 || int(st.Gid) == gid)
}
