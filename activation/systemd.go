package activation

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// Systemd is what a switch asks of the service manager. Job methods wait
// for the job's result and return an error unless it is "done".
type Systemd interface {
	ListUnits(ctx context.Context) (map[string]UnitState, error)
	Stop(ctx context.Context, name string) error
	Start(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Reload(ctx context.Context, name string) error
	DaemonReload(ctx context.Context) error
	// Failed lists the units in the failed state, sorted.
	Failed(ctx context.Context) ([]string, error)
	// ResetFailed forgets a unit's failed state (systemctl reset-failed).
	ResetFailed(ctx context.Context, name string) error
	Close()
}

// ConnectSystemd connects to the system's systemd over D-Bus: the system
// bus when there is one, else (as root) systemd's private socket
// /run/systemd/private, which works without a D-Bus daemon. The
// connection is closed when ctx is done.
func ConnectSystemd(ctx context.Context) (Systemd, error) {
	c, err := sddbus.NewWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	return &dbusSystemd{c: c}, nil
}

type dbusSystemd struct{ c *sddbus.Conn }

func (s *dbusSystemd) Close() { s.c.Close() }

func (s *dbusSystemd) ListUnits(ctx context.Context) (map[string]UnitState, error) {
	list, err := s.c.ListUnitsContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("list units: %w", err)
	}
	out := make(map[string]UnitState, len(list))
	for _, u := range list {
		st := UnitState{Active: u.ActiveState, Sub: u.SubState}
		if strings.HasSuffix(u.Name, ".service") && st.running() {
			if p, err := s.c.GetServicePropertyContext(ctx, u.Name, "MainPID"); err == nil {
				if pid, ok := p.Value.Value().(uint32); ok {
					st.MainPID = pid
				}
			}
		}
		out[u.Name] = st
	}
	return out, nil
}

func (s *dbusSystemd) Stop(ctx context.Context, name string) error {
	err := s.job(ctx, "stop", name, s.c.StopUnitContext)
	if isNoSuchUnit(err) {
		return nil // already gone
	}
	return err
}

func (s *dbusSystemd) Start(ctx context.Context, name string) error {
	return s.job(ctx, "start", name, s.c.StartUnitContext)
}

func (s *dbusSystemd) Restart(ctx context.Context, name string) error {
	return s.job(ctx, "restart", name, s.c.RestartUnitContext)
}

func (s *dbusSystemd) Reload(ctx context.Context, name string) error {
	return s.job(ctx, "reload", name, s.c.ReloadUnitContext)
}

type jobFunc func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// job queues one job in "replace" mode and waits for its result.
func (s *dbusSystemd) job(ctx context.Context, verb, name string, f jobFunc) error {
	ch := make(chan string, 1)
	if _, err := f(ctx, name, "replace", ch); err != nil {
		return fmt.Errorf("%s %s: %w", verb, name, err)
	}
	select {
	case r := <-ch:
		if r != "done" {
			return fmt.Errorf("%s %s: job %s", verb, name, r)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", verb, name, ctx.Err())
	}
}

func (s *dbusSystemd) DaemonReload(ctx context.Context) error {
	if err := s.c.ReloadContext(ctx); err != nil {
		return fmt.Errorf("daemon-reload: %w", err)
	}
	return nil
}

func (s *dbusSystemd) Failed(ctx context.Context) ([]string, error) {
	list, err := s.c.ListUnitsFilteredContext(ctx, []string{"failed"})
	if err != nil {
		return nil, fmt.Errorf("list failed units: %w", err)
	}
	var out []string
	for _, u := range list {
		out = append(out, u.Name)
	}
	sort.Strings(out)
	return out, nil
}

func (s *dbusSystemd) ResetFailed(ctx context.Context, name string) error {
	if err := s.c.ResetFailedUnitContext(ctx, name); err != nil && !isNoSuchUnit(err) {
		return fmt.Errorf("reset-failed %s: %w", name, err)
	}
	return nil
}

func isNoSuchUnit(err error) bool {
	if e := new(godbus.Error); errors.As(err, &e) {
		return e.Name == "org.freedesktop.systemd1.NoSuchUnit"
	}
	var e godbus.Error
	return errors.As(err, &e) && e.Name == "org.freedesktop.systemd1.NoSuchUnit"
}
