/*
 * commissiond's ICS dashboard: the figures of one Integrated Care System,
 * read from the daemon's HTTP API (docs/HTTP.md) and kept current from its
 * Server-Sent Events stream.
 *
 * The page's own URL takes:
 *   icb=QNX      the ICS to show; default: the first ICB in /api/v1/flow's
 *                figures (the flow/icbs table, in the daemon's order).
 *   as_of=MS     show figures as of that instant (UTC milliseconds) instead
 *                of now. Live updates still refresh them: every stored event
 *                counts, whatever its time. One that is not digits is said
 *                in the status line, and the figures are as of now.
 *   token=...    when commissiond runs with an [http] token, open the page as
 *                /?token=SECRET. The page keeps the token in this tab's
 *                sessionStorage, removes it from the address bar (so it does
 *                not stay in history or get copied with the link), and sends
 *                it on every API call as "Authorization: Bearer SECRET".
 *                EventSource cannot send headers, so with a token the stream
 *                is read with fetch() instead, with the same header.
 *
 * Only relative URLs of docs/HTTP.md are used (api/v1/...), so the page
 * works behind a reverse proxy that mounts the daemon under a path. Nothing
 * is fetched from anywhere else; Chart.js is served by the daemon as
 * chart.js (Debian's libjs-chart.js). Without it the tables still show
 * every figure: each chart is also given as a table.
 *
 * Live updates: each update on the stream names its area and ICB
 * (stateChanged.area, stateChanged.icb); an update for the ICS shown (or
 * for "unmapped") marks that area stale, unless the figures shown already
 * hold its event (their last_sequence is at or past its eventSequence), and
 * stale areas are fetched again at most every REFRESH_MS. After the stream
 * (re)connects every area is fetched again, so nothing missed while
 * disconnected is lost. Without an as_of, every area is also fetched again
 * each minute: figures such as "today" and days delayed so far move with
 * the clock, event or not. An area whose fetch failed is not asked again
 * before its back-off (RETRY_MS, or the answer's Retry-After if longer)
 * has passed, whatever updates come meanwhile; nor is one whose answer took
 * T before SLOW_FACTOR times T has passed since.
 */
"use strict";

(function () {

const AREAS = ["organisations", "flow", "discharges", "capacity", "services", "finance", "governance"];
const REFRESH_MS = 300;          /* the most often one area is fetched again */
const SLOW_FACTOR = 3;           /* after a fetch that took T, the area waits T times this */
const CLOCK_MS = 60000;          /* live figures depend on the time too ("today", days delayed so far) */
const RETRY_MS = [2000, 5000, 10000, 30000];
const TOKEN_KEY = "commissiond.token";
const PATHWAYS = ["0", "1", "2", "3"];
const PATHWAY_NAMES = {
	"0": "Pathway 0: home, no new support",
	"1": "Pathway 1: home with support",
	"2": "Pathway 2: bed-based intermediate care",
	"3": "Pathway 3: care home",
};
const SECTOR_NAMES = {
	general_and_acute: "General and acute",
	mental_health: "Mental health",
	learning_disability: "Learning disability",
	maternity: "Maternity",
	dementia_emi: "Dementia / EMI",
	residential: "Residential",
	nursing: "Nursing",
};
const STATUS_NAMES = {
	proposed: "Proposed", engagement: "Engagement", consultation: "In consultation",
	decision: "Awaiting decision", commissioned: "Commissioned",
	decommissioned: "Decommissioned", closed: "Closed",
};
const INTEREST_NAMES = {
	financial: "Financial",
	non_financial_professional: "Non-financial professional",
	non_financial_personal: "Non-financial personal",
	indirect: "Indirect",
};
/* Colour-blind-safe series colours, each at least 3:1 against white. */
const COLOURS = ["#005eb8", "#d5281b", "#007f3b", "#7c2855", "#b35900", "#330072"];

/* ------------------------------------------------------------ the URL */

const params = new URLSearchParams(window.location.search);
let token = params.get("token");
try {
	if (token !== null)
		window.sessionStorage.setItem(TOKEN_KEY, token);
	else
		token = window.sessionStorage.getItem(TOKEN_KEY);
} catch (e) {
	/* storage refused (private mode): the token lives in memory only */
}
if (params.has("token")) {
	params.delete("token");
	replaceQuery();
}
const asOfParam = params.get("as_of");
const asOf = asOfParam !== null && /^[0-9]{1,16}$/.test(asOfParam) ? asOfParam : null;

function replaceQuery() {
	const q = params.toString();
	window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + window.location.hash);
}

/* ------------------------------------------------------------- state */

const state = {
	icb: params.get("icb"),
	data: {},              /* area -> the API's answer */
	closures: null,        /* governance/closures table items */
	errors: {},            /* area -> message */
	lastSequence: null,
	lastEventTime: null,
	shownAsOf: null,
	updatedAt: null,
	live: false,
	liveNote: "connecting",
};
window.commissiondDashboard = state;     /* for people and tests poking at it */

/* ---------------------------------------------------------- formatting */

const numberFormat = new Intl.NumberFormat("en-GB");
const londonDate = new Intl.DateTimeFormat("en-GB", {
	timeZone: "Europe/London", day: "numeric", month: "short", year: "numeric",
});
const londonDateTime = new Intl.DateTimeFormat("en-GB", {
	timeZone: "Europe/London", day: "numeric", month: "short", year: "numeric",
	hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const londonTime = new Intl.DateTimeFormat("en-GB", {
	timeZone: "Europe/London", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

function num(n) {
	return n === null || n === undefined ? "–" : numberFormat.format(n);
}

/* Whole pence to pounds, exactly (integer arithmetic, no float rounding). */
function money(pence) {
	if (pence === null || pence === undefined)
		return "–";
	const neg = pence < 0;
	const abs = Math.abs(pence);
	const pounds = Math.floor(abs / 100);
	const p = abs - pounds * 100;
	return (neg ? "−£" : "£") + numberFormat.format(pounds) + "." + String(p).padStart(2, "0");
}

function millions(pence) {
	return Math.round(pence / 1e6) / 100;      /* pence -> £m, 2 decimals */
}

/* The Europe/London calendar date of a UTC ms instant, as YYYY-MM-DD. */
function londonIsoDate(ms) {
	const parts = {};
	new Intl.DateTimeFormat("en-GB", {
		timeZone: "Europe/London", year: "numeric", month: "2-digit", day: "2-digit",
	}).formatToParts(new Date(ms)).forEach(function (p) { parts[p.type] = p.value; });
	return parts.year + "-" + parts.month + "-" + parts.day;
}

function financialYear(isoDate) {
	const y = Number(isoDate.slice(0, 4));
	const m = Number(isoDate.slice(5, 7));
	const start = m >= 4 ? y : y - 1;
	return start + "-" + String((start + 1) % 100).padStart(2, "0");
}

function prettyDate(iso) {
	if (!iso)
		return "–";
	const d = new Date(iso + "T12:00:00Z");
	return isNaN(d) ? iso : londonDate.format(d);
}

/* ------------------------------------------------------------ the DOM */

function $(id) {
	return document.getElementById(id);
}

function el(tag, attrs) {
	const node = document.createElement(tag);
	if (attrs) {
		for (const k of Object.keys(attrs)) {
			if (attrs[k] === null || attrs[k] === undefined)
				continue;
			if (k === "text")
				node.textContent = attrs[k];
			else if (k === "class")
				node.className = attrs[k];
			else
				node.setAttribute(k, attrs[k]);
		}
	}
	for (let i = 2; i < arguments.length; i++) {
		const c = arguments[i];
		if (c === null || c === undefined)
			continue;
		node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
	}
	return node;
}

function orgName(code) {
	const orgs = figures("organisations") || {};
	const o = orgs[code];
	return o && o.name ? o.name : null;
}

/* A code with its registered name, as a cell's content. */
function orgCell(code) {
	const span = el("span", null, el("span", { class: "code", text: code === null || code === undefined ? "–" : String(code) }));
	const name = code ? orgName(code) : null;
	if (name)
		span.appendChild(el("span", { class: "name", text: " " + name }));
	return span;
}

function flag(text, kind) {
	return el("span", { class: "flag " + kind, text: text });
}

/*
 * A table shows at most PAGE_ROWS rows at a time, with a pager under it
 * when it has more: a region's open cases, care-home lines, contracts or
 * register run to thousands, and writing them all into the page on each
 * update would stall it. The page shown is kept across updates.
 */
const PAGE_ROWS = 100;
const tablePage = {};     /* table id -> index of the page shown */

function pager(table, id, count, redraw) {
	const pagerId = id + "-pager";
	let box = $(pagerId);
	const pages = Math.ceil(count / PAGE_ROWS);
	if (pages <= 1) {
		if (box)
			box.hidden = true;
		return;
	}
	if (!box) {
		box = el("div", { id: pagerId, class: "pager" },
		    el("button", { type: "button", class: "prev", "aria-controls": id, text: "Previous rows" }),
		    el("span", { class: "where" }),
		    el("button", { type: "button", class: "next", "aria-controls": id, text: "Next rows" }));
		/* A button that goes disabled under the keyboard's focus would
		 * drop it to the page's start: the other one takes it. */
		const turn = function (by, other) {
			tablePage[id] += by;
			box.redraw();
			if (this.disabled)
				box.querySelector(other).focus();
		};
		box.querySelector(".prev").addEventListener("click", function () { turn.call(this, -1, ".next"); });
		box.querySelector(".next").addEventListener("click", function () { turn.call(this, 1, ".prev"); });
		table.parentNode.insertBefore(box, table.nextSibling);
	}
	box.redraw = redraw;
	box.hidden = false;
	const page = tablePage[id];
	const first = page * PAGE_ROWS;
	box.querySelector(".where").textContent = "Rows " + num(first + 1) + " to " +
	    num(Math.min(first + PAGE_ROWS, count)) + " of " + num(count);
	box.querySelector(".prev").disabled = page === 0;
	box.querySelector(".next").disabled = page >= pages - 1;
}

/*
 * Fill a table: columns are {key, label, num, header, value(row) -> text or
 * node}; rows are objects, each with a `key` (data-key of its <tr>). Every
 * cell has data-col = its column's key, so the figures can be found again.
 * A total row (when more than one row) closes every page.
 */
function fillTable(id, columns, rows, total) {
	const table = $(id);
	const thead = table.tHead;
	const headKey = columns.map(function (c) { return c.label; }).join("|");
	if (thead.dataset.cols !== headKey) {
		thead.textContent = "";
		const tr = el("tr");
		columns.forEach(function (c) {
			tr.appendChild(el("th", { scope: "col", class: c.num ? "num" : null, text: c.label }));
		});
		thead.appendChild(tr);
		thead.dataset.cols = headKey;
	}
	const tbody = table.tBodies[0];
	const frag = document.createDocumentFragment();
	function row(r, cls) {
		const tr = el("tr", { "data-key": r.key, class: cls });
		columns.forEach(function (c) {
			let v = c.value ? c.value(r) : r[c.key];
			if (c.num && typeof v === "number")
				v = num(v);
			const cell = el(c.header ? "th" : "td", {
				scope: c.header ? "row" : null,
				class: c.num ? "num" : null,
				"data-col": c.key,
			});
			if (v === null || v === undefined)
				v = "–";
			cell.appendChild(typeof v === "string" ? document.createTextNode(v) : v);
			tr.appendChild(cell);
		});
		return tr;
	}
	const pages = Math.max(1, Math.ceil(rows.length / PAGE_ROWS));
	tablePage[id] = Math.min(Math.max(tablePage[id] || 0, 0), pages - 1);
	const shown = rows.slice(tablePage[id] * PAGE_ROWS, (tablePage[id] + 1) * PAGE_ROWS);
	if (rows.length === 0) {
		frag.appendChild(el("tr", { class: "none" },
		    el("td", { colspan: String(columns.length), class: "empty", text: "None." })));
	} else {
		shown.forEach(function (r) { frag.appendChild(row(r, null)); });
	}
	if (total && rows.length > 1)
		frag.appendChild(row(total, "total"));
	tbody.textContent = "";
	tbody.appendChild(frag);
	pager(table, id, rows.length, function () { fillTable(id, columns, rows, total); });
}

function setText(id, text) {
	const node = $(id);
	if (node && node.textContent !== text)
		node.textContent = text;
}

/* ------------------------------------------------------------- charts */

const charts = {};

function chartsAvailable() {
	return typeof window.Chart === "function";
}

function drawChart(id, config) {
	if (!chartsAvailable())
		return;
	const existing = charts[id];
	if (existing && existing.config.type === config.type) {
		existing.data.labels = config.data.labels;
		existing.data.datasets = config.data.datasets;
		existing.update("none");
		return;
	}
	if (existing)
		existing.destroy();
	config.options = Object.assign({
		responsive: true,
		maintainAspectRatio: false,
		animation: false,
		plugins: { legend: { labels: { color: "#1d2630" } } },
	}, config.options || {});
	charts[id] = new window.Chart($(id), config);
}

function barScales(stacked, horizontal, title) {
	const value = { stacked: stacked, beginAtZero: true, ticks: { color: "#1d2630", precision: 0 },
		title: title ? { display: true, text: title, color: "#1d2630" } : undefined };
	const category = { stacked: stacked, ticks: { color: "#1d2630" } };
	return horizontal ? { x: value, y: category } : { x: category, y: value };
}

/* --------------------------------------------------------------- API */

class ApiError extends Error {
	constructor(status, message, retryAfterMs) {
		super(message);
		this.status = status;
		this.retryAfterMs = retryAfterMs || 0;   /* the answer's Retry-After */
	}
}

/* Retry-After in seconds (429, 503), as ms; 0 when absent or a date. */
function retryAfterMs(res) {
	const v = res.headers.get("Retry-After");
	return v !== null && /^[0-9]{1,6}$/.test(v.trim()) ? Number(v.trim()) * 1000 : 0;
}

function apiUrl(path, query) {
	const q = new URLSearchParams(query || {});
	const s = q.toString();
	return "api/v1/" + path + (s ? "?" + s : "");
}

function authHeaders(accept) {
	const h = { Accept: accept || "application/json" };
	if (token)
		h.Authorization = "Bearer " + token;
	return h;
}

async function api(path, query) {
	let res;
	try {
		res = await fetch(apiUrl(path, query), { headers: authHeaders(), cache: "no-store" });
	} catch (e) {
		throw new ApiError(0, "commissiond is unreachable (" + (e && e.message ? e.message : "network error") + ")");
	}
	let body = null;
	try {
		body = await res.json();
	} catch (e) {
		body = null;
	}
	if (!res.ok) {
		let msg = body && body.error && body.error.message ? body.error.message : res.statusText;
		if (res.status === 401)
			msg = "the API needs a bearer token: open this page as /?token=… (" + msg + ")";
		throw new ApiError(res.status, "HTTP " + res.status + ": " + msg, retryAfterMs(res));
	}
	if (body === null)
		throw new ApiError(res.status, "the answer is not JSON");
	noteFreshness(body);
	return body;
}

/* Every row of a paginated table. */
async function apiTable(path, query) {
	const q = Object.assign({ limit: "1000" }, query);
	const first = await api(path, q);
	let page = first;
	const items = first.items.slice();
	for (let n = 0; page.next_cursor && n < 50; n++) {
		page = await api(path, Object.assign({}, q, { cursor: page.next_cursor }));
		items.push.apply(items, page.items);
	}
	first.items = items;
	return first;
}

function noteFreshness(body) {
	if (typeof body.last_sequence === "number" &&
	    (state.lastSequence === null || body.last_sequence >= state.lastSequence)) {
		state.lastSequence = body.last_sequence;
		state.lastEventTime = body.last_event_time;
	}
	if (typeof body.as_of === "number")
		state.shownAsOf = body.as_of;
}

function areaQuery() {
	const q = {};
	if (state.icb)
		q.icb = state.icb;
	if (asOf)
		q.as_of = asOf;
	return q;
}

/* The figures object of an area: answer.figures[area][key] (or the area's). */
function figures(area, key) {
	const d = state.data[area];
	if (!d)
		return null;
	const f = d.figures ? d.figures[area] : null;
	if (!f)
		return null;
	return key ? f[key] : f;
}

async function fetchArea(area) {
	const q = areaQuery();
	if (area === "services") {
		/* /api/v1/services may answer as the area or as the services table. */
		const d = await api("services", q);
		if (d.items) {
			let page = d;
			const items = d.items.slice();
			for (let n = 0; page.next_cursor && n < 50; n++) {
				page = await api("services", Object.assign({}, q, { cursor: page.next_cursor }));
				items.push.apply(items, page.items);
			}
			const map = {};
			items.forEach(function (it) { map[it.service_id] = it; });
			d.figures = { services: map, unmapped: [], pending: {} };
		}
		return d;
	}
	if (area === "governance") {
		const d = await api("governance", q);
		const g = d.figures && d.figures.governance;
		if (g && !Array.isArray(g.closure_without_consultation)) {
			const t = await apiTable("governance/closures", q);
			g.closure_without_consultation = t.items;
		}
		return d;
	}
	return api(area, q);
}

/* ------------------------------------------------- refreshing, throttled */

const stale = new Set();
const staleUpTo = {};     /* area -> the latest eventSequence it is stale for (Infinity: any) */
const inFlight = new Set();
const retryCount = {};
const notBefore = {};     /* area -> Date.now() before which it is not asked again */
const wakeTimer = {};     /* area -> the timer that flushes it at notBefore */
let refreshTimer = null;

/* seq: the eventSequence of the update that makes it stale; none: fetch again whatever. */
function markStale(area, seq) {
	const upTo = typeof seq === "number" && !isNaN(seq) ? seq : Infinity;
	staleUpTo[area] = stale.has(area) ? Math.max(staleUpTo[area], upTo) : upTo;
	stale.add(area);
	if (refreshTimer === null)
		refreshTimer = window.setTimeout(flushStale, REFRESH_MS);
}

function refreshAll() {
	AREAS.forEach(function (a) { markStale(a); });
}

function flushStale() {
	refreshTimer = null;
	Array.from(stale).forEach(function (area) {
		if (inFlight.has(area))
			return;          /* fetched again when the current one ends */
		if (notBefore[area] && Date.now() < notBefore[area]) {
			/* Waiting (after a slow answer, or backing off): flushed then. */
			if (!wakeTimer[area]) {
				wakeTimer[area] = window.setTimeout(function () {
					delete wakeTimer[area];
					if (stale.has(area) && refreshTimer === null)
						refreshTimer = window.setTimeout(flushStale, 0);
				}, notBefore[area] - Date.now());
			}
			return;
		}
		stale.delete(area);
		inFlight.add(area);
		const started = Date.now();
		fetchArea(area).then(function (d) {
			state.data[area] = d;
			delete state.errors[area];
			retryCount[area] = 0;
			/*
			 * An area that is slow to answer (the delayed discharges, a
			 * flow fold: seconds on a large store, and the daemon reads
			 * two at a time) is not asked again at once however many
			 * updates come: this page keeps it busy a quarter of the time
			 * at most.
			 */
			notBefore[area] = Date.now() + SLOW_FACTOR * (Date.now() - started);
			/* Updates that came while it was fetched, and that it holds. */
			if (stale.has(area) && typeof d.last_sequence === "number" && staleUpTo[area] <= d.last_sequence)
				stale.delete(area);
			state.updatedAt = Date.now();
			render(area);
		}, function (e) {
			state.errors[area] = e.message;
			/*
			 * Back off (longer each time, and at least what Retry-After
			 * says), also when updates keep coming meanwhile: each would
			 * otherwise ask again within REFRESH_MS, against a daemon that
			 * has just said it cannot answer (a fold too soon, 429; its
			 * store unreadable or its map growing, 503).
			 */
			const n = retryCount[area] = (retryCount[area] || 0) + 1;
			const wait = Math.max(RETRY_MS[Math.min(n, RETRY_MS.length) - 1], e.retryAfterMs || 0);
			notBefore[area] = Date.now() + wait;
			window.setTimeout(function () { markStale(area); }, wait);
		}).catch(function (e) {
			/*
			 * The answer came but could not be shown (figures of a shape
			 * this page does not know): say so. Without this the area
			 * stayed in flight, never to be fetched again.
			 */
			state.errors[area] = "the answer could not be shown (" + (e && e.message ? e.message : String(e)) + ")";
		}).then(function () {
			inFlight.delete(area);
			if (stale.has(area) && refreshTimer === null)
				refreshTimer = window.setTimeout(flushStale, REFRESH_MS);
			renderStatus();
		});
	});
}

/* ------------------------------------------------------------- stream */

let stream = null;
let streamOpens = 0;
let streamRetry = 0;
/*
 * The id of the last update read, to resume after when the stream is
 * opened again: without one the daemon starts again from the oldest
 * update it keeps (millions). EventSource resumes by itself only while it
 * reconnects on its own; a new one (after "dropped" or a refusal), and the
 * fetch() stream always, must be told.
 */
let streamLastId = null;

function noteStreamId(id) {
	if (typeof id === "string" && /^[0-9]{1,20}$/.test(id))
		streamLastId = id;
}

/* A "dropped" event's data: resume where it says (else after the last
 * update read). */
function noteDropped(text) {
	try {
		const r = JSON.parse(text).resume_after;
		if (typeof r === "number")
			noteStreamId(String(r));
	} catch (err) {
		/* resume after the last update read */
	}
}

/*
 * Is the daemon there, and ready? Asked when the stream is down (the page
 * fetches nothing else while no update comes) so that an outage shows.
 */
async function probe() {
	let res;
	try {
		res = await fetch("readyz", { headers: authHeaders(), cache: "no-store" });
	} catch (e) {
		state.errors.connection = "commissiond is unreachable (" + (e && e.message ? e.message : "network error") + ")";
		renderStatus();
		return;
	}
	delete state.errors.connection;
	let body = null;
	try {
		body = await res.json();
	} catch (e) {
		body = null;
	}
	if (res.ok)
		delete state.errors.ready;
	else if (res.status === 401)
		state.errors.ready = "HTTP 401: the API needs a bearer token: open this page as /?token=…";
	else if (body && body.store === "unreadable")
		state.errors.ready = "commissiond is not ready: its store cannot be read (" +
		    (typeof body.store_error === "string" && body.store_error ? body.store_error : "no reason given") + ")";
	else if (body && body.refusing_input)
		state.errors.ready = "commissiond is not ready: its store refuses input for now (map or disk full)";
	else
		state.errors.ready = "commissiond is not ready: /readyz answered HTTP " + res.status +
		    (body && body.error && body.error.message ? ": " + body.error.message : "");
	renderStatus();
}

function onStreamOpen() {
	streamRetry = 0;
	delete state.errors.connection;
	/* Said while it was down: asked again, or it would stay for good. */
	if (state.errors.ready)
		probe();
	state.live = true;
	state.liveNote = "on";
	/* After a reconnect, fetch everything: updates may have been missed. */
	if (streamOpens++ > 0) {
		if (state.icb)
			refreshAll();
		else
			chooseDefaultIcb();
	}
	renderStatus();
}

function onStreamDown(note) {
	state.live = false;
	state.liveNote = note;
	renderStatus();
	probe();
}

function onUpdate(text) {
	let u;
	try {
		u = JSON.parse(text);
	} catch (e) {
		return;
	}
	const sc = u.stateChanged;
	if (!sc || !sc.area)
		return;
	/*
	 * A stream opened with no id to resume after begins at the oldest
	 * update kept ([store] update_retention: millions), so most of what
	 * comes first is already in the figures fetched: fetching again for
	 * each of those would ask for every area every REFRESH_MS for as long
	 * as the backlog takes to come (about 2,560 updates a second).
	 */
	const seq = Number(u.eventSequence);
	function reflected(area) {
		const d = state.data[area];
		return d !== undefined && typeof d.last_sequence === "number" && seq <= d.last_sequence;
	}
	if (!state.icb) {
		/*
		 * No ICS chosen yet (no flow figures before): an update that can
		 * put an ICB in the flow/icbs table, and that the table did not
		 * hold when last read, is a reason to read it again.
		 */
		if ((sc.area === "flow" || sc.area === "organisations") && sc.icb && sc.icb !== "unmapped" &&
		    !(icbsSequence !== null && seq <= icbsSequence))
			chooseDefaultIcb();
		return;
	}
	if (sc.icb !== state.icb && sc.icb !== "unmapped")
		return;
	if (sc.area === "organisations") {
		/* Reference data moves codes between ICBs: every area may change. */
		AREAS.forEach(function (a) { if (!reflected(a)) markStale(a, seq); });
		return;
	}
	if (AREAS.indexOf(sc.area) >= 0 && !reflected(sc.area))
		markStale(sc.area, seq);
}

function scheduleStream(ms) {
	window.setTimeout(openStream, ms);
}

function openStream() {
	if (!token && typeof window.EventSource === "function")
		openEventSource();
	else
		openFetchStream();
}

function openEventSource() {
	/*
	 * The position goes in the URL, and the daemon prefers it to the
	 * Last-Event-ID header the browser sends when it reconnects by itself
	 * (a later position): so every reconnect is made here, with the latest.
	 */
	const es = new window.EventSource(apiUrl("stream", streamLastId !== null ? { last_event_id: streamLastId } : null));
	stream = es;
	es.onopen = onStreamOpen;
	es.addEventListener("update", function (e) {
		noteStreamId(e.lastEventId);
		onUpdate(e.data);
	});
	es.addEventListener("dropped", function (e) {
		/* Too far behind: the server closed us. Resume where it says. */
		noteDropped(e.data);
		es.close();
		onStreamDown("reconnecting");
		scheduleStream(1000);
	});
	es.onerror = function () {
		/* Refused (an error status, CLOSED) or cut (the browser would
		 * reconnect by itself, from the URL's old position): again here. */
		const refused = es.readyState === window.EventSource.CLOSED;
		es.close();
		onStreamDown(refused ? "off, retrying" : "reconnecting");
		streamRetry++;
		scheduleStream(RETRY_MS[Math.min(streamRetry, RETRY_MS.length) - 1]);
	};
}

/* The stream read with fetch(), for when a bearer token must be sent. */
async function openFetchStream() {
	try {
		const headers = authHeaders("text/event-stream");
		if (streamLastId !== null)
			headers["Last-Event-ID"] = streamLastId;
		const res = await fetch(apiUrl("stream"), { headers: headers, cache: "no-store" });
		if (!res.ok || !res.body)
			throw new Error("HTTP " + res.status);
		onStreamOpen();
		const reader = res.body.getReader();
		const decoder = new TextDecoder();
		let buf = "";
		let event = "message";
		let data = [];
		let id = null;
		for (;;) {
			const chunk = await reader.read();
			if (chunk.done)
				break;
			buf += decoder.decode(chunk.value, { stream: true });
			let nl;
			while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
				const line = buf.slice(0, nl);
				buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
				if (line === "") {
					if (id !== null)
						noteStreamId(id);
					if (data.length && event === "update")
						onUpdate(data.join("\n"));
					if (event === "dropped") {
						noteDropped(data.join("\n"));
						reader.cancel();
						break;
					}
					event = "message";
					data = [];
					id = null;
				} else if (line[0] !== ":") {
					const colon = line.indexOf(":");
					const field = colon < 0 ? line : line.slice(0, colon);
					let value = colon < 0 ? "" : line.slice(colon + 1);
					if (value[0] === " ")
						value = value.slice(1);
					if (field === "event")
						event = value;
					else if (field === "data")
						data.push(value);
					else if (field === "id")
						id = value;
				}
			}
		}
		onStreamDown("reconnecting");
		scheduleStream(1000);
	} catch (e) {
		onStreamDown("off, retrying");
		streamRetry++;
		scheduleStream(RETRY_MS[Math.min(streamRetry, RETRY_MS.length) - 1]);
	}
}

/* ------------------------------------------------------------ rendering */

function render(area) {
	switch (area) {
	case "organisations":
		renderTitle();
		/* names appear in every table */
		AREAS.forEach(function (a) { if (a !== "organisations" && state.data[a]) render(a); });
		break;
	case "flow": renderFlow(); break;
	case "discharges": renderDischarges(); break;
	case "capacity": renderCapacity(); break;
	case "services": renderServices(); break;
	case "finance": renderFinance(); break;
	case "governance": renderGovernance(); break;
	}
	renderSummary();
	renderDataQuality();
	renderStatus();
}

function today() {
	return londonIsoDate(state.shownAsOf !== null ? state.shownAsOf : (asOf ? Number(asOf) : Date.now()));
}

function renderTitle() {
	const name = state.icb ? orgName(state.icb) : null;
	const text = state.icb ? "ICS dashboard: " + (name ? name + " (" + state.icb + ")" : state.icb) : "ICS dashboard";
	setText("title", text);
	document.title = text + " · commissiond";
}

function renderSummary() {
	const day = today();
	document.querySelectorAll(".kpi-day").forEach(function (n) {
		n.textContent = asOf ? "on " + prettyDate(day) : "today";
	});
	const flowIcb = (figures("flow", "icbs") || {})[state.icb];
	if (state.data.flow) {
		const d = flowIcb && flowIcb.days ? flowIcb.days[day] || {} : {};
		setText("kpi-in-hospital", num(flowIcb ? flowIcb.in_hospital : 0));
		setText("kpi-admissions", num(d.admissions || 0));
		setText("kpi-discharges", num(d.discharges || 0));
	}
	if (state.data.discharges) {
		const dIcb = (figures("discharges", "icbs") || {})[state.icb];
		const open = dIcb && dIcb.open ? dIcb.open : {};
		setText("kpi-delayed", num(open.cases || 0));
		setText("kpi-waiting-social-care", num(open.waiting_on_social_care || 0));
		setText("kpi-days-delayed", num(open.days_delayed || 0));
	}
	if (state.data.capacity) {
		const c = (figures("capacity", "icbs") || {})[state.icb] || {};
		setText("kpi-beds", num(c.occupied || 0) + " / " + num(c.available || 0));
		const risk = c.at_risk_places || 0;
		setText("kpi-at-risk", num(risk) + (c.at_risk_transfer_places ? " (+" + num(c.at_risk_transfer_places) + " transfer)" : ""));
		$("kpi-at-risk").parentNode.classList.toggle("warn", risk > 0);
	}
	if (state.data.governance) {
		const g = figures("governance") || {};
		const n = (g.conflict_alerts || []).length + (g.closure_without_consultation || []).length;
		setText("kpi-alerts", num(n));
		$("kpi-alerts").parentNode.classList.toggle("warn", n > 0);
	}
}

function renderFlow() {
	const day = today();
	const providers = figures("flow", "providers") || {};
	const icbs = figures("flow", "icbs") || {};
	const codes = Object.keys(providers).sort();
	const rows = codes.map(function (code) {
		const p = providers[code];
		const d = (p.days || {})[day] || {};
		return { key: code, provider: code, in_hospital: p.in_hospital || 0,
			admissions: d.admissions || 0, discharges: d.discharges || 0,
			attendances: d.attendances || 0, sites: Object.keys(p.sites || {}).length };
	});
	const i = icbs[state.icb] || {};
	const id = (i.days || {})[day] || {};
	const total = { key: "total", provider: "Whole ICB", in_hospital: i.in_hospital || 0,
		admissions: id.admissions || 0, discharges: id.discharges || 0,
		attendances: id.attendances || 0, sites: rows.reduce(function (s, r) { return s + r.sites; }, 0) };
	setText("flow-providers-cap", "Per provider: in hospital, and admissions, discharges and attendances on " +
	    prettyDate(day) + " (the chart's figures)");
	setText("flow-note", "Inpatients (classes I and B) in hospital at " +
	    (state.shownAsOf !== null ? londonDateTime.format(new Date(state.shownAsOf)) : "now") +
	    "; admissions, discharges and attendances on " + prettyDate(day) + " (London).");
	fillTable("flow-providers", [
		{ key: "provider", label: "Provider", header: true, value: function (r) { return r.key === "total" ? r.provider : orgCell(r.provider); } },
		{ key: "in_hospital", label: "In hospital", num: true },
		{ key: "admissions", label: "Admissions", num: true },
		{ key: "discharges", label: "Discharges", num: true },
		{ key: "attendances", label: "Attendances", num: true },
		{ key: "sites", label: "Sites", num: true },
	], rows, total);

	const siteRows = [];
	codes.forEach(function (code) {
		const sites = providers[code].sites || {};
		Object.keys(sites).sort().forEach(function (s) {
			const site = sites[s];
			const wards = site.wards || {};
			siteRows.push({ key: s, provider: code, site: s, in_hospital: site.in_hospital || 0,
				wards: Object.keys(wards).sort().map(function (w) { return w + ": " + wards[w]; }).join(", ") || "–" });
		});
	});
	fillTable("flow-sites", [
		{ key: "site", label: "Site", header: true, value: function (r) { return orgCell(r.site); } },
		{ key: "provider", label: "Provider", value: function (r) { return el("span", { class: "code", text: r.provider }); } },
		{ key: "in_hospital", label: "In hospital", num: true },
		{ key: "wards", label: "In hospital per ward" },
	], siteRows);

	drawChart("chart-flow", {
		type: "bar",
		data: {
			labels: codes,
			datasets: [{ label: "Patients in hospital", data: rows.map(function (r) { return r.in_hospital; }),
				backgroundColor: COLOURS[0] }],
		},
		options: { scales: barScales(false, false, "patients"), plugins: { legend: { display: false } } },
	});
}

function pathwayCols() {
	return PATHWAYS.map(function (p) {
		return { key: "p" + p, label: "Pathway " + p, num: true };
	});
}

function renderDischarges() {
	const councils = figures("discharges", "councils") || {};
	const icbs = figures("discharges", "icbs") || {};
	const cases = (figures("discharges", "cases") || []).filter(function (c) {
		return !state.icb || !c.icb || c.icb === state.icb;
	});
	function rollRow(key, r) {
		const open = r.open || {};
		const bp = open.by_pathway || {};
		const row = { key: key, cases: open.cases || 0, waiting: open.waiting_on_social_care || 0,
			days: open.days_delayed || 0 };
		PATHWAYS.forEach(function (p) { row["p" + p] = bp[p] ? bp[p].cases || 0 : 0; });
		return row;
	}
	const cols = [
		{ key: "cases", label: "Open cases", num: true },
		{ key: "waiting", label: "Waiting on social care", num: true },
		{ key: "days", label: "Days delayed", num: true },
	].concat(pathwayCols());

	const councilCodes = Object.keys(councils).sort(function (a, b) {
		return (a === "unattributed") - (b === "unattributed") || (a < b ? -1 : a > b ? 1 : 0);
	});
	const councilRows = councilCodes.map(function (c) { return rollRow(c, councils[c]); });
	const icbTotal = rollRow("total", icbs[state.icb] || {});
	fillTable("discharges-councils", [
		{ key: "council", label: "Council", header: true, value: function (r) {
			return r.key === "total" ? "Whole ICB" : r.key === "unattributed" ? "Not known yet" : orgCell(r.key); } },
	].concat(cols), councilRows, icbTotal);

	/* Per provider, from the open cases (the API rolls up per ICB and council). */
	const byProvider = {};
	cases.forEach(function (c) {
		if (c.status !== "open")
			return;
		const r = byProvider[c.provider] || (byProvider[c.provider] = { key: c.provider, cases: 0, waiting: 0, days: 0, p0: 0, p1: 0, p2: 0, p3: 0 });
		r.cases++;
		if (c.waiting_on_social_care)
			r.waiting++;
		r.days += c.days_delayed || 0;
		if (("p" + c.pathway) in r)
			r["p" + c.pathway]++;
	});
	const providerRows = Object.keys(byProvider).sort().map(function (k) { return byProvider[k]; });
	fillTable("discharges-providers", [
		{ key: "provider", label: "Provider", header: true, value: function (r) { return r.key === "total" ? "Whole ICB" : orgCell(r.key); } },
	].concat(cols), providerRows, icbTotal);

	const closed = ((icbs[state.icb] || {}).closed_by_date) || {};
	fillTable("discharges-closed", [
		{ key: "date", label: "Discharge date", header: true, value: function (r) { return prettyDate(r.key); } },
		{ key: "cases", label: "Cases discharged", num: true },
		{ key: "days", label: "Days delayed in all", num: true },
	], Object.keys(closed).sort().reverse().map(function (d) {
		return { key: d, cases: closed[d].cases || 0, days: closed[d].days_delayed || 0 };
	}));

	const openCases = cases.filter(function (c) { return c.status === "open"; }).sort(function (a, b) {
		return (b.days_delayed || 0) - (a.days_delayed || 0) || (a.ready_date < b.ready_date ? -1 : 1);
	});
	fillTable("discharges-cases", [
		{ key: "patient", label: "Patient (pseudonym)", value: function (r) { return el("span", { class: "code", title: r.patient, text: r.patient.slice(0, 12) + "…" }); } },
		{ key: "provider", label: "Provider", value: function (r) { return orgCell(r.provider); } },
		{ key: "ready_date", label: "Ready since", value: function (r) { return prettyDate(r.ready_date); } },
		{ key: "days_delayed", label: "Days delayed", num: true },
		{ key: "pathway", label: "Pathway", num: true },
		{ key: "council", label: "Council", value: function (r) { return r.rollup_council === "unattributed" ? "Not known yet" : orgCell(r.rollup_council); } },
		{ key: "waiting", label: "Waiting on social care", value: function (r) {
			return r.waiting_on_social_care ? flag("Yes", "warn") : "No"; } },
		{ key: "days_waiting_for_social_care", label: "Days waiting for social care", num: true },
	], openCases.map(function (c) { return Object.assign({ key: c.patient + "/" + c.provider }, c); }));

	drawChart("chart-councils", {
		type: "bar",
		data: {
			labels: councilRows.map(function (r) { return r.key === "unattributed" ? "not known" : (orgName(r.key) || r.key); }),
			datasets: PATHWAYS.map(function (p, n) {
				return { label: PATHWAY_NAMES[p], data: councilRows.map(function (r) { return r["p" + p]; }),
					backgroundColor: COLOURS[n] };
			}),
		},
		options: { scales: barScales(true, false, "open cases") },
	});
}

function capacityRow(key, c) {
	return { key: key, available: c.available || 0, occupied: c.occupied || 0, vacant: c.vacant || 0,
		over: c.over_capacity_lines || 0, commissioned: c.commissioned_places || 0,
		at_risk: c.at_risk_places || 0, transfer: c.at_risk_transfer_places || 0 };
}

const BED_COLS = [
	{ key: "available", label: "Available", num: true },
	{ key: "occupied", label: "Occupied", num: true },
	{ key: "vacant", label: "Vacant", num: true },
	{ key: "over", label: "Lines over capacity", num: true },
];

function renderCapacity() {
	const icb = (figures("capacity", "icbs") || {})[state.icb] || {};
	const councils = figures("capacity", "councils") || {};
	const lines = (figures("capacity", "lines") || []).filter(function (l) {
		return !state.icb || !l.icb || l.icb === state.icb;
	});
	const sectors = icb.sectors || {};
	const sectorRows = Object.keys(sectors).sort().map(function (s) { return capacityRow(s, sectors[s]); });
	fillTable("capacity-sectors", [
		{ key: "sector", label: "Sector", header: true, value: function (r) { return r.key === "total" ? "All sectors" : SECTOR_NAMES[r.key] || r.key; } },
	].concat(BED_COLS), sectorRows, capacityRow("total", icb));

	const riskRows = [capacityRow(state.icb || "icb", icb)].concat(Object.keys(councils).sort().map(function (c) {
		return capacityRow(c, councils[c]);
	}).filter(function (r) { return r.commissioned || r.at_risk || r.transfer; }));
	fillTable("capacity-at-risk", [
		{ key: "scope", label: "Where", header: true, value: function (r) { return r.key === state.icb ? "Whole ICB" : orgCell(r.key); } },
		{ key: "commissioned", label: "Commissioned places", num: true },
		{ key: "at_risk", label: "At risk (close or reduce)", num: true, value: function (r) {
			return r.at_risk ? flag(num(r.at_risk), "warn") : "0"; } },
		{ key: "transfer", label: "Proposed transfer to another provider", num: true },
	], riskRows);

	fillTable("capacity-councils", [
		{ key: "council", label: "Council", header: true, value: function (r) { return orgCell(r.key); } },
	].concat(BED_COLS), Object.keys(councils).sort().map(function (c) { return capacityRow(c, councils[c]); }));

	fillTable("capacity-lines", [
		{ key: "organisation", label: "Organisation", header: true, value: function (r) { return orgCell(r.organisation); } },
		{ key: "sector", label: "Sector", value: function (r) { return SECTOR_NAMES[r.sector] || r.sector; } },
		{ key: "council", label: "Council", value: function (r) { return r.council ? el("span", { class: "code", text: r.council }) : "–"; } },
		{ key: "available", label: "Available", num: true },
		{ key: "occupied", label: "Occupied", num: true },
		{ key: "vacant", label: "Vacant", num: true },
		{ key: "over_capacity", label: "Over capacity", value: function (r) { return r.over_capacity ? flag("Over", "bad") : "No"; } },
		{ key: "as_of", label: "Reported as of", value: function (r) { return r.as_of ? londonDateTime.format(new Date(r.as_of)) : "–"; } },
	], lines.map(function (l) { return Object.assign({ key: l.organisation + "/" + l.sector }, l); }));

	drawChart("chart-capacity", {
		type: "bar",
		data: {
			labels: sectorRows.map(function (r) { return SECTOR_NAMES[r.key] || r.key; }),
			datasets: [
				{ label: "Occupied", data: sectorRows.map(function (r) { return r.occupied; }), backgroundColor: COLOURS[0] },
				{ label: "Vacant", data: sectorRows.map(function (r) { return r.vacant; }), backgroundColor: COLOURS[2] },
			],
		},
		options: { indexAxis: "y", scales: barScales(true, true, "beds") },
	});
}

function renderFinance() {
	const comm = figures("finance", "commissioners") || {};
	const contracts = figures("finance", "contracts") || {};
	const year = financialYear(today());
	const rows = [];
	Object.keys(comm).sort().forEach(function (c) {
		Object.keys(comm[c]).sort().forEach(function (y) {
			const f = comm[c][y];
			rows.push({ key: c + "/" + y, commissioner: c, year: y, allocated: f.allocated || 0,
				committed: f.committed || 0, spent: f.spent || 0, variance: f.variance || 0, pools: f.pools || {} });
		});
	});
	function poolsText(r) {
		const parts = [];
		Object.keys(r.pools).sort().forEach(function (p) {
			const pool = r.pools[p];
			let t = (p === "better_care_fund" ? "Better Care Fund" : p === "core" ? "Core" : p) + " " + money(pool.allocated || 0);
			if (pool.contributors && pool.contributors.length)
				t += " (" + pool.contributors.map(function (k) { return k.code + " " + money(k.share); }).join(", ") + ")";
			parts.push(t);
		});
		return parts.join("; ") || "–";
	}
	fillTable("finance-commissioners", [
		{ key: "commissioner", label: "Commissioner", header: true, value: function (r) { return orgCell(r.commissioner); } },
		{ key: "year", label: "Year" },
		{ key: "allocated", label: "Allocated", num: true, value: function (r) { return money(r.allocated); } },
		{ key: "committed", label: "Committed", num: true, value: function (r) { return money(r.committed); } },
		{ key: "spent", label: "Spent", num: true, value: function (r) { return money(r.spent); } },
		{ key: "variance", label: "Variance (allocated − committed)", num: true, value: function (r) {
			return r.variance < 0 ? el("span", { class: "neg", text: money(r.variance) + " overcommitted" }) : money(r.variance); } },
		{ key: "pools", label: "Pools", value: poolsText },
	], rows);

	fillTable("finance-contracts", [
		{ key: "contract", label: "Contract", header: true, value: function (r) { return el("span", { class: "code", text: r.key }); } },
		{ key: "commissioner", label: "Commissioner", value: function (r) { return orgCell(r.commissioner); } },
		{ key: "provider", label: "Provider", value: function (r) { return orgCell(r.provider); } },
		{ key: "segments", label: "Annual value over time", value: function (r) {
			return (r.segments || []).map(function (s) {
				return prettyDate(s.first) + " to " + prettyDate(s.last) + ": " + money(s.annual_value) + " a year";
			}).join("; ") || "not running";
		} },
	], Object.keys(contracts).sort().map(function (k) { return Object.assign({ key: k }, contracts[k]); }));

	let chartRows = rows.filter(function (r) { return r.year === year; });
	if (chartRows.length === 0)
		chartRows = rows;
	drawChart("chart-finance", {
		type: "bar",
		data: {
			labels: chartRows.map(function (r) { return r.commissioner + " " + r.year; }),
			datasets: [
				{ label: "Allocated", data: chartRows.map(function (r) { return millions(r.allocated); }), backgroundColor: COLOURS[0] },
				{ label: "Committed", data: chartRows.map(function (r) { return millions(r.committed); }), backgroundColor: COLOURS[4] },
				{ label: "Spent", data: chartRows.map(function (r) { return millions(r.spent); }), backgroundColor: COLOURS[2] },
			],
		},
		options: { scales: barScales(false, false, "£ million") },
	});
}

function proposedText(pc) {
	if (!pc || !pc.type)
		return "–";
	switch (pc.type) {
	case "close": return "Close";
	case "reduce": return "Reduce to " + num(pc.places) + " places";
	case "transfer": return "Transfer" + (pc.to_provider ? " to " + pc.to_provider : " to another provider");
	default: return "Other";
	}
}

function renderServices() {
	const services = figures("services") || {};
	const rows = Object.keys(services).sort().map(function (id) { return Object.assign({ key: id }, services[id]); })
		.filter(function (s) { return !state.icb || !s.icb || s.icb === state.icb; });
	fillTable("services-table", [
		{ key: "service_id", label: "Service", header: true, value: function (r) { return el("span", { class: "code", text: r.key }); } },
		{ key: "status", label: "Status", value: function (r) {
			const t = r.status ? STATUS_NAMES[r.status] || r.status : "Not yet effective";
			return r.status === "consultation" || r.status === "decision" ? flag(t, "warn") : t; } },
		{ key: "effective_date", label: "Since", value: function (r) { return prettyDate(r.effective_date); } },
		{ key: "category", label: "Category", value: function (r) { return r.category ? r.category.replace(/_/g, " ") : "–"; } },
		{ key: "commissioner", label: "Commissioner", value: function (r) { return orgCell(r.commissioner); } },
		{ key: "provider", label: "Provider", value: function (r) { return orgCell(r.provider); } },
		{ key: "places", label: "Places", num: true },
		{ key: "proposed_change", label: "Proposed change", value: function (r) { return proposedText(r.proposed_change); } },
		{ key: "at_risk_places", label: "Places at risk", num: true },
		{ key: "at_risk_transfer_places", label: "Places to transfer", num: true },
		{ key: "flags", label: "Flags", value: function (r) {
			const span = el("span");
			if (r.closure_without_consultation)
				span.appendChild(flag("Closed without consultation", "bad"));
			if (r.history_gap) {
				if (span.firstChild)
					span.appendChild(document.createTextNode(" "));
				span.appendChild(flag("Gap in history", "warn"));
			}
			return span.firstChild ? span : "–";
		} },
	], rows);
}

function renderGovernance() {
	const g = figures("governance") || {};
	const alerts = g.conflict_alerts || [];
	fillTable("governance-alerts", [
		{ key: "contract_id", label: "Contract", header: true, value: function (r) { return el("span", { class: "code", text: r.contract_id }); } },
		{ key: "decision", label: "Decision" },
		{ key: "decided_on", label: "Decided on", value: function (r) { return prettyDate(r.decided_on); } },
		{ key: "decision_maker", label: "Decision maker" },
		{ key: "declaration_id", label: "Declaration" },
		{ key: "provider", label: "Provider", value: function (r) { return r.provider ? orgCell(r.provider) : "–"; } },
		{ key: "interest_in", label: "Interest in", value: function (r) { return r.interest_in ? orgCell(r.interest_in) : "–"; } },
	], alerts.map(function (a) {
		return Object.assign({ key: a.contract_id + "/" + a.decision + "/" + a.decision_maker + "/" + a.declaration_id }, a);
	}));

	const closures = g.closure_without_consultation || [];
	fillTable("governance-closures", [
		{ key: "service_id", label: "Service", header: true, value: function (r) { return el("span", { class: "code", text: r.service_id }); } },
		{ key: "move", label: "Move", value: function (r) { return (STATUS_NAMES[r.from_status] || r.from_status || "?") + " → " + (STATUS_NAMES[r.to_status] || r.to_status || "?"); } },
		{ key: "effective_date", label: "Effective", value: function (r) { return prettyDate(r.effective_date); } },
		{ key: "commissioner", label: "Commissioner", value: function (r) { return orgCell(r.commissioner); } },
		{ key: "provider", label: "Provider", value: function (r) { return orgCell(r.provider); } },
	], closures.map(function (c, n) { return Object.assign({ key: (c.service_id || "") + "/" + (c.event_id || n) }, c); }));

	const register = g.register || {};
	const regRows = [];
	Object.keys(register).sort().forEach(function (org) {
		(register[org] || []).forEach(function (d) {
			regRows.push(Object.assign({ key: org + "/" + d.declaration_id, sits_in: org }, d));
		});
	});
	regRows.sort(function (a, b) { return (b.current - a.current) || (a.key < b.key ? -1 : 1); });
	fillTable("governance-register", [
		{ key: "declaration_id", label: "Declaration", header: true },
		{ key: "person", label: "Person (staff id)" },
		{ key: "role", label: "Role" },
		{ key: "sits_in", label: "Sits in", value: function (r) { return orgCell(r.sits_in); } },
		{ key: "type", label: "Type", value: function (r) { return INTEREST_NAMES[r.type] || r.type; } },
		{ key: "interest_in", label: "Interest in", value: function (r) { return orgCell(r.interest_in); } },
		{ key: "from_date", label: "From", value: function (r) { return prettyDate(r.from_date); } },
		{ key: "to_date", label: "To", value: function (r) { return r.to_date ? prettyDate(r.to_date) : "open"; } },
		{ key: "current", label: "Current", value: function (r) { return r.current ? flag("Current", "ok") : "No"; } },
	], regRows);
}

function renderDataQuality() {
	const list = $("data-quality-list");
	const unmapped = new Set();
	const pending = {};
	AREAS.forEach(function (a) {
		const d = state.data[a];
		if (!d || !d.figures)
			return;
		(d.figures.unmapped || []).forEach(function (c) { unmapped.add(c); });
		const p = d.figures.pending || {};
		Object.keys(p).forEach(function (k) {
			if (Array.isArray(p[k]) && p[k].length)
				pending[k] = p[k];
		});
	});
	const items = [];
	if (unmapped.size)
		items.push("Codes with no known ICB (unmapped): " + Array.from(unmapped).sort().join(", "));
	Object.keys(pending).sort().forEach(function (k) {
		items.push(k.replace(/_/g, " ") + ": " + pending[k].map(function (x) {
			return typeof x === "string" ? x : JSON.stringify(x);
		}).join(", "));
	});
	if (items.length === 0)
		items.push("Nothing held, nothing unmapped.");
	const key = items.join("\n");
	if (list.dataset.key === key)
		return;
	list.dataset.key = key;
	list.textContent = "";
	items.forEach(function (t) { list.appendChild(el("li", { text: t })); });
}

const STATUS_MS = 5000;
let statusWrittenAt = 0;
let statusTimer = null;

function renderStatus() {
	const errors = Object.keys(state.errors).sort().map(function (a) {
		return (AREAS.indexOf(a) >= 0 ? "Figures of " + a + ": " : "") + state.errors[a];
	});
	const box = $("error");
	if (errors.length) {
		const unreachable = Object.keys(state.errors).some(function (a) { return /unreachable/.test(state.errors[a]); });
		const text = (unreachable ? "The commissiond API cannot be reached. " : "The commissiond API answered with an error. ") +
		    (state.updatedAt ? "The figures shown may be out of date (last fetched " + londonTime.format(new Date(state.updatedAt)) + "). " : "") +
		    "Retrying. " + errors.join(" · ");
		if (box.textContent !== text)
			box.textContent = text;
		box.hidden = false;
	} else if (!box.hidden) {
		box.hidden = true;
		box.textContent = "";
	}

	const status = $("status");
	const parts = [];
	if (!state.icb) {
		parts.push(state.icbsChecked ? "No ICB has figures yet: waiting for events." : "Loading figures…");
	} else if (state.updatedAt) {
		parts.push((asOf ? "Figures as of " : "Figures at ") + (state.shownAsOf !== null ? londonDateTime.format(new Date(state.shownAsOf)) : "–"));
		parts.push("last event stored: #" + (state.lastSequence === null ? "–" : state.lastSequence) +
		    (state.lastEventTime ? " at " + londonDateTime.format(new Date(state.lastEventTime)) : " (none yet)"));
		parts.push("page updated " + londonTime.format(new Date(state.updatedAt)));
	} else {
		parts.push("Loading figures…");
	}
	/* An as_of the page cannot use is not dropped silently: the figures
	 * would pass for the ones asked for. */
	if (asOfParam !== null && asOf === null)
		parts.unshift("as_of \u201c" + asOfParam + "\u201d in the address is not UTC milliseconds: showing figures as of now");
	const text = parts.join(" · ");
	const lt = "Live updates: " + state.liveNote;
	const live = status.querySelector(".live");
	const liveChanged = !live || live.textContent !== lt;
	/*
	 * The line is an aria-live region: under a busy stream it would be read
	 * out again and again, so its figures change at most every STATUS_MS
	 * (the latest then), while a change of connection shows at once.
	 */
	const now = Date.now();
	if (status.dataset.text !== text && !liveChanged && status.dataset.figures === "yes" &&
	    now - statusWrittenAt < STATUS_MS) {
		if (statusTimer === null)
			statusTimer = window.setTimeout(function () { statusTimer = null; renderStatus(); },
			    STATUS_MS - (now - statusWrittenAt));
	} else if (status.dataset.text !== text || liveChanged) {
		statusWrittenAt = now;
		status.dataset.text = text;
		status.dataset.figures = state.icb && state.updatedAt ? "yes" : "no";
		status.textContent = text + " · ";
		status.appendChild(el("span", { class: "live " + (state.live ? "on" : "off"), text: lt }));
	}
	document.documentElement.dataset.lastSequence = state.lastSequence === null ? "" : String(state.lastSequence);
	document.documentElement.dataset.loaded = AREAS.every(function (a) { return state.data[a]; }) ? "yes" : "no";
	document.documentElement.dataset.live = state.live ? "yes" : "no";
}

/* ---------------------------------------------------------- start up */

async function fillIcbSelect() {
	const select = $("icb-select");
	let codes = [];
	try {
		const t = await apiTable("flow/icbs", asOf ? { as_of: asOf } : {});
		if (typeof t.last_sequence === "number")
			icbsSequence = t.last_sequence;
		codes = t.items.map(function (r) { return r.icb; }).filter(function (c) { return c && c !== "unmapped"; });
		delete state.errors.icbs;
	} catch (e) {
		state.errors.icbs = e.message;
	}
	if (state.icb && codes.indexOf(state.icb) < 0)
		codes.unshift(state.icb);
	select.textContent = "";
	codes.forEach(function (c) {
		select.appendChild(el("option", { value: c, text: c }));
	});
	if (state.icb)
		select.value = state.icb;
	return codes;
}

let choosing = false;
let icbsSequence = null;  /* last_sequence of the flow/icbs table last read */
let icbsAgain = false;    /* asked for while it was being read */
let icbsTimer = null;

async function chooseDefaultIcb() {
	if (choosing) {
		icbsAgain = true;
		return;
	}
	choosing = true;
	icbsAgain = false;
	const codes = await fillIcbSelect();
	choosing = false;
	state.icbsChecked = !state.errors.icbs;
	if (!state.icb && codes.length) {
		state.icb = codes[0];
		params.set("icb", state.icb);
		replaceQuery();
		$("icb-select").value = state.icb;
		renderTitle();
		refreshAll();
	}
	/* Once again at most: after a failure, or for updates that came meanwhile. */
	if (!state.icb && (state.errors.icbs || icbsAgain) && icbsTimer === null) {
		icbsTimer = window.setTimeout(function () {
			icbsTimer = null;
			chooseDefaultIcb();
		}, state.errors.icbs ? 5000 : REFRESH_MS);
	}
	renderStatus();
}

function start() {
	if (!chartsAvailable())
		document.body.classList.add("no-charts");
	else {
		window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
		window.Chart.defaults.color = "#1d2630";
	}
	$("icb-form").addEventListener("submit", function (e) {
		e.preventDefault();
		const v = $("icb-select").value;
		if (!v)
			return;
		params.set("icb", v);
		window.location.search = params.toString();   /* the token stays in sessionStorage */
	});
	renderTitle();
	renderStatus();
	openStream();
	if (!asOf) {
		/* Without new events the figures still move with the clock. */
		window.setInterval(function () { if (state.icb) refreshAll(); }, CLOCK_MS);
	}
	if (state.icb) {
		fillIcbSelect().then(renderStatus);
		refreshAll();
	} else {
		chooseDefaultIcb();
	}
}

if (document.readyState === "loading")
	document.addEventListener("DOMContentLoaded", start);
else
	start();

})();
