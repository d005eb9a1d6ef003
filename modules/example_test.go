package modules_test

import (
	"fmt"

	"github.com/kiln-os/kiln/modules"
)

func ExampleLoad() {
	cfg, diags := modules.Load("testdata/refs/host.hcl", modules.LoadOptions{})
	if diags.HasErrors() {
		fmt.Print(modules.DiagnosticText(diags, 0))
		return
	}
	fmt.Println(cfg.System.Networking.HostName)
	fmt.Println(cfg.System.Services["nginx"].ExecStart)
	fmt.Println(cfg.System.Packages[len(cfg.System.Packages)-2:])
	for _, d := range cfg.Explain("networking.host_name") {
		fmt.Println(d.Location(), d.Priority, d.Won)
	}
	// Output:
	// web
	// /kiln/store/00000000000000000000000000000000-nginx/usr/sbin/nginx -g 'daemon off;'
	// [vim iputils-ping]
	// core 1500 false
	// testdata/refs/host.hcl:6 100 true
}
