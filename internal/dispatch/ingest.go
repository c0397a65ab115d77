package dispatch

import (
	"context"
	"time"

	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// The high-volume reports — runtime logs every few seconds and stats every
// ten from every worker — are verified and decoded in the worker's read
// loop, then written in batches by one goroutine: one ownership query per
// worker and one transaction per batch instead of several per message. A
// full queue blocks the read loop, which stops reading that socket: back
// pressure instead of unbounded memory.
const (
	ingestQueue    = 1024
	ingestMaxWait  = 100 * time.Millisecond
	ingestMaxItems = 256
)

type ingestItem struct {
	workerID int64
	logs     []wsproto.RuntimeLogLine
	stats    *wsproto.AppStatsPayload
}

func (d *Dispatcher) enqueueIngest(ctx context.Context, it ingestItem) error {
	select {
	case d.ingestCh <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runIngest batches queued reports until ctx is done, then writes what is
// left.
func (d *Dispatcher) runIngest(ctx context.Context) {
	for {
		var batch []ingestItem
		select {
		case it := <-d.ingestCh:
			batch = append(batch, it)
		case <-ctx.Done():
			d.flushIngest(d.drainIngest(nil))
			return
		}
		timer := time.NewTimer(ingestMaxWait)
	fill:
		for len(batch) < ingestMaxItems {
			select {
			case it := <-d.ingestCh:
				batch = append(batch, it)
			case <-timer.C:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
		timer.Stop()
		d.flushIngest(batch)
	}
}

func (d *Dispatcher) drainIngest(batch []ingestItem) []ingestItem {
	for {
		select {
		case it := <-d.ingestCh:
			batch = append(batch, it)
		default:
			return batch
		}
	}
}

// flushIngest writes one batch. It runs to completion even during
// shutdown: these messages were already accepted from the worker.
func (d *Dispatcher) flushIngest(batch []ingestItem) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A worker may only report on apps placed on it: one query per worker.
	refs := map[int64]map[string]bool{}
	for _, it := range batch {
		m := refs[it.workerID]
		if m == nil {
			m = map[string]bool{}
			refs[it.workerID] = m
		}
		for _, l := range it.logs {
			m[l.AppID] = true
		}
		if it.stats != nil {
			for _, s := range it.stats.Apps {
				m[s.AppID] = true
			}
		}
	}
	owned := make(map[int64]map[string]bool, len(refs))
	for wid, ids := range refs {
		list := make([]string, 0, len(ids))
		for id := range ids {
			list = append(list, id)
		}
		m, err := d.store.AppIDsOnWorker(ctx, wid, list)
		if err != nil {
			d.log.Error("check report ownership", "worker_id", wid, "err", err)
			m = map[string]bool{}
		}
		owned[wid] = m
	}

	var lines []store.RuntimeLogLine
	var stats []store.AppStat
	for _, it := range batch {
		mine := owned[it.workerID]
		for _, l := range it.logs {
			if mine[l.AppID] {
				lines = append(lines, store.RuntimeLogLine{AppID: l.AppID, Stream: l.Stream, Msg: l.Msg, At: l.At})
			}
		}
		if it.stats != nil {
			at := it.stats.At
			if at.IsZero() {
				at = d.now()
			}
			for _, s := range it.stats.Apps {
				if mine[s.AppID] {
					stats = append(stats, store.AppStat{AppID: s.AppID, At: at, CPUPercent: s.CPUPercent, MemBytes: s.MemBytes,
						MemLimitBytes: s.MemLimitBytes, NetRxBytes: s.NetRxBytes, NetTxBytes: s.NetTxBytes, PIDs: s.PIDs})
				}
			}
		}
	}
	if len(lines) > 0 {
		if _, err := d.store.InsertRuntimeLogs(ctx, lines); err != nil {
			d.log.Error("store runtime logs", "lines", len(lines), "err", err)
		} else {
			// After the insert: a live reader woken by the bus finds them.
			for _, l := range lines {
				d.logs.Push(l.AppID, l.Stream, l.Msg, l.At)
			}
		}
	}
	if len(stats) > 0 {
		if err := d.store.InsertAppStats(ctx, stats); err != nil {
			d.log.Error("store app stats", "rows", len(stats), "err", err)
		}
	}
}
