package testdriver

import (
	"context"
	"time"

	"github.com/kiln-os/kiln/testvm"
)

var _ Machine = (*testvm.Machine)(nil)

// StartVM boots a machine under QEMU with testvm, for Env.Start. opts
// come first, so the spec's memory and CPUs win over them.
func StartVM(opts ...testvm.Option) func(ctx context.Context, m *MachineSpec, image string, timeout time.Duration) (Machine, error) {
	return func(ctx context.Context, m *MachineSpec, image string, timeout time.Duration) (Machine, error) {
		o := append([]testvm.Option{}, opts...)
		o = append(o, testvm.WithName(m.Name), testvm.WithDisk(image), testvm.WithTimeout(timeout))
		if m.MemoryMB != 0 {
			o = append(o, testvm.WithMemory(m.MemoryMB))
		}
		if m.CPUs != 0 {
			o = append(o, testvm.WithCPUs(m.CPUs))
		}
		vm, err := testvm.StartCtx(ctx, o...)
		if err != nil {
			return nil, err
		}
		return vm, nil
	}
}
