// Server-sent events over fetch: the parser and a follower that reconnects and resumes.
//
// Why not EventSource: it cannot send the Authorization header, and the API takes the
// token only there. fetch + ReadableStream can, and can send Last-Event-ID on a reconnect.
// The parser follows the HTML standard's event-stream rules (fields, comments, CR/LF/CRLF
// line ends split anywhere across network reads); `followStream` resumes after the last
// event id it saw and drops any event it has already delivered, so text is never doubled
// or lost across a dropped connection.

export class SSEParser {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.type = "";
    this.id = null;
    this.lastEventId = null;
    this.retry = null;
    this.skipLF = false;
  }

  /** Feed decoded text; returns the events completed by it: {type, data, id}. */
  feed(text) {
    // A CR that ended the previous read may be the first half of a CRLF: skip its LF.
    if (this.skipLF && text.length > 0) {
      if (text[0] === "\n") text = text.slice(1);
      this.skipLF = false;
    }
    this.buffer += text;
    const events = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === "\r" && match.index === this.buffer.length - 1) this.skipLF = true;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  /** The end of the stream: an event without its blank line is dropped, as the standard says. */
  close() {
    this.buffer = "";
    this.data = [];
    this.type = "";
    return [];
  }

  line(line) {
    if (line === "") {
      if (this.id !== null) this.lastEventId = this.id;
      if (this.data.length === 0) {
        this.type = "";
        return null;
      }
      const event = { type: this.type || "message", data: this.data.join("\n"), id: this.lastEventId };
      this.data = [];
      this.type = "";
      return event;
    }
    if (line.startsWith(":")) return null; // a comment: the heartbeat
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.type = value;
    else if (field === "id" && !value.includes("\0")) this.id = value;
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }
}

/** ``url`` with its ``after`` query parameter set to ``after`` (unchanged for null). */
export function withAfter(url, after) {
  if (after === null || after === undefined) return url;
  const parsed = new URL(url, window.location.href);
  parsed.searchParams.set("after", String(after));
  return parsed.origin === window.location.origin ? parsed.pathname + parsed.search : parsed.href;
}

export class StreamError extends Error {
  constructor(message, status = null) {
    super(message);
    this.name = "StreamError";
    this.status = status;
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

function parseData(raw) {
  try {
    return JSON.parse(raw);
  } catch {
    return { raw };
  }
}

/**
 * Read an SSE stream until ``isFinal(type, data)`` says an event ends it.
 *
 * Reconnects when the connection drops or ends early, sending ``Last-Event-ID`` and
 * ``?after=`` with the last id delivered, and skips any event whose id is not above it.
 * Resolves with {last, type, data} of the final event; resolves with null when ``signal``
 * aborts; rejects with a StreamError on an HTTP error or after ``maxRetries`` failed
 * reconnects in a row.
 */
export async function followStream({
  url,
  headers = {},
  after = null,
  onEvent,
  isFinal,
  signal,
  onState = () => {},
  maxRetries = 8,
  fetchImpl = (...args) => window.fetch(...args),
}) {
  let last = after;
  let failures = 0;
  while (!signal?.aborted) {
    let reason = "the stream ended before the run did";
    try {
      const request = { Accept: "text/event-stream", ...headers };
      if (last !== null) request["Last-Event-ID"] = String(last);
      const response = await fetchImpl(withAfter(url, last), { headers: request, signal, cache: "no-store" });
      if (!response.ok) {
        let message = `the stream answered HTTP ${response.status}`;
        try {
          const body = await response.json();
          if (body && typeof body.message === "string") message = body.message;
        } catch {
          /* not JSON */
        }
        if (response.status < 500 && response.status !== 429) throw new StreamError(message, response.status);
        reason = message;
      } else {
        onState("open");
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        const parser = new SSEParser();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const event of parser.feed(decoder.decode(value, { stream: true }))) {
            const id = event.id === null || event.id === "" ? null : Number(event.id);
            if (id !== null && Number.isFinite(id)) {
              if (last !== null && id <= last) continue; // already delivered before a reconnect
              last = id;
            }
            failures = 0;
            const data = parseData(event.data);
            onEvent(event.type, data, id);
            if (isFinal(event.type, data)) {
              reader.cancel().catch(() => {});
              return { last, type: event.type, data };
            }
          }
        }
      }
    } catch (error) {
      if (signal?.aborted) return null;
      if (error instanceof StreamError) throw error;
      reason = error?.message || String(error);
    }
    failures += 1;
    if (failures > maxRetries) throw new StreamError(`lost the connection to the server (${reason})`);
    onState("reconnecting", failures);
    await sleep(Math.min(200 * 2 ** (failures - 1), 4000), signal);
  }
  return null;
}
