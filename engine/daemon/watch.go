package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watch reloads the flow directory when its files change. Events are
// debounced: editors write a file in several steps.
func (d *Daemon) watch(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", d.opts.Dir, err)
	}
	if err := w.Add(d.opts.Dir); err != nil {
		w.Close()
		return fmt.Errorf("watch %s: %w", d.opts.Dir, err)
	}
	go func() {
		defer w.Close()
		var quiet <-chan time.Time
		var t *time.Timer
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Op == fsnotify.Chmod {
					continue
				}
				d.log.Debug("flow directory changed", "file", ev.Name, "op", ev.Op.String())
				if t != nil {
					t.Stop()
				}
				t = time.NewTimer(d.opts.Debounce)
				quiet = t.C
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Error("watching the flow directory", "err", err)
			case <-quiet:
				quiet = nil
				d.log.Info("reloading flows", "dir", d.opts.Dir)
				if err := d.Reload(ctx); err != nil {
					d.log.Error("reload failed", "err", err)
				}
			}
		}
	}()
	return nil
}
