// The web page's one script: no framework, no build step. It speaks the gateway's /v1 API, as any
// client does (docs/api.md), sending the API key kept in this tab's sessionStorage when the gateway
// asks for one (401). Text from the API is always set as text (textContent), never as HTML.
"use strict";

(() => {
  const KEY = "recipes.apiKey";
  const TERMINAL = new Set(["generation.completed", "generation.failed"]);
  const PAGE_SIZE = 10;
  const $ = (id) => document.getElementById(id);

  class ApiError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail);
      this.status = status;
      this.retryAfter = retryAfter;
    }
  }

  const counted = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    for (const child of children) node.append(child);
    return node;
  }

  function show(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  // -- the API key: asked for once, when the gateway answers 401 --------------------------------

  let keyWaiters = [];

  function askForKey(refused) {
    const panel = $("key-panel");
    panel.hidden = false;
    const input = $("api-key");
    input.setCustomValidity("");
    if (refused) input.setCustomValidity("The gateway refused this key.");
    input.focus();
    if (refused) input.reportValidity();
    return new Promise((resolve) => keyWaiters.push(resolve));
  }

  function keyChanged() {
    $("forget-key").hidden = !sessionStorage.getItem(KEY);
  }

  function initKey() {
    keyChanged();
    $("api-key").addEventListener("input", (event) => event.target.setCustomValidity(""));
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("api-key").value.trim());
      $("api-key").value = "";
      $("key-panel").hidden = true;
      keyChanged();
      const waiters = keyWaiters;
      keyWaiters = [];
      waiters.forEach((resolve) => resolve());
    });
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      keyChanged();
    });
  }

  // -- the API ------------------------------------------------------------------------------------

  async function problemOf(response) {
    let detail = `The gateway answered HTTP ${response.status}.`;
    try {
      const problem = await response.json(); // RFC 9457: application/problem+json
      detail = problem.detail || problem.title || detail;
    } catch (_) { /* not JSON: keep the status line */ }
    return new ApiError(response.status, detail, Number(response.headers.get("Retry-After")) || 0);
  }

  async function api(path, { method = "GET", body, accept = "application/json", headers = {}, signal } = {}) {
    for (;;) {
      const sent = { Accept: accept, ...headers };
      const key = sessionStorage.getItem(KEY);
      if (key) sent.Authorization = `Bearer ${key}`;
      if (body !== undefined) sent["Content-Type"] = "application/json";
      const response = await fetch(path, {
        method, headers: sent, signal, body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (response.status === 401) {
        if (key) sessionStorage.removeItem(KEY);
        await askForKey(Boolean(key));
        continue;
      }
      if (!response.ok) throw await problemOf(response);
      return response;
    }
  }

  const getJson = async (path, options) => (await api(path, options)).json();

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  }

  // Server-sent events through fetch (EventSource cannot send an Authorization header): yields each
  // event until the final status; reconnects with Last-Event-ID when the stream ends early.
  async function* events(generationId, signal) {
    const path = `/v1/generations/${encodeURIComponent(generationId)}/events`;
    let lastId = null;
    for (let attempt = 0; attempt < 60; attempt += 1) {
      let response;
      try {
        response = await api(path, { accept: "text/event-stream", signal,
                                     headers: lastId ? { "Last-Event-ID": lastId } : {} });
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 503)) throw error;
        await sleep((error.retryAfter || 1) * 1000); // every stream of the worker is taken
        continue;
      }
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n?/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = {};
          for (const line of block.split("\n")) {
            if (!line || line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const name = colon < 0 ? line : line.slice(0, colon);
            fields[name] = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          }
          if (!fields.data) continue;
          lastId = fields.id || lastId;
          const event = JSON.parse(fields.data);
          yield event;
          if (TERMINAL.has(event.type)) return;
        }
      }
      const generation = await getJson(`/v1/generations/${encodeURIComponent(generationId)}`, { signal });
      if (generation.status === "completed" || generation.status === "failed") return;
      await sleep(1000);
    }
  }

  // -- home: ask, watch live, browse --------------------------------------------------------------

  let watching = null; // the AbortController of the generation being shown

  function resetLive() {
    $("live").hidden = false;
    $("live-title").textContent = "Being written";
    $("live-name").textContent = "";
    $("live-ingredients").replaceChildren();
    $("live-steps").replaceChildren();
    $("live-links").replaceChildren();
    $("live-ingredient-count").textContent = "0";
    $("live-step-count").textContent = "0";
    show($("live-error"), "");
  }

  function liveEvent(event) {
    const data = event.data || {};
    const args = data.arguments || {};
    switch (event.type) {
      case "generation.started":
        $("live-status").textContent = `The model is writing (${data.model || "model"})…`;
        break;
      case "toolcall.add_recipe":
        $("live-name").textContent = args.name || args.id || "";
        break;
      case "toolcall.add_ingredient":
        $("live-ingredients").append(el("li", {}, el("span", { class: "quantity" }, args.quantity || ""),
                                         " ", args.ingredient || ""));
        $("live-ingredient-count").textContent = String($("live-ingredients").children.length);
        break;
      case "toolcall.add_step":
        $("live-steps").append(el("li", { value: String(args.step_number) }, args.instructions || ""));
        $("live-step-count").textContent = String($("live-steps").children.length);
        break;
      case "toolcall.rejected":
        $("live-status").textContent = `A tool call was refused and the model was told why: ${data.error || ""}`;
        break;
      case "generation.completed":
        $("live-title").textContent = "Written";
        $("live-status").textContent = `Completed. ${data.message || ""}`.trim();
        break;
      case "generation.failed":
        $("live-title").textContent = "Not written";
        $("live-status").textContent = "Failed.";
        show($("live-error"), data.reason || "The generation failed.");
        break;
      default:
        break;
    }
  }

  async function watch(generationId, controller) {
    $("live-status").textContent = "Queued: waiting for the model…";
    for await (const event of events(generationId, controller.signal)) liveEvent(event);
    const generation = await getJson(`/v1/generations/${encodeURIComponent(generationId)}`);
    const links = $("live-links");
    for (const recipe of generation.recipes || []) {
      links.append(el("a", { href: `/recipes/${encodeURIComponent(recipe.id)}`, class: "open-recipe" },
                      `Open the recipe: ${recipe.name || recipe.id}`), " ");
    }
    if (generation.status === "failed" && generation.error && $("live-error").hidden) {
      show($("live-error"), generation.error.reason);
    }
    loadRecipes();
  }

  async function submitGeneration(event) {
    event.preventDefault();
    const button = $("generate");
    const prompt = $("prompt").value.trim();
    const instructions = $("instructions").value.trim();
    show($("generate-error"), "");
    if (!prompt) {
      show($("generate-error"), "Write what the model should cook.");
      $("prompt").focus();
      return;
    }
    button.disabled = true;
    if (watching) watching.abort();
    const controller = new AbortController();
    watching = controller;
    try {
      const accepted = await getJson("/v1/generations", {
        method: "POST", headers: { "Idempotency-Key": newKey() },
        body: { prompt, ...(instructions ? { instructions } : {}) },
      });
      resetLive();
      button.disabled = false;
      await watch(accepted.id, controller);
    } catch (error) {
      if (controller.signal.aborted) return; // another request took the live view
      const target = $("live").hidden ? $("generate-error") : $("live-error");
      show(target, error.message || String(error));
    } finally {
      button.disabled = false;
    }
  }

  const listing = { q: "", ingredient: "", cursors: [null] };

  function recipeItem(recipe) {
    const created = recipe.created_at ? new Date(recipe.created_at).toLocaleString() : "";
    const meta = `${counted(recipe.ingredients.length, "ingredient")} · ${counted(recipe.steps.length, "step")}`
      + (recipe.status === "complete" ? "" : " · still being written") + (created ? ` · ${created}` : "");
    return el("li", {}, el("a", { href: `/recipes/${encodeURIComponent(recipe.id)}` }, recipe.name || recipe.id),
              el("p", { class: "meta" }, meta),
              ...(recipe.description ? [el("p", { class: "meta" }, recipe.description)] : []));
  }

  async function loadRecipes() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (listing.q) params.set("q", listing.q);
    if (listing.ingredient) params.set("ingredient", listing.ingredient);
    const cursor = listing.cursors[listing.cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    show($("recipes-error"), "");
    $("recipe-list").setAttribute("aria-busy", "true");
    try {
      const page = await getJson(`/v1/recipes?${params}`);
      $("recipe-list").replaceChildren(...page.items.map(recipeItem));
      const filtered = listing.q || listing.ingredient ? " matching the search" : "";
      const where = listing.cursors.length > 1 ? `page ${listing.cursors.length}` : "newest first";
      $("recipes-summary").textContent = page.items.length
        ? `${counted(page.items.length, "recipe")}${filtered}, ${where}.` : `No recipes${filtered} yet.`;
      $("page-next").hidden = !page.next_cursor;
      $("page-next").dataset.cursor = page.next_cursor || "";
      $("page-prev").hidden = listing.cursors.length <= 1;
    } catch (error) {
      show($("recipes-error"), error.message || String(error));
    } finally {
      $("recipe-list").removeAttribute("aria-busy");
    }
  }

  function search(event) {
    event.preventDefault();
    listing.q = $("search-q").value.trim();
    listing.ingredient = $("search-ingredient").value.trim();
    listing.cursors = [null];
    const params = new URLSearchParams();
    if (listing.q) params.set("q", listing.q);
    if (listing.ingredient) params.set("ingredient", listing.ingredient);
    history.replaceState(null, "", `/${params.toString() ? `?${params}` : ""}#recipes`);
    loadRecipes();
  }

  function initHome() {
    $("generate-form").addEventListener("submit", submitGeneration);
    $("search-form").addEventListener("submit", search);
    $("page-next").addEventListener("click", () => {
      listing.cursors.push($("page-next").dataset.cursor);
      loadRecipes().then(() => $("recipes-title").scrollIntoView());
    });
    $("page-prev").addEventListener("click", () => {
      listing.cursors.pop();
      loadRecipes();
    });
    const params = new URLSearchParams(location.search);
    listing.q = params.get("q") || "";
    listing.ingredient = params.get("ingredient") || "";
    $("search-q").value = listing.q;
    $("search-ingredient").value = listing.ingredient;
    loadRecipes();
  }

  // -- one recipe ---------------------------------------------------------------------------------

  async function initRecipe() {
    const article = $("recipe");
    const path = `/v1/recipes/${encodeURIComponent(article.dataset.recipeId)}`;
    $("print").addEventListener("click", () => window.print());
    try {
      const recipe = await getJson(path);
      $("recipe-name").textContent = recipe.name || recipe.id;
      document.title = `${recipe.name || recipe.id} · Recipes`;
      $("recipe-description").textContent = recipe.description || "";
      $("recipe-ingredients").replaceChildren(...recipe.ingredients.map((item) => el(
        "li", {}, el("span", { class: "quantity" }, item.quantity || ""), " ", item.ingredient || "")));
      $("recipe-steps").replaceChildren(...recipe.steps.map((step) => el(
        "li", { value: String(step.step_number) }, step.instructions || "")));
      $("recipe-ingredient-count").textContent = String(recipe.ingredients.length);
      $("recipe-step-count").textContent = String(recipe.steps.length);
      const made = recipe.completed_at || recipe.created_at;
      $("recipe-meta").textContent = (recipe.status === "complete" ? "" : "Still being written. ")
        + (made ? `Made ${new Date(made).toLocaleString()}.` : "");
      $("recipe-body").hidden = false;
      // schema.org JSON-LD, as the API renders it: set as text (a script of this type is never run).
      $("recipe-jsonld").textContent = await (await api(path, { accept: "application/ld+json" })).text();
    } catch (error) {
      $("recipe-name").textContent = "Recipe not available";
      show($("recipe-error"), error.message || String(error));
    } finally {
      article.removeAttribute("aria-busy");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    initKey();
    const page = document.body.dataset.page;
    if (page === "home") initHome();
    if (page === "recipe") initRecipe();
  });
})();
