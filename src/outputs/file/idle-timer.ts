/**
 * Calls `onIdle` once `idleMs` have passed since the last `touch()` while armed. One timer,
 * re-armed lazily when it fires early (no timer work per write). `idleMs <= 0` disables it.
 * The timer is unref'd: it never keeps the process alive.
 */
export class IdleTimer {
  private readonly idleMs: number;
  private readonly onIdle: () => void;
  private timer: NodeJS.Timeout | undefined;
  private lastTouch = Date.now();

  constructor(idleMs: number, onIdle: () => void) {
    this.idleMs = idleMs;
    this.onIdle = onIdle;
  }

  touch(): void {
    this.lastTouch = Date.now();
  }

  /** True when nothing touched it for idleMs (always false when disabled). */
  get idle(): boolean {
    return this.idleMs > 0 && Date.now() - this.lastTouch >= this.idleMs;
  }

  arm(delay = this.idleMs): void {
    if (this.idleMs <= 0) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const quietFor = Date.now() - this.lastTouch;
      if (quietFor < this.idleMs) this.arm(this.idleMs - quietFor);
      else this.onIdle();
    }, delay);
    this.timer.unref();
  }

  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
