import { describe, expect, it } from "vitest";
import { RngStreams } from "../../src/sim/rng.js";
import { type EventHandler, Simulator } from "../../src/sim/simulator.js";

/** A handler that records (now, kind, data) and optionally runs a callback. */
class Recorder implements EventHandler {
  readonly log: Array<[number, number, number]> = [];
  constructor(private readonly onEvent?: (kind: number, data: number, sim: Simulator) => void) {}
  handleEvent(kind: number, data: number, sim: Simulator): void {
    this.log.push([sim.now, kind, data]);
    this.onEvent?.(kind, data, sim);
  }
}

describe("Simulator ordering", () => {
  it("fires events in time order with the clock at each event's time", () => {
    const sim = new Simulator();
    const r = new Recorder();
    const id = sim.register(r);
    sim.schedule(30, id, 3);
    sim.schedule(10, id, 1);
    sim.scheduleAt(20, id, 2, 0.5);
    expect(sim.pending).toBe(3);
    const res = sim.run();
    expect(res).toEqual({ events: 3, reason: "empty", nowNs: 30 });
    expect(r.log).toEqual([
      [10, 1, 0],
      [20, 2, 0.5],
      [30, 3, 0],
    ]);
    expect(sim.eventsProcessed).toBe(3);
    expect(sim.pending).toBe(0);
  });

  it("breaks ties by scheduling order, including events scheduled from handlers", () => {
    const sim = new Simulator();
    const order: string[] = [];
    let h = -1;
    h = sim.register({
      handleEvent(kind, _data, s) {
        order.push(`k${kind}@${s.now}`);
        if (kind === 1) {
          // Same time as the already-queued kinds 2 and 3: these must come after them, in this order.
          s.schedule(0, h, 10);
          s.schedule(0, h, 11);
          s.scheduleAt(s.now, h, 12);
        }
        if (kind === 10) s.schedule(0, h, 20);
      },
    });
    sim.schedule(5, h, 1);
    sim.schedule(5, h, 2);
    sim.schedule(5, h, 3);
    sim.schedule(6, h, 4);
    sim.run();
    expect(order).toEqual(["k1@5", "k2@5", "k3@5", "k10@5", "k11@5", "k12@5", "k20@5", "k4@6"]);
  });

  it("dispatches to the handler the event is addressed to", () => {
    const sim = new Simulator();
    const a = new Recorder();
    const b = new Recorder();
    const ia = sim.register(a);
    const ib = sim.register(b);
    expect([ia, ib]).toEqual([0, 1]);
    sim.schedule(2, ib, 7);
    sim.schedule(1, ia, 8);
    sim.run();
    expect(a.log).toEqual([[1, 8, 0]]);
    expect(b.log).toEqual([[2, 7, 0]]);
  });

  it("supports a start time", () => {
    const sim = new Simulator({ startNs: 1000 });
    const r = new Recorder();
    const id = sim.register(r);
    sim.schedule(5, id);
    sim.run();
    expect(r.log).toEqual([[1005, 0, 0]]);
  });
});

describe("Simulator cancellation", () => {
  it("cancelled events never fire; cancel reports whether it cancelled", () => {
    const sim = new Simulator();
    const r = new Recorder();
    const id = sim.register(r);
    const e1 = sim.schedule(1, id, 1);
    const e2 = sim.schedule(2, id, 2);
    const e3 = sim.schedule(3, id, 3);
    expect(sim.cancel(e2)).toBe(true);
    expect(sim.cancel(e2)).toBe(false);
    expect(sim.isPending(e2)).toBe(false);
    expect(sim.pending).toBe(2);
    sim.run({ untilNs: 1 });
    expect(sim.cancel(e1)).toBe(false); // already fired
    expect(sim.isPending(e3)).toBe(true);
    sim.run();
    expect(r.log.map((e) => e[1])).toEqual([1, 3]);
  });

  it("a handler can cancel a later event (a timeout pattern), and a stale id stays harmless after slot reuse", () => {
    const sim = new Simulator();
    const fired: string[] = [];
    let timeout = 0;
    let h = -1;
    h = sim.register({
      handleEvent(kind, _data, s) {
        if (kind === 0) {
          fired.push(`reply@${s.now}`);
          expect(s.cancel(timeout)).toBe(true);
          // The timeout's slot is free now and may be reused by this new event.
          const next = s.schedule(1, h, 2);
          expect(s.cancel(timeout)).toBe(false);
          expect(s.isPending(next)).toBe(true);
        } else {
          fired.push(`${kind === 1 ? "timeout" : "next"}@${s.now}`);
        }
      },
    });
    timeout = sim.schedule(100, h, 1);
    sim.schedule(10, h, 0);
    sim.run();
    expect(fired).toEqual(["reply@10", "next@11"]);
  });

  it("cancelling every pending event leaves an empty run", () => {
    const sim = new Simulator();
    const id = sim.register(new Recorder());
    const ids = [sim.schedule(1, id), sim.schedule(2, id)];
    for (const e of ids) expect(sim.cancel(e)).toBe(true);
    expect(sim.pending).toBe(0);
    expect(sim.nextEventTime()).toBe(Number.POSITIVE_INFINITY);
    expect(sim.run()).toEqual({ events: 0, reason: "empty", nowNs: 0 });
  });
});

/** A handler that reschedules itself every `periodNs`. */
function ticker(sim: Simulator, periodNs: number): { id: number; count: () => number } {
  let n = 0;
  let id = -1;
  id = sim.register({
    handleEvent(_k, _d, s) {
      n++;
      s.schedule(periodNs, id);
    },
  });
  sim.schedule(periodNs, id);
  return { id, count: () => n };
}

describe("Simulator.run limits", () => {
  it("untilNs processes events at exactly untilNs, then sets the clock to untilNs", () => {
    const sim = new Simulator();
    const t = ticker(sim, 10);
    const res = sim.run({ untilNs: 30 });
    expect(res).toEqual({ events: 3, reason: "until", nowNs: 30 }); // events at 10, 20 and 30
    expect(t.count()).toBe(3);
    expect(sim.nextEventTime()).toBe(40);
    const res2 = sim.run({ untilNs: 35 });
    expect(res2).toEqual({ events: 0, reason: "until", nowNs: 35 });
    expect(sim.now).toBe(35);
  });

  it("untilNs advances the clock even when the queue runs dry first", () => {
    const sim = new Simulator();
    const id = sim.register(new Recorder());
    sim.schedule(5, id);
    expect(sim.run({ untilNs: 100 })).toEqual({ events: 1, reason: "empty", nowNs: 100 });
    expect(sim.now).toBe(100);
  });

  it("maxEvents bounds the number of events per call", () => {
    const sim = new Simulator();
    const t = ticker(sim, 1);
    expect(sim.run({ maxEvents: 7 })).toEqual({ events: 7, reason: "maxEvents", nowNs: 7 });
    expect(sim.run({ maxEvents: 0 })).toEqual({ events: 0, reason: "maxEvents", nowNs: 7 });
    expect(sim.run({ maxEvents: 3, untilNs: 100 })).toEqual({ events: 3, reason: "maxEvents", nowNs: 10 });
    expect(t.count()).toBe(10);
    expect(sim.eventsProcessed).toBe(10);
  });

  it("stopWhen is checked before the first event and after each event", () => {
    const sim = new Simulator();
    const t = ticker(sim, 2);
    expect(sim.run({ stopWhen: () => true })).toEqual({ events: 0, reason: "condition", nowNs: 0 });
    expect(sim.run({ stopWhen: () => t.count() >= 5 })).toEqual({
      events: 5,
      reason: "condition",
      nowNs: 10,
    });
    // A condition that never holds: the time limit wins.
    expect(sim.run({ stopWhen: () => false, untilNs: 20 })).toEqual({
      events: 5,
      reason: "until",
      nowNs: 20,
    });
  });

  it("stop() from a handler ends the run after that event; stop() outside a run does nothing", () => {
    const sim = new Simulator();
    sim.stop();
    let n = 0;
    let id = -1;
    id = sim.register({
      handleEvent(_k, _d, s) {
        n++;
        if (n === 4) s.stop();
        s.schedule(1, id);
      },
    });
    sim.schedule(1, id);
    expect(sim.run()).toEqual({ events: 4, reason: "stopped", nowNs: 4 });
    expect(sim.pending).toBe(1);
    // The stop request does not leak into the next run.
    expect(sim.run({ maxEvents: 2 })).toEqual({ events: 2, reason: "maxEvents", nowNs: 6 });
  });

  it("stop() also works with a trace hook and a condition (the general loop)", () => {
    const sim = new Simulator();
    let id = -1;
    id = sim.register({
      handleEvent(_k, data, s) {
        if (data === 3) s.stop();
        s.schedule(1, id, 0, data + 1);
      },
    });
    sim.schedule(1, id);
    sim.setTrace(() => {});
    expect(sim.run({ stopWhen: () => false })).toEqual({ events: 4, reason: "stopped", nowNs: 4 });
  });

  it("a handler that throws ends the run; the simulator stays usable", () => {
    const sim = new Simulator();
    const id = sim.register({
      handleEvent(kind) {
        if (kind === 1) throw new Error("boom");
      },
    });
    sim.schedule(1, id, 0);
    sim.schedule(2, id, 1);
    sim.schedule(3, id, 0);
    expect(() => sim.run()).toThrow("boom");
    expect(sim.now).toBe(2);
    expect(sim.isRunning).toBe(false);
    expect(sim.eventsProcessed).toBe(2);
    expect(sim.run()).toEqual({ events: 1, reason: "empty", nowNs: 3 });
  });

  it("run() cannot be re-entered from a handler", () => {
    const sim = new Simulator();
    let caught: unknown;
    const id = sim.register({
      handleEvent(_k, _d, s) {
        try {
          s.run();
        } catch (e) {
          caught = e;
        }
      },
    });
    sim.schedule(1, id);
    sim.run();
    expect(caught).toBeInstanceOf(Error);
    expect(String(caught)).toMatch(/already running/);
  });
});

describe("Simulator trace hook", () => {
  it("sees every event before its handler, and can be removed", () => {
    const sim = new Simulator();
    const seen: string[] = [];
    const id = sim.register({
      handleEvent(kind, _d, s) {
        seen.push(`handle ${kind}@${s.now}`);
      },
    });
    sim.schedule(1, id, 5, 0.25);
    sim.schedule(2, id, 6);
    sim.setTrace((t, h, kind, data) => seen.push(`trace ${t} ${h} ${kind} ${data}`));
    sim.run({ untilNs: 1 });
    sim.setTrace(null);
    sim.run();
    expect(seen).toEqual(["trace 1 0 5 0.25", "handle 5@1", "handle 6@2"]);
  });
});

describe("Simulator determinism", () => {
  /** Entities that reschedule themselves after exponential delays from their own streams. */
  function traceOf(seed: number, entities: number, events: number): number[] {
    const sim = new Simulator();
    const streams = new RngStreams(seed);
    for (let i = 0; i < entities; i++) {
      const rng = streams.stream(`entity-${i}`);
      let id = -1;
      id = sim.register({
        handleEvent(kind, _d, s) {
          s.schedule(rng.exponential(1e-3), id, (kind + 1) | 0, rng.random());
        },
      });
      sim.schedule(rng.exponential(1e-3), id);
    }
    const trace: number[] = [];
    sim.setTrace((t, h, kind, data) => trace.push(t, h, kind, data));
    sim.run({ maxEvents: events });
    return trace;
  }

  it("the same seed gives the identical trace", () => {
    const a = traceOf(42, 50, 5000);
    const b = traceOf(42, 50, 5000);
    expect(a.length).toBe(4 * 5000);
    expect(b).toEqual(a);
  });

  it("a different seed gives a different trace", () => {
    expect(traceOf(43, 50, 5000)).not.toEqual(traceOf(42, 50, 5000));
  });

  it("an entity's event times do not depend on other entities' draws", () => {
    // Entity 0's own events are the same with 1 or 50 entities around it.
    const times = (trace: number[]): number[] => {
      const out: number[] = [];
      for (let i = 0; i < trace.length; i += 4) if (trace[i + 1] === 0) out.push(trace[i]);
      return out;
    };
    const alone = times(traceOf(7, 1, 100));
    const crowd = times(traceOf(7, 50, 20_000));
    expect(crowd.length).toBeGreaterThanOrEqual(100);
    expect(crowd.slice(0, 100)).toEqual(alone);
  });
});

describe("Simulator argument validation", () => {
  const sim = new Simulator();
  const id = sim.register(new Recorder());

  it("rejects bad delays and times with RangeError", () => {
    for (const d of [-1, Number.NaN, Number.POSITIVE_INFINITY, -Number.MIN_VALUE]) {
      expect(() => sim.schedule(d, id)).toThrow(RangeError);
    }
    expect(() => sim.schedule(-1, id)).toThrow(/delayNs must be finite and >= 0, got -1/);
    sim.schedule(10, id);
    sim.run();
    expect(() => sim.scheduleAt(9, id)).toThrow(/timeNs must be finite and >= now \(10\), got 9/);
    expect(() => sim.scheduleAt(Number.NaN, id)).toThrow(RangeError);
    expect(() => sim.scheduleAt(Number.POSITIVE_INFINITY, id)).toThrow(RangeError);
  });

  it("rejects unknown handlers and non-int32 kinds", () => {
    for (const h of [-1, 1, 0.5, Number.NaN]) expect(() => sim.schedule(0, h)).toThrow(/unknown handler id/);
    for (const k of [0.5, 2 ** 31, Number.NaN])
      expect(() => sim.schedule(0, id, k)).toThrow(/kind must be an int32/);
    expect(() => sim.register(null as unknown as EventHandler)).toThrow(TypeError);
    expect(() => sim.register({} as EventHandler)).toThrow(TypeError);
  });

  it("rejects bad run options", () => {
    expect(() => sim.run({ untilNs: sim.now - 1 })).toThrow(/untilNs must be >= now/);
    expect(() => sim.run({ untilNs: Number.NaN })).toThrow(RangeError);
    expect(() => sim.run({ maxEvents: -1 })).toThrow(/maxEvents/);
    expect(() => sim.run({ maxEvents: 1.5 })).toThrow(RangeError);
    expect(() => sim.run({ stopWhen: 3 as unknown as () => boolean })).toThrow(TypeError);
    expect(() => sim.setTrace(3 as unknown as null)).toThrow(TypeError);
    expect(() => new Simulator({ startNs: Number.NaN })).toThrow(RangeError);
  });
});
