// The Switchyard local console. Plain DOM, no framework, nothing from outside this origin: the page's
// Content-Security-Policy allows scripts, styles and requests to 'self' only. Every value from the
// hub is written with textContent, never as HTML (quarantine reasons quote what sources sent).

const STATS_EVERY_MS = 1000;
const QUARANTINE_EVERY_MS = 2000;

/** @type {{ name: string, flows: {name: string, to: string[]}[], sources: string[], queues: {key: string, name: string, deadLetter: string, destination?: string}[] } | undefined} */
let hub;

const $ = (selector) => document.querySelector(selector);

/** Creates an element with text and attributes; children are appended as given. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

const sum = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);
const byReason = (counts) =>
  Object.entries(counts ?? {})
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function numberCell(field, value, alertWhenPositive = false) {
  return el('td', {
    class: `num${alertWhenPositive && value > 0 ? ' alert' : ''}`,
    'data-field': field,
    text: value ?? '–',
  });
}

/**
 * Replaces a table body's rows when they changed. Rows that are unchanged stay the same DOM nodes,
 * so a button is not swapped out from under a click that is in progress.
 */
function setRows(table, rows) {
  const body = $(`${table} tbody`);
  const current = [...body.children];
  if (current.length === rows.length && current.every((row, i) => row.outerHTML === rows[i].outerHTML))
    return;
  body.replaceChildren(...rows.map((row, i) => (current[i]?.outerHTML === row.outerHTML ? current[i] : row)));
}

function renderStats(stats) {
  const balance = $('#balance');
  balance.dataset.state = stats.balanced ? 'balanced' : 'unbalanced';
  balance.textContent = stats.balanced ? 'balanced' : 'NOT balanced';
  $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  for (const [name, value] of Object.entries(stats.totals)) {
    const cell = document.querySelector(`[data-total="${name}"]`);
    if (cell) cell.textContent = String(value);
  }

  const lanes = [];
  for (const [flow, destinations] of Object.entries(stats.flows)) {
    for (const [destination, lane] of Object.entries(destinations)) {
      lanes.push(
        el(
          'tr',
          { 'data-lane': `${flow}/${destination}` },
          el('td', { text: flow }),
          el('td', { text: destination }),
          numberCell('accepted', lane.accepted),
          numberCell('delivered', lane.delivered),
          el('td', {
            class: 'num',
            'data-field': 'skipped',
            title: byReason(lane.skipped),
            text: sum(lane.skipped),
          }),
          numberCell('quarantined', lane.quarantined, true),
          numberCell('deadLettered', lane.deadLettered, true),
          numberCell('retried', lane.retried),
          numberCell('inFlight', lane.inFlight),
          numberCell('p50', lane.latencyMs?.p50),
          numberCell('p99', lane.latencyMs?.p99),
        ),
      );
    }
  }
  setRows('#lanes', lanes);

  const sources = Object.entries(stats.sources).map(([source, s]) =>
    el(
      'tr',
      { 'data-source': source },
      el('td', { text: source }),
      numberCell('received', s.received),
      numberCell('accepted', s.accepted),
      el('td', {
        'data-field': 'rejected',
        text: sum(s.rejected) ? `${sum(s.rejected)} (${byReason(s.rejected)})` : '0',
      }),
      numberCell('quarantined', s.quarantined, true),
      numberCell('deadLettered', s.deadLettered, true),
      numberCell('inFlight', s.inFlight),
    ),
  );
  setRows('#sources', sources);

  const queues = (hub?.queues ?? []).map((queue) => {
    const depths =
      queue.key === 'inbound'
        ? stats.queues.inbound
        : {
            depth: stats.destinations[queue.destination]?.inFlight,
            deadLetterDepth: stats.destinations[queue.destination]?.deadLetterDepth,
          };
    const button = el('button', {
      type: 'button',
      'data-redrive': queue.key,
      disabled: !(depths?.deadLetterDepth > 0),
      title: `Move the messages in ${queue.deadLetter} back to ${queue.name}`,
      text: 'Redrive',
    });
    return el(
      'tr',
      { 'data-queue': queue.key },
      el('td', {}, el('span', { class: 'mono', text: queue.name })),
      numberCell('depth', depths?.depth),
      numberCell('deadLetterDepth', depths?.deadLetterDepth, true),
      el('td', {}, button),
    );
  });
  setRows('#queues', queues);
}

function renderQuarantine(list) {
  $('#quarantine-count').textContent = `(${list.count})`;
  $('#quarantine-empty').hidden = list.count > 0;
  const rows = list.items.map((item) =>
    el(
      'tr',
      { 'data-event': item.eventId },
      el('td', { text: new Date(item.quarantinedAt).toLocaleString() }),
      el('td', { text: item.stage }),
      el('td', { text: item.source }),
      el('td', { text: item.flow ? `${item.flow} → ${item.destination}` : '–' }),
      el('td', {}, el('span', { class: 'mono', text: item.eventId })),
      el('td', {}, reasonList(item.reasons)),
    ),
  );
  setRows('#quarantine', rows);
}

function reasonList(reasons) {
  return el(
    'ul',
    { class: 'reasons' },
    ...reasons.map((reason) =>
      el(
        'li',
        { 'data-rule': reason.rule },
        el('code', { text: reason.rule }),
        document.createTextNode(
          `${reason.field ? ` (${reason.field})` : ''}: ${reason.message}${reason.value ? ` [${reason.value}]` : ''}`,
        ),
      ),
    ),
  );
}

async function redrive(queueKey, button) {
  button.disabled = true;
  const notice = $('#redrive-result');
  try {
    const response = await fetch(`/_switchyard/redrive/${encodeURIComponent(queueKey)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const result = await response.json();
    if (!response.ok) throw new Error(result.message ?? `HTTP ${response.status}`);
    notice.dataset.kind = result.error ? 'error' : 'ok';
    notice.textContent = `Moved ${result.moved} message${result.moved === 1 ? '' : 's'} back to ${result.queue}${result.error ? `; stopped: ${result.error}` : '.'}`;
  } catch (error) {
    notice.dataset.kind = 'error';
    notice.textContent = `Redrive failed: ${error.message}`;
  }
  notice.hidden = false;
  await refreshStats();
}

async function search(eventId) {
  const target = $('#search-result');
  target.replaceChildren(el('p', { class: 'muted', text: 'Searching…' }));
  let view;
  try {
    view = await getJson(`/_switchyard/events/${encodeURIComponent(eventId)}`);
  } catch (error) {
    target.replaceChildren(el('p', { class: 'notice', 'data-kind': 'error', text: error.message }));
    return;
  }
  const parts = [];
  if (!view.found) {
    parts.push(
      el('p', {
        'data-found': 'false',
        text: `No event ${view.eventId} in the audit trail, the recent trace or the quarantine.`,
      }),
    );
  } else {
    parts.push(el('h3', { 'data-found': 'true', text: `Event ${view.eventId}` }));
    if (view.lanes.length > 0) {
      parts.push(
        el(
          'table',
          { id: 'event-lanes' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              ...['Flow → destination', 'Entity', 'Version', 'Status', 'Attempts', 'Destination holds'].map(
                (h) => el('th', { scope: 'col', text: h }),
              ),
            ),
          ),
          el(
            'tbody',
            {},
            ...view.lanes.map((lane) =>
              el(
                'tr',
                { 'data-lane': `${lane.flow}/${lane.destination}` },
                el('td', { text: `${lane.flow} → ${lane.destination}` }),
                el('td', {}, el('span', { class: 'mono', text: `${lane.entity} ${lane.id}` })),
                el('td', { text: lane.version }),
                el('td', {}, el('span', { class: 'status', 'data-status': lane.status, text: lane.status })),
                el('td', { class: 'num', text: lane.attempts }),
                el('td', {
                  text: lane.mapping
                    ? Object.entries(lane.mapping.versions)
                        .map(([source, version]) => `${source} v${version}`)
                        .join(', ')
                    : 'nothing yet',
                }),
              ),
            ),
          ),
        ),
      );
    }
    if (view.quarantine.length > 0) {
      parts.push(el('h3', { text: 'Quarantined' }));
      for (const item of view.quarantine) {
        parts.push(
          el('p', { text: `${item.stage}${item.flow ? ` on ${item.flow} → ${item.destination}` : ''}:` }),
          reasonList(item.reasons),
        );
      }
    }
    parts.push(el('h3', { text: 'Journey' }));
    parts.push(
      el(
        'ol',
        { id: 'event-journey' },
        ...view.journey.map((entry) =>
          el('li', { 'data-outcome': entry.outcome, text: describeEntry(entry) }),
        ),
      ),
    );
    parts.push(el('h3', { text: 'Attempts (recent)' }));
    parts.push(
      el(
        'ol',
        { id: 'event-steps' },
        ...view.steps.map((step) => el('li', { 'data-stage': step.stage, text: describeStep(step) })),
      ),
    );
  }
  parts.push(el('p', { class: 'muted', text: view.note }));
  target.replaceChildren(...parts);
}

function describeEntry(entry) {
  const at = new Date(entry.at).toLocaleTimeString();
  const lane = entry.flow && entry.destination ? ` on ${entry.flow} → ${entry.destination}` : '';
  const reason = entry.reason ? `: ${entry.reason}` : '';
  const by = entry.by ? ` (by ${entry.by})` : '';
  return `${at} ${entry.stage} ${entry.outcome}${lane}${reason}${by}`;
}

function describeStep(step) {
  const at = new Date(step.at).toLocaleTimeString();
  switch (step.stage) {
    case 'ingest':
      return `${at} accepted from ${step.source} (HTTP ${step.status})`;
    case 'route':
      return `${at} route, attempt ${step.attempt}: ${step.outcome}`;
    case 'deliver':
      return `${at} deliver to ${step.destination} (${step.flow}), version ${step.version}, attempt ${step.attempt}: ${step.outcome}`;
    case 'call':
      return `${at} ${step.method} ${step.host} → ${step.status || 'no answer'} in ${step.ms} ms`;
    case 'redrive':
      return `${at} redriven to ${step.queue}`;
    default:
      return `${at} ${step.stage}`;
  }
}

async function refreshStats() {
  try {
    renderStats(await getJson('/_switchyard/stats'));
  } catch {
    const balance = $('#balance');
    balance.dataset.state = 'offline';
    balance.textContent = 'hub not reachable';
  }
}

async function refreshQuarantine() {
  try {
    renderQuarantine(await getJson('/_switchyard/quarantine'));
  } catch {
    // The stats badge already says the hub is unreachable.
  }
}

/** Calls `task` now and then every `ms`, never two at once. */
function every(ms, task) {
  const run = async () => {
    await task();
    setTimeout(run, ms);
  };
  void run();
}

async function start() {
  hub = await getJson('/_switchyard/console');
  $('#hub-name').textContent = hub.name;
  document.title = `Switchyard console: ${hub.name}`;
  $('#queues').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-redrive]');
    if (button && !button.disabled) void redrive(button.dataset.redrive, button);
  });
  $('#search').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = $('#search-id').value.trim();
    if (id) void search(id);
  });
  every(STATS_EVERY_MS, refreshStats);
  every(QUARANTINE_EVERY_MS, refreshQuarantine);
}

void start();
