// End-to-end test of the playground in headless Chromium (run by
// TestBrowser in runtime/playground, which starts the playground and
// passes its URL). It plays the webshop (order lookup mocked from the
// page) and the campaign flow, checks each channel column and the graph,
// saves a test file, follows an edit of a flow file, takes screenshots,
// and checks that no request leaves the playground's host.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const base = process.env.PLAYGROUND_URL;
const shots = process.env.SHOTS_DIR;
const flowsDir = process.env.FLOWS_DIR;
assert.ok(base && shots && flowsDir, "PLAYGROUND_URL, SHOTS_DIR and FLOWS_DIR must be set");
const host = new URL(base).host;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1680, height: 1050 }, deviceScaleFactor: 1 });
  const requests = [], outside = [];
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    requests.push(u.href);
    if (u.protocol !== "data:" && u.protocol !== "blob:" && u.host !== host) {
      outside.push(u.href);
      return route.abort();
    }
    return route.continue();
  });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });

  const col = (ch) => page.locator(`.phone[data-channel="${ch}"]`);
  const lastBot = (ch) => col(ch).locator(".msg.bot").last();
  const state = (ch) => col(ch).getAttribute("data-state");
  const currentNode = () => page.locator("#graph g.node.current title").textContent();
  // shoot takes a screenshot of the page at rest (no hover, no focus), so
  // that runs give the same picture.
  async function shoot(name) {
    await page.mouse.move(1, 1045);
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    const png = await page.screenshot({ animations: "disabled", caret: "hide" });
    const file = path.join(shots, name);
    if (fs.existsSync(file) && (await differing(fs.readFileSync(file), png)) < 100) return; // the same picture but for antialiasing (a few dozen pixels)
    fs.writeFileSync(file, png);
  }
  // differing counts the pixels in which two PNGs differ (Infinity for other sizes).
  async function differing(a, b) {
    const scratch = await context.newPage();
    try {
      return await scratch.evaluate(async ([a, b]) => {
        const load = (s) => new Promise((ok, fail) => { const i = new Image(); i.onload = () => ok(i); i.onerror = fail; i.src = "data:image/png;base64," + s; });
        const [ia, ib] = [await load(a), await load(b)];
        if (ia.width !== ib.width || ia.height !== ib.height) return Infinity;
        const pixels = (i) => {
          const c = document.createElement("canvas");
          c.width = i.width; c.height = i.height;
          const x = c.getContext("2d");
          x.drawImage(i, 0, 0);
          return x.getImageData(0, 0, i.width, i.height).data;
        };
        const [pa, pb] = [pixels(ia), pixels(ib)];
        let n = 0;
        for (let k = 0; k < pa.length; k += 4) if (pa[k] !== pb[k] || pa[k + 1] !== pb[k + 1] || pa[k + 2] !== pb[k + 2]) n++;
        return n;
      }, [a.toString("base64"), b.toString("base64")]);
    } finally {
      await scratch.close();
    }
  }
  async function settled() {
    // every queued turn answered
    await page.evaluate(() => queue);
  }

  // ---- webshop ----
  await page.goto(base + "?flow=webshop.yaml");
  await page.waitForSelector("body[data-ready='1']");
  await settled();
  // The menu as each channel shows it.
  const web = col("web").locator('[data-packet="bubbles"]').last();
  assert.deepEqual(await web.locator(".opt").allTextContents(), ["Delivery status", "Return an item", "Opening hours", "Talk to a human"]);
  const wa = col("whatsapp_business").locator('[data-packet="list_template"]').last();
  assert.equal(await wa.getAttribute("data-form"), "wa-list");
  assert.match(await wa.locator(".wa-list-button").textContent(), /^☰ /);
  assert.equal(await wa.locator(".wa-sheet").isVisible(), false, "a WhatsApp list shows its rows only after its button is tapped");
  const fb = col("facebook").locator('[data-packet="bubbles"]').last();
  assert.equal(await fb.getAttribute("data-form"), "fb-quick");
  assert.equal(await fb.locator(".opt").count(), 4);
  const sms = lastBot("sms");
  assert.equal(await sms.getAttribute("data-packet"), "message");
  assert.match(await sms.innerText(), /Please reply with the number of an option:\s*1\. Delivery status\s*2\. Return an item\s*3\. Opening hours\s*4\. Talk to a human/);
  assert.equal(await col("sms").locator("[data-option]").count(), 0, "SMS shows nothing clickable");
  assert.equal(await currentNode(), "menu");

  // The order service, mocked from the page.
  await page.fill("#env", "ORDER_API_URL=http://orders.test");
  await page.fill("#mocks", "- url: http://orders.test/orders/A-12345\n  json: {status: shipped}\n");

  // A tap on a WhatsApp list row is the same tap everywhere; SMS types 1.
  await wa.locator(".wa-list-button").click();
  assert.equal(await wa.locator(".wa-sheet").isVisible(), true);
  assert.deepEqual(await wa.locator(".wa-row .row-title").allTextContents(), ["Delivery status", "Return an item", "Opening hours", "Talk to a human"]);
  await page.waitForFunction(() => !document.querySelector("#problems").innerText.includes("ORDER_API_URL"));
  await page.evaluate(() => document.querySelector("#side").scrollTo(0, 0));
  await shoot("playground-menu.png");
  await wa.locator('.wa-row[data-option="delivery"]').click();
  await settled();
  for (const ch of ["web", "whatsapp_business", "facebook", "sms"]) assert.equal(await state(ch), "ask_order", ch);
  assert.equal(await col("sms").locator(".msg.contact").last().innerText(), "1");
  assert.match(await col("web").locator(".msg.contact").last().innerText(), /Delivery status/);
  assert.equal(await currentNode(), "ask_order");

  await page.fill("#say-all", "a 12345");
  await page.press("#say-all", "Enter");
  await settled();
  for (const ch of ["web", "whatsapp_business", "facebook", "sms"]) {
    assert.ok((await col(ch).innerText()).includes("Order A-12345: shipped."), ch + " shows the order status");
    assert.equal(await state(ch), "menu", ch);
  }
  const call = page.locator("#calls .call").first();
  assert.match(await call.locator("summary").textContent(), /GET http:\/\/orders.test\/orders\/A-12345 → 200 \[mock, async\]/);
  assert.match(await page.locator("#vars").innerText(), /order_status\s+shipped/);
  assert.match(await page.locator("#context").innerText(), /\d+ of 10240 bytes/);
  assert.ok(await page.locator("#graph g.edge.taken").count() >= 5, "the path taken is drawn");
  assert.ok((await page.locator("#trace li").allTextContents()).includes("lookup —http_result→ order_status") ||
    (await page.locator("#trace li").count()) > 5);

  // "2" typed on SMS only: the second option there; web keeps its menu.
  await col("sms").locator(".col-composer input").fill("2");
  await col("sms").locator(".col-composer input").press("Enter");
  await settled();
  const smsText = await col("sms").innerText();
  assert.ok(smsText.includes("Returns are free within 30 days.") && !smsText.includes("**"), "SMS strips markdown");
  assert.ok(smsText.includes("Returns portal: https://shop.example.com/returns"), "a URL button is text on SMS");
  assert.equal(await state("web"), "menu");

  // A tap on web: returns on every channel (SMS types 2 again).
  await col("web").locator('[data-packet="bubbles"]').last().locator('[data-option="returns"]').click();
  await settled();
  assert.equal(await col("web").locator(".msg.bot b").filter({ hasText: "Returns are free within 30 days." }).count(), 1, "web shows markdown bold");
  assert.equal(await col("web").locator(".url-button").last().textContent(), "Returns portal ↗");
  assert.equal(await col("whatsapp_business").locator(".msg.bot b").filter({ hasText: "Returns are free within 30 days." }).count(), 1, "WhatsApp's *bold*");
  assert.ok((await col("whatsapp_business").innerText()).includes("Returns portal: https://shop.example.com/returns"));
  assert.equal(await col("sms").locator(".msg.contact").last().innerText(), "2");
  // Messenger's quick replies go once another message came; WhatsApp keeps its buttons.
  assert.equal(await col("facebook").locator('[data-form="fb-quick"] .options:visible').count(), 1);
  assert.match(await page.locator("#problems").innerText(), /^webshop\.yaml:8:10: warning: environment variable USERLIKE_API_URL is not set/);
  await page.evaluate(() => document.querySelector("#side").scrollTo(0, 0));
  await shoot("playground-webshop.png");

  // Save as test file: it passes flowbot test.
  await page.click("#save");
  await page.waitForSelector("#saved-panel:not([hidden])");
  assert.match(await page.locator("#saved-status").textContent(), /passes flowbot test: 4 passed, 0 failed — written to /, await page.locator("#saved").textContent());
  assert.ok(fs.existsSync(path.join(flowsDir, "webshop_playground_test.yaml")));
  const yaml = await page.locator("#saved").textContent();
  assert.match(yaml, /url: http:\/\/orders.test\/orders\/A-12345/);

  // Start from a state with variables.
  await page.selectOption("#start-state", "ask_order");
  await page.fill("#start-vars", "name: Ada");
  await page.click("#start-here");
  await settled();
  for (const ch of ["web", "whatsapp_business", "facebook", "sms"]) {
    assert.equal(await state(ch), "ask_order", ch);
    assert.match(await col(ch).innerText(), /starts in state ask_order/);
  }
  assert.equal(await currentNode(), "ask_order");
  assert.match(await page.locator("#vars").innerText(), /name\s+Ada/);
  await page.fill("#say-all", "no idea");
  await page.press("#say-all", "Enter");
  await settled();
  assert.ok((await lastBot("facebook").innerText()).startsWith("Order ids look like A-12345"));
  assert.equal(await state("sms"), "ask_order");

  // ---- campaign ----
  await page.selectOption("#flow", "campaign-signup.yaml");
  await page.waitForFunction(() => document.querySelector('.phone[data-channel="web"]').dataset.state === "welcome");
  await settled();
  const waT = col("whatsapp_business").locator('[data-packet="button_template"]').last();
  assert.equal(await waT.getAttribute("data-form"), "wa-buttons");
  assert.deepEqual(await waT.locator(".opt").allTextContents(), ["start"]);
  assert.equal(await col("facebook").locator('[data-packet="button_template"]').last().getAttribute("data-form"), "fb-template");
  assert.equal(await col("web").locator('[data-packet="button_template"]').last().getAttribute("data-form"), "card");
  assert.match(await lastBot("sms").innerText(), /Please click 'start' to subscribe to our campaign.\s*1\. start/);
  assert.equal(await currentNode(), "welcome");
  await col("facebook").locator('[data-option="start"]').last().click();
  await settled();
  for (const ch of ["web", "whatsapp_business", "facebook", "sms"]) {
    assert.equal(await state(ch), "subscribed", ch);
    assert.ok((await col(ch).innerText()).includes("You've been subscribed to the campaign!"), ch);
    assert.equal(await col(ch).locator('[data-packet="contact_update"]').count(), 1, ch + " shows contact_update");
  }
  await col("whatsapp_business").locator(".badge").click(); // the header focuses its column
  assert.equal(await page.locator("#focus").inputValue(), "1");
  assert.equal(await currentNode(), "subscribed");
  await page.evaluate(() => document.querySelector("#side").scrollTo(0, 0));
  await shoot("playground-campaign.png");

  // Change a column's channel: its conversation is played again there.
  await col("sms").locator(".phone-channel").selectOption("telegram");
  await page.waitForFunction(() => document.querySelector('.phone[data-channel="telegram"]')?.dataset.state === "subscribed");
  await settled();
  assert.match(await col("telegram").locator(".msg.contact").first().innerText(), /^1$/);
  await col("telegram").locator(".phone-channel").selectOption("sms");
  await page.waitForFunction(() => document.querySelector('.phone[data-channel="sms"]')?.dataset.state === "subscribed");
  await settled();

  // An edit of the flow file: the page reloads and plays the conversation again.
  const file = path.join(flowsDir, "campaign-signup.yaml");
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("You've been subscribed to the campaign!", "Subscribed, thank you!"));
  await page.waitForFunction(() => document.querySelector('.phone[data-channel="sms"]').innerText.includes("Subscribed, thank you!"), null, { timeout: 10000 });
  await settled();
  assert.match(await page.locator("#status").textContent(), /the flow file changed/);

  assert.deepEqual(pageErrors, [], "no script errors on the page");
  assert.deepEqual(outside, [], "no request leaves the machine");
  assert.ok(requests.length > 10 && requests.every((u) => new URL(u).host === host));
  console.log(`playground e2e: ok (${requests.length} requests, all to ${host})`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
