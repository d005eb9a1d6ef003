package system

import (
	"testing"

	"github.com/kiln-os/kiln/modules"
	"github.com/kiln-os/kiln/toplevel"
)

// toplevel.DefaultLoader stands for the bootloader options' defaults on
// machines whose generation records none: it must be those defaults.
func TestDefaultLoaderIsTheModulesDefaults(t *testing.T) {
	cfg, diags := modules.Load("", modules.LoadOptions{})
	if diags.HasErrors() {
		t.Fatal(modules.DiagnosticText(diags, 0))
	}
	if got := loaderOf(&cfg.System); got != toplevel.DefaultLoader {
		t.Errorf("the default system's loader settings are %+v, toplevel.DefaultLoader is %+v", got, toplevel.DefaultLoader)
	}
}
