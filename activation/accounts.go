package activation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/internal/lineformat"
	"github.com/kiln-os/kiln/internal/versioned"
)

// table is one colon-separated account file (passwd, group, shadow,
// gshadow) in file order. Lines kiln cannot parse are kept verbatim.
type table struct {
	name    string // "passwd", …
	nfields int
	rows    [][]string
	made    map[int]bool // rows set by kiln (the others were read as they are)
}

func readTable(root, name string, nfields int) (*table, error) {
	t := &table{name: name, nfields: nfields}
	b, err := os.ReadFile(under(root, "/etc/"+name))
	if errors.Is(err, os.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read /etc/%s: %w", name, err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != nfields {
			f = []string{line} // a comment, NIS "+" line or damage: keep as is
		}
		t.rows = append(t.rows, f)
	}
	return t, nil
}

// find returns the row of name, or nil.
func (t *table) find(name string) []string {
	for _, r := range t.rows {
		if len(r) == t.nfields && r[0] == name {
			return r
		}
	}
	return nil
}

// set replaces name's row in place, or appends it.
func (t *table) set(row []string) {
	for i, r := range t.rows {
		if len(r) == t.nfields && r[0] == row[0] {
			t.rows[i] = row
			t.mark(i)
			return
		}
	}
	t.rows = append(t.rows, row)
	t.mark(len(t.rows) - 1)
}

func (t *table) mark(i int) {
	if t.made == nil {
		t.made = map[int]bool{}
	}
	t.made[i] = true
}

// byID returns the name of the row whose id field (index 2) is id, or "".
func (t *table) byID(id int) string {
	s := strconv.Itoa(id)
	for _, r := range t.rows {
		if len(r) == t.nfields && r[2] == s {
			return r[0]
		}
	}
	return ""
}

// bytes returns the file. Rows kiln made go through the colon file
// writer, which refuses a field that would add a record or a field; the
// others are written back as they were read.
func (t *table) bytes() ([]byte, error) {
	var b bytes.Buffer
	for i, r := range t.rows {
		if !t.made[i] {
			b.WriteString(strings.Join(r, ":") + "\n")
			continue
		}
		line, err := lineformat.ColonRecord(r...)
		if err != nil {
			return nil, fmt.Errorf("/etc/%s entry %q: %w", t.name, r[0], err)
		}
		b.WriteString(line)
	}
	return b.Bytes(), nil
}

func (t *table) clone() *table {
	c := &table{name: t.name, nfields: t.nfields, rows: make([][]string, len(t.rows)), made: map[int]bool{}}
	for i := range t.made {
		c.made[i] = true
	}
	for i, r := range t.rows {
		c.rows[i] = append([]string{}, r...)
	}
	return c
}

// idLookup resolves user and group names from a machine's passwd/group.
type idLookup struct{ passwd, group *table }

func readIDLookup(root string) (*idLookup, error) {
	p, err := readTable(root, "passwd", 7)
	if err != nil {
		return nil, err
	}
	g, err := readTable(root, "group", 4)
	if err != nil {
		return nil, err
	}
	return &idLookup{p, g}, nil
}

func (l *idLookup) uid(name string) (int, bool) { return lookupID(l.passwd, name) }
func (l *idLookup) gid(name string) (int, bool) { return lookupID(l.group, name) }

func lookupID(t *table, name string) (int, bool) {
	if name == "root" && t.find("root") == nil {
		return 0, true // a machine before its first activation
	}
	r := t.find(name)
	if r == nil {
		return 0, false
	}
	id, err := strconv.Atoi(r[2])
	return id, err == nil
}

// IDsFile records every id kiln ever gave a name, relative to the root:
// an id is never given to another name.
const IDsFile = "/kiln/var/lib/ids.json"

// IDsVersion is the version of ids.json written.
const IDsVersion = 1

// IDs is ids.json.
type IDs struct {
	Version int            `json:"version"`
	UIDs    map[string]int `json:"uids"`
	GIDs    map[string]int `json:"gids"`
}

// ReadIDs reads root's id allocation state; missing means empty.
func ReadIDs(root string) (IDs, error) {
	ids := IDs{Version: IDsVersion, UIDs: map[string]int{}, GIDs: map[string]int{}}
	name := under(root, IDsFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return ids, nil
	}
	if err != nil {
		return ids, fmt.Errorf("read ids: %w", err)
	}
	if _, err := versioned.Decode(b, IDsVersion, &ids); err != nil {
		return ids, fmt.Errorf("ids %s: %w", name, err)
	}
	if ids.UIDs == nil {
		ids.UIDs = map[string]int{}
	}
	if ids.GIDs == nil {
		ids.GIDs = map[string]int{}
	}
	return ids, nil
}

func (ids IDs) clone() IDs {
	c := IDs{Version: IDsVersion, UIDs: map[string]int{}, GIDs: map[string]int{}}
	for k, v := range ids.UIDs {
		c.UIDs[k] = v
	}
	for k, v := range ids.GIDs {
		c.GIDs[k] = v
	}
	return c
}
