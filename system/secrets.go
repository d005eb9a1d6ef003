package system

import (
	"fmt"
	"os"
	"sort"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// planSecrets turns the secrets option into the activation spec's
// secrets: each file's ciphertext (refused unless it is an age file: a
// plaintext would enter the world-readable store) and the units that
// declare they read it.
func planSecrets(sys *modules.System) ([]toplevel.Secret, error) {
	consumers := map[string][]string{}
	use := func(unit, option string, names []string) error {
		for _, n := range names {
			if _, ok := sys.Secrets[n]; !ok {
				return fmt.Errorf("%s: secret %q is not declared (secrets %q { file = \"...\" })", option, n, n)
			}
			consumers[n] = appendUnique(consumers[n], unit)
		}
		return nil
	}
	for _, name := range sortedNames(sys.Services) {
		s := sys.Services[name]
		if !s.Enable {
			continue
		}
		if err := use(name+".service", fmt.Sprintf("services.%s.secrets", name), s.Secrets); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedNames(sys.Units) {
		if err := use(name, fmt.Sprintf("units.%q.secrets", name), sys.Units[name].Secrets); err != nil {
			return nil, err
		}
	}
	var out []toplevel.Secret
	for _, name := range sortedNames(sys.Secrets) {
		s := sys.Secrets[name]
		if !toplevel.ValidSecretName(name) {
			return nil, fmt.Errorf("secrets %q: invalid name (letters, digits, - _ . @)", name)
		}
		if s.File == "" {
			return nil, fmt.Errorf("secrets %q: file is not set", name)
		}
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("secrets %q: %w", name, err)
		}
		if !toplevel.IsAgeFile(b) {
			return nil, fmt.Errorf("secrets %q: %s is not age-encrypted, and would enter the world-readable store: encrypt it with kiln secrets edit", name, s.File)
		}
		if _, err := toplevel.ParseMode(s.Mode); err != nil {
			return nil, fmt.Errorf("secrets %q: %w", name, err)
		}
		units := consumers[name]
		sort.Strings(units)
		out = append(out, toplevel.Secret{Name: name, Age: b, Owner: orRoot(s.Owner), Group: orRoot(s.Group), Mode: s.Mode, Units: units})
	}
	return out, nil
}
