// The playground: plain JavaScript against the service's own REST API (same origin, no libraries).
// Text from the server is only ever set as textContent, never parsed as HTML.
"use strict";

(() => {
  const KEY_STORAGE = "pplx-rag-api-key"; // sessionStorage: the key lives and dies with this tab
  const JOB_POLL_MS = 250;
  const NEIGHBOUR_CHARS = 240;
  const $ = (id) => document.getElementById(id);
  const documents = new Map(); // "collection\u0000id" -> Promise of the document with its chunks

  class ApiError extends Error {
    constructor(message, status, type) {
      super(message);
      this.status = status;
      this.type = type;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  }

  async function api(method, path, body) {
    const headers = {};
    if (apiKey()) headers.Authorization = "Bearer " + apiKey();
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = (data && data.error) || `${method} ${path} answered ${response.status}`;
      if (response.status === 401) showKeyPanel(message);
      throw new ApiError(message, response.status, data && data.error_type);
    }
    return { status: response.status, data };
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function setStatus(id, text, isError = false) {
    const node = $(id);
    node.textContent = text;
    node.classList.toggle("error", isError);
  }

  // --- API key -------------------------------------------------------------------------------------

  function showKeyPanel(message) {
    $("key-panel").hidden = false;
    setStatus("key-status", apiKey() ? `The key was refused: ${message}` : message, true);
  }

  function useKey(event) {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    setStatus("key-status", key ? "Key set for this tab." : "Key cleared.");
    loadCollections();
  }

  // --- Collections ---------------------------------------------------------------------------------

  async function loadCollections() {
    const select = $("collection");
    try {
      const { data } = await api("GET", "/v1/collections");
      const chosen = select.value || "default";
      select.replaceChildren(
        ...data.collections.map((c) => {
          const label = c.error ? `${c.name} (unreadable)` : `${c.name} (${c.documents} docs, ${c.chunks} chunks)`;
          const option = element("option", label);
          option.value = c.name;
          return option;
        }),
      );
      const names = data.collections.map((c) => c.name);
      select.value = names.includes(chosen) ? chosen : names[0] || "";
      if (apiKey()) setStatus("key-status", "Key accepted.");
    } catch (error) {
      setStatus("search-status", `Could not list the collections: ${error.message}`, true);
    }
  }

  // --- Search --------------------------------------------------------------------------------------

  function searchRequest() {
    const request = {
      query: $("query").value.trim(),
      collection: $("collection").value || "default",
      top_k: Number($("top-k").value),
      mode: $("mode").value,
    };
    if (!request.query) throw new Error("Type a query first.");
    if (!Number.isInteger(request.top_k) || request.top_k < 1 || request.top_k > 1000) {
      throw new Error("Top k must be a whole number from 1 to 1000.");
    }
    const filter = $("filter").value.trim();
    if (filter) {
      let parsed;
      try {
        parsed = JSON.parse(filter);
      } catch (error) {
        throw new Error(`The filter is not valid JSON: ${error.message}`);
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new Error('The filter must be a JSON object, e.g. {"lang": "en"}.');
      }
      request.filter = parsed;
    }
    return request;
  }

  async function search(event) {
    event.preventDefault();
    let request;
    try {
      request = searchRequest();
    } catch (error) {
      setStatus("search-status", error.message, true);
      return;
    }
    $("search-button").disabled = true;
    setStatus("search-status", "Searching…");
    const started = performance.now();
    try {
      const { data } = await api("POST", "/v1/search", request);
      const roundTrip = performance.now() - started;
      setStatus("search-status", `${data.hits.length} hits · mode ${data.mode} · model ${data.model}`);
      showTimings(data.timings, roundTrip);
      showHits(data.hits, request.collection);
      loadContext(request);
    } catch (error) {
      setStatus("search-status", error.message, true);
      $("hits").replaceChildren();
      $("timings").textContent = "";
    } finally {
      $("search-button").disabled = false;
    }
  }

  function showTimings(timings, roundTrip) {
    const stages = Object.entries(timings)
      .filter(([stage, ms]) => stage !== "total" && ms > 0) // stages a mode skips report 0
      .map(([stage, ms]) => `${stage} ${ms.toFixed(1)}`);
    const total = timings.total === undefined ? "" : ` · total ${timings.total.toFixed(1)} ms`;
    $("timings").textContent = `${stages.join(" · ")}${total} · round trip ${roundTrip.toFixed(0)} ms`;
  }

  function documentLink(collection, hit) {
    const params = new URLSearchParams({ collection, id: hit.document_id, start: hit.char_start });
    const link = element("a", hit.title || hit.document_id, "hit-title");
    link.href = "#" + params.toString();
    return link;
  }

  function showHits(hits, collection) {
    const items = hits.map((hit) => {
      const item = element("li", null, "hit");
      const head = element("div", null, "hit-head");
      head.append(documentLink(collection, hit), element("span", `score ${hit.score.toFixed(3)}`, "score"));
      const where = [hit.source || hit.document_id];
      if (hit.page !== null && hit.page !== undefined) where.push(`page ${hit.page}`);
      const passage = element("p", null, "passage");
      passage.append(element("mark", hit.text));
      item.append(head, element("p", where.join(" · "), "meta"), passage);
      withNeighbours(collection, hit, passage);
      return item;
    });
    $("hits").replaceChildren(...items);
  }

  function fetchDocument(collection, id) {
    const cacheKey = `${collection}\u0000${id}`;
    if (!documents.has(cacheKey)) {
      const path = `/v1/collections/${encodeURIComponent(collection)}/documents/` +
        id.split("/").map(encodeURIComponent).join("/");
      const pending = api("GET", path).then((response) => response.data);
      pending.catch(() => documents.delete(cacheKey)); // a failed read is retried next time
      documents.set(cacheKey, pending);
    }
    return documents.get(cacheKey);
  }

  // A neighbour is shown in part, cut at a word: enough to read the hit in its place, short enough to scan.
  function head(text) {
    if (text.length <= NEIGHBOUR_CHARS) return text;
    const cut = text.lastIndexOf(" ", NEIGHBOUR_CHARS);
    return text.slice(0, cut > 0 ? cut : NEIGHBOUR_CHARS) + " …";
  }

  function tail(text) {
    if (text.length <= NEIGHBOUR_CHARS) return text;
    const cut = text.indexOf(" ", text.length - NEIGHBOUR_CHARS);
    return "… " + text.slice(cut > 0 ? cut + 1 : text.length - NEIGHBOUR_CHARS);
  }

  // Chunks do not overlap and only whitespace lies between them, so a chunk's neighbours are its context.
  async function withNeighbours(collection, hit, passage) {
    try {
      const doc = await fetchDocument(collection, hit.document_id);
      const chunks = doc.chunks;
      const at = chunks.findIndex((c) => c.char_start === hit.char_start);
      if (at < 0) return;
      const nodes = [];
      if (at > 0) nodes.push(element("span", tail(chunks[at - 1].text) + "\n", "neighbour"));
      nodes.push(element("mark", chunks[at].text));
      if (at + 1 < chunks.length) nodes.push(element("span", "\n" + head(chunks[at + 1].text), "neighbour"));
      passage.replaceChildren(...nodes);
      passage.dataset.neighbours = "loaded";
    } catch (error) {
      passage.dataset.neighbours = `unavailable: ${error.message}`;
    }
  }

  // --- The whole document --------------------------------------------------------------------------

  let documentOpener = null; // the link that opened the document panel gets the focus back

  async function showDocumentFromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const panel = $("document-panel");
    if (!params.get("id")) {
      panel.hidden = true;
      if (documentOpener && documentOpener.isConnected) documentOpener.focus();
      documentOpener = null;
      return;
    }
    if (document.activeElement && document.activeElement.tagName === "A") documentOpener = document.activeElement;
    const start = Number(params.get("start"));
    panel.hidden = false;
    $("document-text").replaceChildren();
    try {
      const doc = await fetchDocument(params.get("collection") || "default", params.get("id"));
      $("document-heading").textContent = doc.title || doc.id;
      const meta = [doc.id, doc.source, `${doc.chunk_count} chunks`, `version ${doc.version}`];
      $("document-meta").textContent = meta.filter(Boolean).join(" · ");
      let marked = null;
      const nodes = doc.chunks.map((chunk, index) => {
        const node = element(chunk.char_start === start ? "mark" : "span", chunk.text);
        if (chunk.char_start === start) marked = node;
        return index === 0 ? [node] : [document.createTextNode("\n\n"), node];
      });
      $("document-text").replaceChildren(...nodes.flat());
      $("document-heading").focus();
      if (marked) marked.scrollIntoView({ block: "center" });
    } catch (error) {
      $("document-heading").textContent = "Document";
      $("document-meta").textContent = `Could not read the document: ${error.message}`;
    }
  }

  // --- Context packing (POST /v1/context) ----------------------------------------------------------

  async function loadContext(request) {
    const body = { ...request, max_tokens: Number($("max-tokens").value) || 2000 };
    $("context-text").hidden = true;
    $("citations").replaceChildren();
    setStatus("context-status", "Packing the context…");
    try {
      const { data } = await api("POST", "/v1/context", body);
      setStatus("context-status", `${data.tokens} tokens of ${body.max_tokens} · ${data.citations.length} ` +
        `citations · model ${data.model}`);
      $("context-text").textContent = data.context;
      $("context-text").hidden = false;
      $("citations").replaceChildren(...data.citations.map((c) => {
        const where = [c.title || c.document_id, c.source, c.page === null ? null : `page ${c.page}`];
        return element("li", `[${c.index}] ${where.filter(Boolean).join(" · ")} (score ${c.score.toFixed(3)})`);
      }));
    } catch (error) {
      if (error.status === 404) {
        // The endpoint may be missing on an older server: say so and leave the search as it is.
        setStatus("context-status", `No context packing here: POST /v1/context answered 404 (${error.message}).`);
      } else {
        setStatus("context-status", `No context: ${error.message}`, true);
      }
    }
  }

  // --- Upload --------------------------------------------------------------------------------------

  function uploadForm() {
    const form = new FormData();
    for (const file of $("files").files) form.append("files", file, file.name);
    const pasted = $("paste-text").value.trim();
    if (pasted) {
      const title = $("paste-title").value.trim() || "pasted text";
      const name = title.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "") || "pasted";
      form.append("files", new File([pasted], `${name}.txt`, { type: "text/plain" }));
    }
    return form;
  }

  async function upload(event) {
    event.preventDefault();
    const form = uploadForm();
    if (!form.has("files")) {
      setStatus("upload-status", "Choose files or paste some text first.", true);
      return;
    }
    const collection = $("collection").value || "default";
    const progress = $("upload-progress");
    progress.hidden = false;
    progress.removeAttribute("value"); // indeterminate until the job reports numbers
    $("upload-button").disabled = true;
    $("upload-documents").replaceChildren();
    setStatus("upload-status", "Uploading…");
    try {
      const { status, data } = await api("POST", `/v1/collections/${encodeURIComponent(collection)}/documents`, form);
      const report = status === 202 ? await followJob(data.url) : data;
      if (status !== 202) progress.max = 1;
      progress.value = progress.max;
      showReport(report, collection);
      $("upload-form").reset();
      loadCollections();
    } catch (error) {
      progress.hidden = true;
      setStatus("upload-status", `Upload failed: ${error.message}`, true);
    } finally {
      $("upload-button").disabled = false;
    }
  }

  async function followJob(url) {
    const progress = $("upload-progress");
    for (;;) {
      const { data: job } = await api("GET", url);
      progress.max = Math.max(job.total, 1);
      progress.value = job.done;
      setStatus("upload-status", `Job ${job.id} ${job.status}: ${job.done} of ${job.total} documents`);
      if (job.status === "succeeded") return job.result;
      if (job.status === "failed") throw new Error(job.error || "the job failed");
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
    }
  }

  function showReport(report, collection) {
    const before = $("upload-status").textContent;
    const totals = `added ${report.added}, updated ${report.updated}, skipped ${report.skipped}, ` +
      `failed ${report.failed} (${report.chunks} chunks, ${report.seconds.toFixed(1)} s)`;
    setStatus("upload-status", before.startsWith("Job") ? `${before}. Done: ${totals}.` : `Done: ${totals}.`,
      report.failed > 0);
    $("upload-documents").replaceChildren(...report.outcomes.map((outcome) => {
      const item = element("li");
      if (outcome.status === "failed") {
        item.textContent = `${outcome.id}: failed (${outcome.error})`;
      } else {
        item.append(documentLink(collection, { document_id: outcome.id, char_start: -1 }));
        item.append(` ${outcome.status}${outcome.chunks ? `, ${outcome.chunks} chunks` : ""}`);
      }
      return item;
    }));
  }

  // --- Wiring --------------------------------------------------------------------------------------

  function onKey(event) {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("query").focus();
    } else if (event.key === "Escape" && !$("document-panel").hidden) {
      location.hash = "";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("api-key").value = apiKey();
    if (apiKey()) $("key-panel").hidden = false;
    $("key-form").addEventListener("submit", useKey);
    $("search-form").addEventListener("submit", search);
    $("upload-form").addEventListener("submit", upload);
    $("document-close").addEventListener("click", (event) => {
      event.preventDefault();
      location.hash = "";
    });
    window.addEventListener("hashchange", showDocumentFromHash);
    document.addEventListener("keydown", onKey);
    loadCollections();
    showDocumentFromHash();
  });
})();
