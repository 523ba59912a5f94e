// datamill feedback: keyboard shortcuts. Plain JS, no build step; every form also works without it.
(function () {
  "use strict";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const typing = (el) => el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && !["radio", "checkbox", "hidden", "submit", "button"].includes(el.type)) || el.tagName === "SELECT" || el.isContentEditable);

  function toggleHelp() {
    const help = $("#help");
    if (!help) return;
    const body = $("#help-body");
    const legend = $(".shortcuts");
    body.textContent = "";
    if (legend) body.appendChild(legend.cloneNode(true));
    help.hidden = !help.hidden;
  }

  function submitOnce(form) {
    if (!form || form.dataset.sent) return;
    if (form.reportValidity && !form.reportValidity()) return;
    form.dataset.sent = "1";
    const btn = $("button[type=submit]", form);
    if (btn) btn.disabled = true;
    form.submit();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const page = document.body.dataset.page;
    const task = $("#task");
    const form = $("#judge-form");
    const type = task ? task.dataset.type : null;
    const n = task ? parseInt(task.dataset.n, 10) : 0;
    const scale = task ? parseInt(task.dataset.scale, 10) : 0;
    // a visit from this site claims the next task at once (by POST: no GET assigns a task)
    const claim = $("#claim-form");
    if (claim && claim.dataset.auto) { claim.dataset.sent = "1"; claim.submit(); return; }
    if (form) form.addEventListener("submit", (e) => { if (form.dataset.sent) e.preventDefault(); else form.dataset.sent = "1"; });

    // ranking state: response indices in the order they were picked
    let picked = [];
    function paintRanking() {
      $$(".rankable").forEach((el) => {
        const i = parseInt(el.dataset.index, 10);
        const r = picked.indexOf(i);
        $("#rank-" + i).value = r >= 0 ? String(r + 1) : "";
        el.classList.toggle("ranked", r >= 0);
      });
    }
    // ranking by drag and drop: the order on screen (top = best) becomes the ranking
    if (type === "ranking") {
      let dragged = null;
      $$(".rankable").forEach((el) => {
        el.draggable = true;
        el.addEventListener("dragstart", (e) => { dragged = el; el.classList.add("dragging"); e.dataTransfer.effectAllowed = "move"; e.dataTransfer.setData("text/plain", el.dataset.index); });
        el.addEventListener("dragend", () => { el.classList.remove("dragging"); dragged = null; });
        el.addEventListener("dragover", (e) => { if (dragged) e.preventDefault(); });
        el.addEventListener("drop", (e) => {
          e.preventDefault();
          if (!dragged || dragged === el) return;
          const items = $$(".rankable");
          if (items.indexOf(dragged) < items.indexOf(el)) el.after(dragged); else el.before(dragged);
          picked = $$(".rankable").map((x) => parseInt(x.dataset.index, 10));
          paintRanking();
        });
      });
    }
    // rubric state: the highlighted cell
    const cells = type === "harm" ? $$(".harm-cell") : $$(".rubric .cell");
    let cell = 0;
    function paintCell() { cells.forEach((c, k) => c.classList.toggle("current", k === cell)); }
    if (type === "rubric" || type === "harm") paintCell();
    function toggleCategory(k, root) {
      const box = root && $('input[type=checkbox][data-cat-key="' + CSS.escape(k) + '"]', root);
      if (box) box.checked = !box.checked;
      return Boolean(box);
    }

    function pickSource(i) {
      const raw = $("#raw-" + i);
      if (!raw) return;
      $("#source").value = String(i);
      $("#rewrite").value = raw.value;
      $("#source-letter").textContent = "ABCDEFGHIJ"[i];
    }

    document.addEventListener("keydown", (e) => {
      const el = document.activeElement;
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        submitOnce(el && el.form && el.form.id === "skip-form" ? el.form : form);
        return;
      }
      if (e.key === "Escape") { const help = $("#help"); if (help && !help.hidden) help.hidden = true; if (el) el.blur(); return; }
      if (typing(el)) {
        if (e.key === "Enter" && el.tagName === "INPUT") { e.preventDefault(); submitOnce(el.form); }
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const k = e.key;
      if (k === "?") { toggleHelp(); e.preventDefault(); return; }
      if (page === "index") {
        const link = $('[data-key="' + CSS.escape(k) + '"]');
        if (link) { e.preventDefault(); link.click(); }
        return;
      }
      if (page !== "annotate") return;
      if (k === "g") { const d = $("#guidelines"); if (d) d.open = !d.open; e.preventDefault(); return; }
      const focusable = $('[data-focus-key="' + CSS.escape(k) + '"]');
      if (focusable) { e.preventDefault(); focusable.focus(); return; }
      if (!task) return;
      if (k === "Enter") { e.preventDefault(); submitOnce(form); return; }
      if (type === "harm") {
        const d = parseInt(k, 10);
        const here = cells[cell];
        if (k.length === 1 && d >= 0 && d < scale && here) {
          const radio = $('input[type=radio][data-level="' + d + '"]', here);
          if (radio) radio.checked = true;
          e.preventDefault();
        } else if (toggleCategory(k, here)) { e.preventDefault(); }
        else if (k === "ArrowDown") { cell = Math.min(cell + 1, cells.length - 1); paintCell(); e.preventDefault(); }
        else if (k === "ArrowUp") { cell = Math.max(cell - 1, 0); paintCell(); e.preventDefault(); }
      } else if (type === "pairwise" || type === "harm-pairwise") {
        const radio = $('input[type=radio][data-key="' + CSS.escape(k) + '"]', form);
        if (radio) { radio.checked = true; e.preventDefault(); }
        else if (toggleCategory(k, $("#categories"))) e.preventDefault();
      } else if (type === "ranking") {
        const d = parseInt(k, 10);
        if (d >= 1 && d <= n && !picked.includes(d - 1)) { picked.push(d - 1); paintRanking(); e.preventDefault(); }
        else if (k === "Backspace") { picked.pop(); paintRanking(); e.preventDefault(); }
        else if (k === "x") { picked = []; paintRanking(); e.preventDefault(); }
      } else if (type === "rubric") {
        const d = parseInt(k, 10);
        if (d >= 1 && d <= scale && cells[cell]) {
          const radio = $('input[value="' + d + '"]', cells[cell]);
          if (radio) radio.checked = true;
          cell = Math.min(cell + 1, cells.length - 1); paintCell(); e.preventDefault();
        } else if (k === "ArrowDown") { cell = Math.min(cell + 1, cells.length - 1); paintCell(); e.preventDefault(); }
        else if (k === "ArrowUp") { cell = Math.max(cell - 1, 0); paintCell(); e.preventDefault(); }
      } else if (type === "rewrite") {
        const d = parseInt(k, 10);
        if (d >= 1 && d <= n) { pickSource(d - 1); e.preventDefault(); }
      }
    });
  });
})();
