// Live updates: reads `GET /v1/stream` (server-sent events) with fetch, so the request
// carries the same authentication as every other call. Each `state` message says what the
// serving node applied and which master it sees; the app fetches again when it moved.
// A stream silent for longer than `SILENCE_MS` counts as lost: the page then says its data
// may be stale instead of showing it as current.

import { authHeaders } from './api.js';

const SILENCE_MS = 3000;
const BACKOFF_MAX_MS = 4000;

let last = null;

/** The latest stream message (null before the first). */
export function latest() {
  return last;
}

/** The `since` that returns the newest `count` events (reads them all at first). */
export function eventsSince(count) {
  return last ? Math.max(0, last.next_event - count) : 0;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (event !== 'state' || data.length === 0) return null;
  try {
    return JSON.parse(data.join('\n'));
  } catch {
    return null;
  }
}

async function readWithin(reader, ms) {
  let timer;
  const silence = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no word from the node for ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([reader.read(), silence]);
  } finally {
    clearTimeout(timer);
  }
}

async function follow(signal, onState) {
  const answer = await fetch('/v1/stream', {
    headers: { Accept: 'text/event-stream', ...authHeaders() },
    credentials: 'same-origin',
    cache: 'no-store',
    signal,
  });
  if (!answer.ok) throw new Error(`the stream was refused (HTTP ${answer.status})`);
  const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await readWithin(reader, SILENCE_MS);
    if (done) throw new Error('the node closed the stream');
    buffer += value.replace(/\r/g, '');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const state = parseBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (state) onState(state);
    }
  }
}

/**
 * Follow the stream until `stop()`: `onState(message)` per message, `onLost(reason)` when
 * the stream broke (it reconnects by itself, with backoff).
 */
export function connect(onState, onLost) {
  const controller = new AbortController();
  (async () => {
    let backoff = 250;
    while (!controller.signal.aborted) {
      const inner = new AbortController();
      controller.signal.addEventListener('abort', () => inner.abort(), { once: true });
      try {
        await follow(inner.signal, (state) => {
          backoff = 250;
          last = state;
          onState(state);
        });
      } catch (failure) {
        inner.abort();
        if (controller.signal.aborted) return;
        onLost(failure.message);
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    }
  })();
  return { stop: () => controller.abort() };
}
