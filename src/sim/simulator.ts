/**
 * The discrete-event simulation kernel.
 *
 * Simulated time is a float64 count of nanoseconds. Entities and protocols implement
 * {@link EventHandler}, register once to get a handler id, and schedule events addressed to a handler
 * id with an int32 `kind` and a numeric `data` payload — no closure or object is allocated per event.
 * Events fire in order of time; events at the same time fire in the order they were scheduled
 * (including events scheduled from inside handlers), so a run is fully determined by its inputs.
 *
 * @module
 */

import { type EventId, EventQueue } from "./event-queue.js";

/** Something that receives events. Register it with {@link Simulator.register}. */
export interface EventHandler {
  /**
   * Called when an event addressed to this handler fires. `sim.now` is the event's time. The handler
   * may schedule, cancel, register and call {@link Simulator.stop}; it must not call `run`.
   *
   * @param kind - the int32 given to `schedule` (0 by default).
   * @param data - the number given to `schedule` (0 by default).
   * @param sim - the simulator, for scheduling follow-up events.
   */
  handleEvent(kind: number, data: number, sim: Simulator): void;
}

/**
 * Observes every event just before its handler runs. Set with {@link Simulator.setTrace}.
 *
 * @param timeNs - the event's time in ns (equal to `sim.now`).
 * @param handlerId - the handler the event is addressed to.
 * @param kind - the event's kind.
 * @param data - the event's data.
 */
export type TraceFn = (timeNs: number, handlerId: number, kind: number, data: number) => void;

/** Why {@link Simulator.run} returned. */
export type StopReason =
  /** The next pending event is later than `untilNs`. */
  | "until"
  /** `stopWhen()` returned true. */
  | "condition"
  /** No events are pending. */
  | "empty"
  /** `maxEvents` events were processed. */
  | "maxEvents"
  /** A handler called {@link Simulator.stop}. */
  | "stopped";

/** Limits for {@link Simulator.run}. With none, it runs until no events are pending. */
export interface RunOptions {
  /**
   * Simulated time in ns up to which to run. Events at exactly `untilNs` are processed; the run stops
   * before the first event later than it, and the clock is then set to `untilNs` (also when the queue
   * runs dry first). Must be ≥ `now`. Default `Infinity` (no time limit).
   */
  untilNs?: number;
  /**
   * Checked before the first event and after each event; the run stops as soon as it returns true.
   * Its cost is paid only when given. Default: none.
   */
  stopWhen?: () => boolean;
  /**
   * Maximum number of events to process in this call (cancelled events don't count). A non-negative
   * integer or `Infinity`. Default `Infinity`.
   */
  maxEvents?: number;
}

/** What {@link Simulator.run} did. */
export interface RunResult {
  /** Events processed (handlers called) during this call. */
  events: number;
  /** Why the run stopped. */
  reason: StopReason;
  /** The clock when the run stopped, in ns. */
  nowNs: number;
}

/** Options for {@link Simulator}. */
export interface SimulatorOptions {
  /** Events the queue holds before its first growth (it doubles as needed). Default 1024. */
  initialCapacity?: number;
  /** Start time of the clock, in ns. Default 0. */
  startNs?: number;
}

/**
 * The event loop: a clock, a queue of pending events, and the registered handlers.
 *
 * @example
 * const sim = new Simulator();
 * const id = sim.register({ handleEvent(kind, data, s) { if (data < 3) s.schedule(10, id, kind, data + 1); } });
 * sim.schedule(0, id);
 * sim.run(); // { events: 4, reason: "empty", nowNs: 30 }
 */
export class Simulator {
  private readonly queue: EventQueue;
  private readonly handlers: EventHandler[] = [];
  // Numeric fields get a numeric initialiser so V8 gives them a double representation from the start
  // (a field declared without one starts as `undefined` and ends up tagged: every store would box).
  private clock = 0;
  private trace: TraceFn | null = null;
  private running = false;
  private stopRequested = false;
  private processed = 0;

  constructor(options: SimulatorOptions = {}) {
    const start = options.startNs ?? 0;
    if (!Number.isFinite(start)) throw new RangeError(`Simulator: startNs must be finite, got ${start}`);
    this.queue = new EventQueue(options.initialCapacity ?? 1024);
    this.clock = start;
  }

  /** The current simulated time in ns. During a handler it is that event's time. */
  get now(): number {
    return this.clock;
  }

  /** Number of pending events (scheduled, not yet fired, not cancelled). */
  get pending(): number {
    return this.queue.size;
  }

  /** Total events processed over the simulator's lifetime. */
  get eventsProcessed(): number {
    return this.processed;
  }

  /** True while {@link Simulator.run} is executing. */
  get isRunning(): boolean {
    return this.running;
  }

  /** Time of the next pending event in ns, or `Infinity` if none. */
  nextEventTime(): number {
    return this.queue.peekTime();
  }

  /** Adds a handler and returns its id (0, 1, 2, … in registration order). */
  register(handler: EventHandler): number {
    if (handler === null || typeof handler !== "object" || typeof handler.handleEvent !== "function") {
      throw new TypeError("Simulator.register: handler must be an object with a handleEvent method");
    }
    this.handlers.push(handler);
    return this.handlers.length - 1;
  }

  /**
   * Schedules an event `delayNs` after now.
   *
   * @param delayNs - delay in ns, finite and ≥ 0. A zero delay fires after every event already
   *   scheduled for the current time.
   * @param handlerId - a registered handler's id.
   * @param kind - an int32 passed to the handler; default 0.
   * @param data - a number passed to the handler; default 0.
   * @returns an id for {@link Simulator.cancel}; never 0.
   */
  schedule(delayNs: number, handlerId: number, kind = 0, data = 0): EventId {
    if (!(delayNs >= 0 && delayNs < Number.POSITIVE_INFINITY)) {
      throw new RangeError(`Simulator.schedule: delayNs must be finite and >= 0, got ${delayNs}`);
    }
    if (this.handlers[handlerId] === undefined) this.badHandler("schedule", handlerId);
    if ((kind | 0) !== kind) this.badKind("schedule", kind);
    return this.queue.push(this.clock + delayNs, handlerId, kind, data);
  }

  /**
   * Schedules an event at an absolute time.
   *
   * @param timeNs - when it fires, in ns; finite and ≥ now.
   * @param handlerId - a registered handler's id.
   * @param kind - an int32 passed to the handler; default 0.
   * @param data - a number passed to the handler; default 0.
   * @returns an id for {@link Simulator.cancel}; never 0.
   */
  scheduleAt(timeNs: number, handlerId: number, kind = 0, data = 0): EventId {
    if (!(timeNs >= this.clock && timeNs < Number.POSITIVE_INFINITY)) {
      throw new RangeError(
        `Simulator.scheduleAt: timeNs must be finite and >= now (${this.clock}), got ${timeNs}`,
      );
    }
    if (this.handlers[handlerId] === undefined) this.badHandler("scheduleAt", handlerId);
    if ((kind | 0) !== kind) this.badKind("scheduleAt", kind);
    return this.queue.push(timeNs, handlerId, kind, data);
  }

  /**
   * Cancels a pending event. Returns true if it was pending; false if it already fired, was already
   * cancelled, or the id is not one this simulator issued for a still-pending event.
   */
  cancel(id: EventId): boolean {
    return this.queue.cancel(id);
  }

  /** True if the event `id` is pending (scheduled, not yet fired, not cancelled). */
  isPending(id: EventId): boolean {
    return this.queue.isPending(id);
  }

  /**
   * Sets (or with `null` removes) the trace hook, called for every event just before its handler.
   * Takes effect at the next {@link Simulator.run}: the loop without a trace hook pays nothing for it.
   */
  setTrace(fn: TraceFn | null): void {
    if (fn !== null && typeof fn !== "function") {
      throw new TypeError("Simulator.setTrace: expected a function or null");
    }
    this.trace = fn;
  }

  /**
   * Asks the current {@link Simulator.run} to return after the event being handled (reason
   * `"stopped"`). Outside a run it does nothing.
   */
  stop(): void {
    if (this.running) this.stopRequested = true;
  }

  /**
   * Processes events in order until a limit is reached or none are pending.
   *
   * Checks after each event, in this order: `stop()` was called → `"stopped"`; `stopWhen()` →
   * `"condition"`; `maxEvents` reached → `"maxEvents"`. Before each event: nothing pending →
   * `"empty"`; next event later than `untilNs` → `"until"`. When the run ends for lack of events at or
   * before a finite `untilNs` (reason `"until"` or `"empty"`), the clock is set to `untilNs`.
   *
   * If a handler throws, the run ends and the error propagates; the clock stays at that event's time
   * and the remaining events stay pending.
   */
  run(options: RunOptions = {}): RunResult {
    if (this.running)
      throw new Error("Simulator.run: already running (run() cannot be called from a handler)");
    const untilNs = options.untilNs ?? Number.POSITIVE_INFINITY;
    const maxEvents = options.maxEvents ?? Number.POSITIVE_INFINITY;
    const stopWhen = options.stopWhen;
    if (!(untilNs >= this.clock)) {
      throw new RangeError(`Simulator.run: untilNs must be >= now (${this.clock}), got ${untilNs}`);
    }
    if (!(maxEvents >= 0 && (Number.isInteger(maxEvents) || maxEvents === Number.POSITIVE_INFINITY))) {
      throw new RangeError(
        `Simulator.run: maxEvents must be a non-negative integer or Infinity, got ${maxEvents}`,
      );
    }
    if (stopWhen !== undefined && typeof stopWhen !== "function") {
      throw new TypeError("Simulator.run: stopWhen must be a function");
    }
    this.running = true;
    this.stopRequested = false;
    const before = this.processed;
    let reason: StopReason;
    try {
      if (stopWhen === undefined && this.trace === null) reason = this.loopFast(untilNs, maxEvents);
      else reason = this.loopGeneral(untilNs, maxEvents, stopWhen, this.trace);
    } finally {
      this.running = false;
      this.stopRequested = false;
    }
    if ((reason === "until" || reason === "empty") && untilNs !== Number.POSITIVE_INFINITY) {
      this.clock = untilNs;
    }
    return { events: this.processed - before, reason, nowNs: this.clock };
  }

  /** The event loop without trace hook or stop condition. */
  private loopFast(untilNs: number, maxEvents: number): StopReason {
    const q = this.queue;
    const handlers = this.handlers;
    let count = 0;
    if (maxEvents === 0) return "maxEvents";
    try {
      for (;;) {
        const h = q.popUntil(untilNs);
        if (h < 0) return h === -1 ? "empty" : "until";
        this.clock = q.time;
        count++;
        handlers[h].handleEvent(q.kind, q.data, this);
        if (this.stopRequested) return "stopped";
        if (count >= maxEvents) return "maxEvents";
      }
    } finally {
      this.processed += count;
    }
  }

  /** The event loop with an optional trace hook and stop condition. */
  private loopGeneral(
    untilNs: number,
    maxEvents: number,
    stopWhen: (() => boolean) | undefined,
    trace: TraceFn | null,
  ): StopReason {
    const q = this.queue;
    const handlers = this.handlers;
    let count = 0;
    if (stopWhen?.()) return "condition";
    if (maxEvents === 0) return "maxEvents";
    try {
      for (;;) {
        const h = q.popUntil(untilNs);
        if (h < 0) return h === -1 ? "empty" : "until";
        const t = q.time;
        const kind = q.kind;
        const data = q.data;
        this.clock = t;
        count++;
        if (trace !== null) trace(t, h, kind, data);
        handlers[h].handleEvent(kind, data, this);
        if (this.stopRequested) return "stopped";
        if (stopWhen?.()) return "condition";
        if (count >= maxEvents) return "maxEvents";
      }
    } finally {
      this.processed += count;
    }
  }

  private badHandler(method: string, handlerId: number): never {
    throw new RangeError(
      `Simulator.${method}: unknown handler id ${handlerId} (${this.handlers.length} registered)`,
    );
  }

  private badKind(method: string, kind: number): never {
    throw new RangeError(`Simulator.${method}: kind must be an int32, got ${kind}`);
  }
}
