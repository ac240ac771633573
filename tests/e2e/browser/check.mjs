// The browser half of tests/e2e/test_dashboard.py: Debian's headless
// Chromium driven with playwright-core (no browser download).
//
//   node check.mjs            (run by the Python test)
//
// It speaks JSON lines: one command a line on stdin, one answer a line on
// stdout ({"ok": true, ...} or {"ok": false, "error": "..."}). It also
// collects, from the moment the page is opened, every console error,
// uncaught exception, failed request, HTTP error answer and request to
// another origin, and gives them with each answer as "problems".
//
// Commands:
//   {"cmd":"launch","user_data_dir":DIR,"width":1366,"height":900}
//   {"cmd":"open","url":URL,"wait_for":CSS,"timeout_ms":N}
//   {"cmd":"read","selectors":{"name":CSS,...}}        -> "values": name -> text (null: absent)
//   {"cmd":"wait_text","selector":CSS,"not":TEXT,"timeout_ms":N} -> "value", "elapsed_ms"
//   {"cmd":"wait_for","selector":CSS,"timeout_ms":N}
//   {"cmd":"audit"}                                    -> "audit": accessibility facts
//   {"cmd":"tab","count":N}                             -> "focused": what Tab reaches
//   {"cmd":"screenshot","path":FILE}
//   {"cmd":"requests"}                                 -> "requests": [{method, path, status, last_event_id}]
//                                                         made to the page's origin since the last
//                                                         "requests" (status null: no answer yet)
//   {"cmd":"route","match":REGEX,"status":N,"body":TEXT,"headers":{...}}
//                                                      answer requests whose path and query match
//                                                      REGEX with this instead of the daemon's
//   {"cmd":"route","match":REGEX,"delay_ms":N}         or pass them to the daemon N ms late
//   {"cmd":"unroute"}                                  the daemon answers everything again
//   {"cmd":"press","key":"Enter","count":N}            press a key N times where the focus is
//   {"cmd":"eval","expr":JS}                           -> "value": the expression's JSON value
//   {"cmd":"close"}
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const ARGS = [
	"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
];

let context = null;
let page = null;
let origin = null;
const problems = [];
let requests = [];
const routes = [];

function text(v) {
	return v === null || v === undefined ? null : String(v);
}

function watch(p) {
	p.on("console", (msg) => {
		if (msg.type() === "error")
			problems.push({ kind: "console error", text: msg.text(), location: msg.location() });
	});
	p.on("pageerror", (err) => problems.push({ kind: "exception", text: String(err && err.stack || err) }));
	p.on("requestfailed", (req) => {
		const failure = req.failure();
		const why = failure ? failure.errorText : "";
		// A stream cut at close, or a fetch the page itself aborted, is not a problem.
		if (/ERR_ABORTED/.test(why))
			return;
		problems.push({ kind: "request failed", text: req.url() + ": " + why });
	});
	p.on("request", (req) => {
		const url = req.url();
		if (origin && url.startsWith(origin)) {
			const u = new URL(url);
			const entry = { method: req.method(), path: u.pathname + u.search, status: null,
				last_event_id: req.headers()["last-event-id"] || null };
			requests.push(entry);
			req.response().then((res) => { if (res) entry.status = res.status(); }, () => {});
		}
		if (origin && !url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:"))
			problems.push({ kind: "request to another origin", text: url });
	});
	p.on("response", (res) => {
		if (res.status() >= 400)
			problems.push({ kind: "HTTP " + res.status(), text: res.url() });
	});
}

const commands = {
	async launch(c) {
		context = await chromium.launchPersistentContext(c.user_data_dir, {
			executablePath: c.executable || "/usr/bin/chromium",
			headless: true,
			args: ARGS,
			viewport: { width: c.width || 1366, height: c.height || 900 },
			locale: "en-GB",
			timezoneId: "Europe/London",
		});
		page = context.pages()[0] || await context.newPage();
		watch(page);
		return { version: context.browser() ? context.browser().version() : null };
	},

	async open(c) {
		origin = new URL(c.url).origin;
		await page.goto(c.url, { waitUntil: "load", timeout: c.timeout_ms || 30000 });
		if (c.wait_for)
			await page.waitForSelector(c.wait_for, { state: "attached", timeout: c.timeout_ms || 30000 });
		return { url: page.url(), title: await page.title() };
	},

	async read(c) {
		const values = await page.evaluate((selectors) => {
			const out = {};
			for (const [name, css] of Object.entries(selectors)) {
				const node = document.querySelector(css);
				out[name] = node ? node.textContent.replace(/\s+/g, " ").trim() : null;
			}
			return out;
		}, c.selectors);
		return { values };
	},

	async wait_text(c) {
		const started = Date.now();
		const handle = await page.waitForFunction(([css, not]) => {
			const node = document.querySelector(css);
			if (!node)
				return false;
			const t = node.textContent.replace(/\s+/g, " ").trim();
			return t !== not ? t : false;
		}, [c.selector, c.not], { timeout: c.timeout_ms || 10000, polling: 100 });
		return { value: text(await handle.jsonValue()), elapsed_ms: Date.now() - started };
	},

	async wait_for(c) {
		await page.waitForSelector(c.selector, { state: "attached", timeout: c.timeout_ms || 10000 });
		return {};
	},

	async audit() {
		const audit = await page.evaluate(() => {
			const labelled = (node) => {
				if (node.getAttribute("aria-label") || node.getAttribute("aria-labelledby"))
					return true;
				if (node.id && document.querySelector(`label[for="${node.id}"]`))
					return true;
				return !!node.closest("label");
			};
			const canvases = Array.from(document.querySelectorAll("canvas")).map((c) => {
				const described = (c.getAttribute("aria-describedby") || "").split(/\s+/)
					.map((id) => document.getElementById(id)).filter(Boolean);
				const table = described.map((d) => d.closest("table")).find(Boolean);
				return {
					id: c.id,
					role: c.getAttribute("role"),
					name: (c.getAttribute("aria-labelledby") || "").split(/\s+/)
						.map((id) => document.getElementById(id)).filter(Boolean)
						.map((n) => n.textContent.trim()).join(" "),
					table: table ? table.id : null,
					table_rows: table ? table.tBodies[0].rows.length : 0,
					drawn: c.width > 0 && c.height > 0,
				};
			});
			const headings = Array.from(document.querySelectorAll("h1,h2,h3,h4,h5,h6"))
				.map((h) => Number(h.tagName[1]));
			const live = document.querySelector("[aria-live]");
			const tablesWithoutCaption = Array.from(document.querySelectorAll("table"))
				.filter((t) => !t.caption || !t.caption.textContent.trim()).map((t) => t.id);
			const tablesWithoutHeaders = Array.from(document.querySelectorAll("table"))
				.filter((t) => !t.querySelector("thead th[scope=col]")).map((t) => t.id);
			return {
				lang: document.documentElement.lang,
				title: document.title,
				landmarks: {
					header: document.querySelectorAll("body > header").length,
					nav: document.querySelectorAll("nav").length,
					main: document.querySelectorAll("main").length,
					footer: document.querySelectorAll("body > footer").length,
				},
				headings,
				unlabelled_controls: Array.from(document.querySelectorAll("input,select,textarea"))
					.filter((n) => n.type !== "hidden" && !labelled(n)).map((n) => n.id || n.name || n.tagName),
				canvases,
				live_region: live ? { id: live.id, value: live.getAttribute("aria-live"), text: live.textContent.trim() } : null,
				tables_without_caption: tablesWithoutCaption,
				tables_without_headers: tablesWithoutHeaders,
				chart_js: typeof window.Chart === "function" ? window.Chart.version : null,
			};
		});
		return { audit };
	},

	async tab(c) {
		const focused = [];
		await page.evaluate(() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); });
		for (let i = 0; i < (c.count || 10); i++) {
			await page.keyboard.press("Tab");
			focused.push(await page.evaluate(() => {
				const a = document.activeElement;
				if (!a || a === document.body)
					return null;
				return { tag: a.tagName.toLowerCase(), id: a.id || null,
					text: (a.textContent || "").trim().slice(0, 60), href: a.getAttribute("href") };
			}));
		}
		return { focused };
	},

	async requests() {
		const out = requests;
		requests = [];
		return { requests: out };
	},

	async route(c) {
		const re = new RegExp(c.match);
		const handler = async (route) => {
			const u = new URL(route.request().url());
			if (!re.test(u.pathname + u.search))
				return route.fallback();
			if (c.delay_ms) {
				await new Promise((done) => setTimeout(done, c.delay_ms));
				return route.fallback();
			}
			return route.fulfill({ status: c.status || 200, body: c.body || "",
				headers: Object.assign({ "Content-Type": "application/json" }, c.headers || {}) });
		};
		routes.push(handler);
		await page.route("**/*", handler);
		return {};
	},

	async unroute() {
		while (routes.length)
			await page.unroute("**/*", routes.pop());
		return {};
	},

	async press(c) {
		for (let i = 0; i < (c.count || 1); i++)
			await page.keyboard.press(c.key);
		return {};
	},

	async eval(c) {
		return { value: await page.evaluate(c.expr) };
	},

	async screenshot(c) {
		await page.screenshot({ path: c.path, fullPage: c.full_page !== false });
		return { path: c.path };
	},

	async close() {
		if (context)
			await context.close();
		context = null;
		return {};
	},
};

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
	if (!line.trim())
		continue;
	let answer;
	let c = {};
	try {
		c = JSON.parse(line);
		const fn = commands[c.cmd];
		if (!fn)
			throw new Error(`unknown command ${JSON.stringify(c.cmd)}`);
		answer = Object.assign({ ok: true }, await fn(c));
	} catch (e) {
		answer = { ok: false, error: String(e && e.message || e) };
	}
	answer.problems = problems.splice(0);
	process.stdout.write(JSON.stringify(answer) + "\n");
	if (c.cmd === "close")
		break;
}
if (context)
	await context.close();
process.exit(0);
