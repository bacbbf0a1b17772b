import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../functions/core/breaker.js';
import { MemoryBreakerStore } from '../support/fakes.js';

const settings = { enabled: true, failureThreshold: 3, openSeconds: 10, maxOpenSeconds: 30 };

describe('CircuitBreaker', () => {
  it('opens after the threshold of failures in a row, and lets a probe through once the time is up', async () => {
    let now = 1_000_000;
    const store = new MemoryBreakerStore();
    const breaker = new CircuitBreaker(store, 'crm', settings, { now: () => now });
    await breaker.load();
    await breaker.recordFailure();
    await breaker.recordFailure();
    expect(breaker.openUntil()).toBeUndefined();
    await breaker.recordFailure();
    expect(breaker.openUntil()).toBe(now + 10_000);
    now += 10_001;
    expect(breaker.openUntil()).toBeUndefined();
  });

  it('reopens for twice as long (up to the maximum) when the probe fails, and closes on a success', async () => {
    let now = 0;
    const store = new MemoryBreakerStore();
    store.states.set('crm', { failures: 3, openUntil: 10_000, openSeconds: 10 });
    const breaker = new CircuitBreaker(store, 'crm', settings, { now: () => now });
    await breaker.load();
    now = 10_001;
    await breaker.recordFailure();
    expect(store.states.get('crm')).toEqual({ failures: 4, openUntil: 30_001, openSeconds: 20 });
    now = 30_002;
    await breaker.recordFailure();
    expect(store.states.get('crm')?.openSeconds).toBe(30);
    // The next probe, once that pause is over, succeeds: closed.
    now = 60_003;
    await breaker.recordSuccess();
    expect(store.states.get('crm')).toEqual({ failures: 0, openUntil: 0, openSeconds: 10 });
  });

  it('does not let a success or a failure read before another invocation opened the breaker shorten its pause', async () => {
    const now = 1_000_000;
    // Two failures in a row so far: a success would reset them.
    const store = new MemoryBreakerStore({ crm: { failures: 2, openUntil: 0, openSeconds: 10 } });
    const stale = new CircuitBreaker(store, 'crm', settings, { now: () => now });
    await stale.load();
    // Another invocation opens it for the destination's Retry-After of 120 s.
    store.states.set('crm', { failures: 3, openUntil: now + 120_000, openSeconds: 10 });
    await stale.recordSuccess();
    expect(store.states.get('crm')?.openUntil).toBe(now + 120_000);
    // The refused write reads the state that won: this invocation now holds its records too.
    expect(stale.openUntil()).toBe(now + 120_000);
    const other = new CircuitBreaker(store, 'crm', settings, { now: () => now });
    store.states.set('crm', { failures: 0, openUntil: 0, openSeconds: 10 });
    await other.load();
    store.states.set('crm', { failures: 3, openUntil: now + 120_000, openSeconds: 10 });
    await other.recordFailure();
    expect(store.states.get('crm')).toEqual({ failures: 3, openUntil: now + 120_000, openSeconds: 10 });
    expect(store.refused).toBe(2);
  });

  it('stays open for the Retry-After of the failure that opened it when that is longer than the pause', async () => {
    const now = 1_000_000;
    const store = new MemoryBreakerStore();
    const breaker = new CircuitBreaker(store, 'crm', settings, { now: () => now });
    await breaker.load();
    await breaker.recordFailure(60);
    await breaker.recordFailure(60);
    expect(breaker.openUntil()).toBeUndefined();
    await breaker.recordFailure(25);
    expect(breaker.openUntil()).toBe(now + 25_000);
    // The pause it doubles from is still its own, not the Retry-After.
    expect(store.states.get('crm')?.openSeconds).toBe(10);
    // A later failure with a shorter Retry-After does not shorten the pause already asked for.
    await breaker.recordFailure(2);
    expect(breaker.openUntil()).toBe(now + 25_000);
  });

  it('costs one read per batch and no write while the lane is healthy', async () => {
    const store = new MemoryBreakerStore();
    const breaker = new CircuitBreaker(store, 'crm', settings, { now: () => 0 });
    await breaker.load();
    await breaker.load();
    await breaker.recordSuccess();
    expect([store.reads, store.writes]).toEqual([1, 0]);
  });

  it('does nothing when disabled', async () => {
    const store = new MemoryBreakerStore();
    const breaker = new CircuitBreaker(store, 'crm', { ...settings, enabled: false }, { now: () => 0 });
    await breaker.load();
    for (let i = 0; i < 5; i++) await breaker.recordFailure();
    expect(breaker.openUntil()).toBeUndefined();
    expect([store.reads, store.writes]).toEqual([0, 0]);
  });
});
