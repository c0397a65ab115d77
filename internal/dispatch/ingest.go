package dispatch

import (
	"context"
	"strings"
	"time"

	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// The high-volume reports — runtime logs every few seconds, stats every ten
// and heartbeats every thirty from every worker — are verified and decoded
// in the worker's read loop, then written in batches by one goroutine: one
// ownership query and one transaction per kind per batch instead of several
// per message. (It also keeps the read loops away from the database, so
// their stacks stay small: a hub holds thousands of them.) A
// full queue blocks the read loop, which stops reading that socket: back
// pressure instead of unbounded memory.
const (
	// ingestQueue holds about a second of reports from 10,000 workers.
	ingestQueue   = 4096
	ingestMaxWait = 100 * time.Millisecond
)

type ingestItem struct {
	workerID  int64
	logs      []wsproto.RuntimeLogLine
	stats     *wsproto.AppStatsPayload
	heartbeat *heartbeatItem
}

type heartbeatItem struct {
	at        time.Time
	resources string
	appsJSON  string
	apps      []wsproto.HeartbeatApp
}

func (d *Dispatcher) enqueueIngest(ctx context.Context, it ingestItem) error {
	select {
	case d.ingestCh <- it:
		return nil
	default:
	}
	// The queue is full: have the writer start now, then wait for room.
	select {
	case d.ingestFull <- struct{}{}:
	default:
	}
	select {
	case d.ingestCh <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runIngest batches queued reports until ctx is done, then writes what is
// left. After the first report of a batch it sleeps for ingestMaxWait and
// then takes everything queued, rather than waking for each report as it
// comes: at thousands of reports a second those wake-ups cost more than
// the batch's writes.
func (d *Dispatcher) runIngest(ctx context.Context) {
	timer := time.NewTimer(ingestMaxWait)
	timer.Stop()
	for {
		var batch []ingestItem
		select {
		case it := <-d.ingestCh:
			batch = append(batch, it)
		case <-ctx.Done():
			d.flushIngest(d.drainIngest(nil))
			return
		}
		timer.Reset(ingestMaxWait)
		select {
		case <-timer.C:
		case <-d.ingestFull:
			timer.Stop() // a burst: write now rather than hold up the senders
		case <-ctx.Done():
			timer.Stop()
		}
		d.flushIngest(d.drainIngest(batch))
	}
}

func (d *Dispatcher) drainIngest(batch []ingestItem) []ingestItem {
	for len(batch) < ingestQueue {
		select {
		case it := <-d.ingestCh:
			batch = append(batch, it)
		default:
			return batch
		}
	}
	return batch
}

// placements returns where each of ids is placed (apps that do not exist
// are left out). It answers from a cache kept for as long as the store's
// routes generation stands, which every write to apps bumps, so a steady
// stream of reports costs no query at all; after a change, one query per
// batch refills it.
func (d *Dispatcher) placements(ctx context.Context, ids map[string]bool) map[string]store.AppPlacement {
	gen := d.store.RoutesGeneration() // before the query: a write during it invalidates what it read
	if gen != d.placeGen || d.placeCache == nil || len(d.placeCache) > placeCacheMax {
		d.placeGen, d.placeCache, d.placeMissing = gen, map[string]store.AppPlacement{}, map[string]bool{}
	}
	var missing []string
	for id := range ids {
		if _, ok := d.placeCache[id]; !ok && !d.placeMissing[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		got, err := d.store.AppPlacements(ctx, missing)
		if err != nil {
			d.log.Error("check report ownership", "apps", len(missing), "err", err)
			d.placeCache = nil // nothing learnt; try again next batch
			return map[string]store.AppPlacement{}
		}
		for _, id := range missing {
			if p, ok := got[id]; ok {
				d.placeCache[strings.Clone(id)] = p
			} else {
				d.placeMissing[strings.Clone(id)] = true
			}
		}
	}
	return d.placeCache
}

// ownStream returns stream as a string of its own (see the log bus push).
func ownStream(stream string) string {
	switch stream {
	case "stdout":
		return "stdout"
	case "stderr":
		return "stderr"
	}
	return strings.Clone(stream)
}

// heartbeatPersistEvery: see flushIngest.
const heartbeatPersistEvery = 2 * time.Minute

// hbWrite is what was last written of a worker's heartbeat.
type hbWrite struct {
	at   time.Time
	apps string
}

// placeCacheMax bounds the placement cache (a reset refills it).
const placeCacheMax = 200_000

// flushIngest writes one batch. It runs to completion even during
// shutdown: these messages were already accepted from the worker.
func (d *Dispatcher) flushIngest(batch []ingestItem) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// A worker may only report on apps placed on it.
	ids := map[string]bool{}
	for _, it := range batch {
		for _, l := range it.logs {
			ids[l.AppID] = true
		}
		if it.stats != nil {
			for _, s := range it.stats.Apps {
				ids[s.AppID] = true
			}
		}
		if it.heartbeat != nil {
			for _, a := range it.heartbeat.apps {
				ids[a.AppID] = true
			}
		}
	}
	placed := d.placements(ctx, ids)
	owned := func(wid int64, appID string) bool {
		p, ok := placed[appID]
		return ok && p.WorkerID == wid
	}

	// A worker's heartbeat row is rewritten when its app list changed or
	// heartbeatPersistEvery has passed, not every 30 s: whether it is
	// online, and when it was last heard, are the hub's live knowledge
	// (the API shows the newer of the two), and resources a couple of
	// minutes old serve placement as well.
	if d.hbWritten == nil {
		d.hbWritten = map[int64]hbWrite{}
	}
	var hbs []store.WorkerHeartbeat
	for _, it := range batch {
		if hb := it.heartbeat; hb != nil {
			prev, ok := d.hbWritten[it.workerID]
			if ok && prev.apps == hb.appsJSON && hb.at.Sub(prev.at) < heartbeatPersistEvery {
				continue
			}
			d.hbWritten[it.workerID] = hbWrite{at: hb.at, apps: hb.appsJSON}
			hbs = append(hbs, store.WorkerHeartbeat{WorkerID: it.workerID, At: hb.at, ResourcesJSON: hb.resources, AppsJSON: hb.appsJSON})
		}
	}
	if err := d.store.UpdateWorkerHeartbeats(ctx, hbs); err != nil {
		d.log.Error("store heartbeats", "workers", len(hbs), "err", err)
	}
	// Level-triggered reconciliation: what the worker runs is the truth
	// about each app's container — unless something newer was recorded
	// since the heartbeat arrived (a job result or an app_status applied
	// while it waited in this queue): a stale heartbeat must not undo it,
	// and the next one heals any real difference.
	for _, it := range batch {
		hb := it.heartbeat
		if hb == nil {
			continue
		}
		for _, a := range hb.apps {
			p := placed[a.AppID]
			if owned(it.workerID, a.AppID) && a.Status != "" && p.Status != a.Status &&
				p.UpdatedAt.Before(hb.at.Truncate(time.Millisecond)) {
				_ = d.store.SetAppStatus(ctx, a.AppID, a.Status, "")
			}
		}
	}

	// Runtime logs go to the app's log file, one Append (one write) per
	// app per batch, in the order they arrived.
	byApp := map[string][]logstore.Line{}
	var order []string
	var stats []store.AppStat
	for _, it := range batch {
		for _, l := range it.logs {
			if owned(it.workerID, l.AppID) {
				if _, ok := byApp[l.AppID]; !ok {
					order = append(order, l.AppID)
				}
				byApp[l.AppID] = append(byApp[l.AppID], logstore.Line{Stream: l.Stream, Msg: l.Msg, At: l.At})
			}
		}
		if it.stats != nil {
			at := it.stats.At
			if at.IsZero() {
				at = d.now()
			}
			for _, s := range it.stats.Apps {
				if owned(it.workerID, s.AppID) {
					stats = append(stats, store.AppStat{AppID: s.AppID, At: at, CPUPercent: s.CPUPercent, MemBytes: s.MemBytes,
						MemLimitBytes: s.MemLimitBytes, NetRxBytes: s.NetRxBytes, NetTxBytes: s.NetTxBytes, PIDs: s.PIDs})
				}
			}
		}
	}
	for _, app := range order {
		lines := byApp[app]
		if err := d.rlogs.Append(app, lines); err != nil {
			d.log.Error("store runtime logs", "app_id", app, "lines", len(lines), "err", err)
			continue
		}
		// After the write: a live reader woken by the bus finds them.
		// The bus keeps its lines a while: copies, so that they do not
		// pin the whole received message (the decoder's strings share it).
		key := strings.Clone(app)
		for _, l := range lines {
			d.logs.Push(key, ownStream(l.Stream), strings.Clone(l.Msg), l.At)
		}
	}
	if len(stats) > 0 {
		if err := d.store.InsertAppStats(ctx, stats); err != nil {
			d.log.Error("store app stats", "rows", len(stats), "err", err)
		}
	}
}
