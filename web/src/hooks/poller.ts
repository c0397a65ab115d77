// Poller runs a task now and then every interval after the previous run
// finishes (runs never overlap), and pauses while the page is hidden: a
// hidden tab costs the server nothing, and it catches up at once when the
// tab is shown again.

export interface PollerOptions {
  interval: number
  run: () => Promise<unknown> | unknown
  doc?: Pick<Document, 'hidden' | 'addEventListener' | 'removeEventListener'>
}

export class Poller {
  private timer: ReturnType<typeof setTimeout> | null = null
  private running = false
  private stopped = true
  private again = false
  private readonly opts: PollerOptions
  private readonly doc: PollerOptions['doc']

  constructor(opts: PollerOptions) {
    this.opts = opts
    this.doc = opts.doc ?? (typeof document === 'undefined' ? undefined : document)
  }

  private hidden() {
    return this.doc?.hidden ?? false
  }

  start() {
    if (!this.stopped) return
    this.stopped = false
    this.doc?.addEventListener('visibilitychange', this.onVisibility)
    void this.tick()
  }

  stop() {
    this.stopped = true
    this.clear()
    this.doc?.removeEventListener('visibilitychange', this.onVisibility)
  }

  /** Runs the task now (after the one in flight, if any). */
  poke() {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.clear()
    void this.tick()
  }

  /** Whether a next run is scheduled (false while paused or stopped). */
  get scheduled() {
    return this.timer !== null
  }

  private clear() {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private onVisibility = () => {
    if (this.hidden()) {
      this.clear()
    } else if (!this.running && this.timer === null) {
      void this.tick()
    }
  }

  private async tick() {
    this.timer = null
    if (this.stopped || this.hidden()) return
    this.running = true
    try {
      await this.opts.run()
    } catch {
      // the task reports its own errors
    } finally {
      this.running = false
    }
    if (this.stopped || this.hidden()) return
    if (this.again) {
      this.again = false
      void this.tick()
      return
    }
    this.timer = setTimeout(() => void this.tick(), this.opts.interval)
  }
}
