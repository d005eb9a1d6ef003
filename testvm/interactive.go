package testvm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// RunInteractive makes p's files (ApplyVM) and runs QEMU in the foreground
// with stdin, stdout and stderr attached (kiln vm: the serial console is
// the caller's terminal), until QEMU exits.
func RunInteractive(ctx context.Context, p *VMPlan, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := ApplyVM(p); err != nil {
		return err
	}
	argv := p.Command()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := attachStdin(cmd, stdin); err != nil {
		return err
	}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("qemu: %v", err)
		}
		return fmt.Errorf("run qemu: %w", err)
	}
	return nil
}

// attachStdin gives QEMU the terminal directly. Other readers (tests) are
// copied through a pipe by a goroutine that is left behind when QEMU
// exits: os/exec would wait for it to see the reader's end.
func attachStdin(cmd *exec.Cmd, in io.Reader) error {
	if in == nil {
		return nil
	}
	if f, ok := in.(*os.File); ok {
		cmd.Stdin = f
		return nil
	}
	w, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("qemu stdin: %w", err)
	}
	go func() {
		io.Copy(w, in)
		w.Close()
	}()
	return nil
}
