// /setting/view: saved views (a name, patterns, graph options) kept through /api/views.

import * as api from './api.js';
import { $, h, toast, setupTheme, debounce } from './ui.js';

setupTheme();

const OPTS = ['from', 'type', 'style', 'title'];
let views = [];
let editing = null; // the name being edited, null for a new view

function open(name) {
  return {
    realtime: `/realtime/view/${encodeURIComponent(name)}`,
    trend: `/trend/view/?view=${encodeURIComponent(name)}`,
  };
}

function paintList() {
  const f = $('#filter').value.trim().toLowerCase();
  const shown = views.filter((v) => !f || v.name.toLowerCase().includes(f) || v.patterns.some((p) => p.toLowerCase().includes(f)));
  $('#list').replaceChildren(...shown.map((v) => {
    const links = open(v.name);
    return h('li', { dataset: { name: v.name } },
      h('span', { class: 'vname' }, v.name),
      h('a', { href: links.realtime }, 'realtime'),
      h('a', { href: links.trend }, 'trend'),
      h('button', { type: 'button', class: 'small', onclick: () => edit(v) }, 'Edit'),
      h('button', { type: 'button', class: 'small danger', onclick: () => remove(v.name) }, 'Delete'),
      h('span', { class: 'pats mono small' }, v.patterns.join('  ·  ')));
  }));
  $('#empty').hidden = views.length > 0;
}

async function load() {
  try {
    views = await api.views.list();
    paintList();
  } catch (e) {
    $('#formError').textContent = e.message;
  }
}

function edit(v) {
  editing = v ? v.name : null;
  $('#editorTitle').textContent = v ? `Edit "${v.name}"` : 'New view';
  $('#name').value = v ? v.name : '';
  $('#name').readOnly = Boolean(v);
  $('#patterns').value = v ? v.patterns.join('\n') : '';
  for (const k of OPTS) $(`#g-${k}`).value = (v && v.graph && v.graph[k]) || '';
  $('#delete').hidden = !v;
  for (const [id, key] of [['#openRealtime', 'realtime'], ['#openTrend', 'trend']]) {
    $(id).hidden = !v;
    if (v) $(id).href = open(v.name)[key];
  }
  $('#formError').textContent = '';
  $('#name').focus();
}

async function remove(name) {
  if (!confirm(`Delete view "${name}"?`)) return;
  try {
    await api.views.remove(name);
    toast(`deleted "${name}"`);
    if (editing === name) edit(null);
    await load();
  } catch (e) {
    toast(e.message, true);
  }
}

$('#editor').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const name = $('#name').value.trim();
  const patterns = $('#patterns').value.split('\n').map((s) => s.trim()).filter(Boolean);
  const graph = {};
  for (const k of OPTS) { const v = $(`#g-${k}`).value.trim(); if (v) graph[k] = v; }
  if (!patterns.length) { $('#formError').textContent = 'a view needs at least one pattern'; return; }
  try {
    const saved = await api.views.put(name, { patterns, graph });
    toast(`saved "${saved.name}"`);
    await load();
    edit(saved);
  } catch (e) {
    $('#formError').textContent = e.message;
  }
});

$('#delete').addEventListener('click', () => editing && remove(editing));
$('#new').addEventListener('click', () => edit(null));
$('#filter').addEventListener('input', debounce(paintList, 100));

load();
