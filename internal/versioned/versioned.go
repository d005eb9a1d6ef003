// Package versioned decodes kiln's versioned JSON contracts (the lock,
// bootspecs, activation specs, stage-1 configs, store records, switch
// journals, etc ledgers, id tables) with one policy:
//
//   - a file of a version newer than this kiln knows is refused before
//     anything else is read, with an error naming both versions (a newer
//     kiln wrote it: its fields may mean what this kiln cannot know);
//   - a file of any version from 1 to the current one is read into
//     today's type (a version only adds fields, so an older file decodes
//     as is; the caller upgrades what changed, knowing the version read);
//   - a file without a version, or with a field the type lacks, is refused
//     (kiln did not write it).
//
// Callers name the file in their own error ("read lock FILE: ...").
package versioned

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnsupported is the error of a version this kiln cannot read.
var ErrUnsupported = errors.New("unsupported version")

// VersionError reports a version outside 1..Max.
type VersionError struct {
	Got, Max int
}

func (e *VersionError) Error() string {
	reads := fmt.Sprintf("this kiln reads 1 to %d", e.Max)
	if e.Max == 1 {
		reads = "this kiln reads version 1"
	}
	msg := fmt.Sprintf("version %d not supported (%s)", e.Got, reads)
	if e.Got > e.Max {
		msg += ": it was written by a newer kiln"
	}
	return msg
}

// Is makes errors.Is(err, ErrUnsupported) hold.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupported }

// Decode decodes data, a JSON object with a "version" field, into v (a
// pointer to a struct) and returns the version it read. See the package
// comment for the policy; the errors of a version are *VersionError.
func Decode(data []byte, current int, v any) (int, error) {
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return 0, err
	}
	if probe.Version < 1 || probe.Version > current {
		return probe.Version, &VersionError{Got: probe.Version, Max: current}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return probe.Version, err
	}
	return probe.Version, nil
}
