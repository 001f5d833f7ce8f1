(function () {
  'use strict';

  var spec = null;
  var METHODS = ['get', 'post', 'put', 'patch', 'delete', 'head', 'options'];

  // ---- DOM helpers (text is always set through text nodes: nothing from the document is parsed as HTML)
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k) || attrs[k] == null || attrs[k] === false) continue;
        if (k === 'class') el.className = attrs[k];
        else if (k === 'text') el.textContent = attrs[k];
        else el.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child == null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  // A path with line-break opportunities after each "/" (for the narrow sidebar).
  function breakable(path) {
    var out = [];
    String(path).split('/').forEach(function (part, i) { if (i) { out.push('/'); out.push(h('wbr')); } out.push(part); });
    return out;
  }
  function slug(s) { return String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, ''); }

  // ---- Minimal Markdown: paragraphs, "* " lists, pipe tables, `code`, **bold**
  function inline(text) {
    var out = [];
    var re = /(`[^`]+`|\*\*[^*]+\*\*)/g, last = 0, m;
    while ((m = re.exec(text))) {
      if (m.index > last) out.push(text.slice(last, m.index));
      var t = m[0];
      out.push(t[0] === '`' ? h('code', { text: t.slice(1, -1) }) : h('strong', { text: t.slice(2, -2) }));
      last = re.lastIndex;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
  function splitRow(line) {
    var cells = [], cur = '', inCode = false;
    line = line.trim().replace(/^\|/, '').replace(/\|$/, '');
    for (var i = 0; i < line.length; i++) {
      var c = line[i];
      if (c === '`') inCode = !inCode;
      if (c === '\\' && line[i + 1] === '|') { cur += '|'; i++; continue; }
      if (c === '|' && !inCode) { cells.push(cur.trim()); cur = ''; continue; }
      cur += c;
    }
    cells.push(cur.trim());
    return cells;
  }
  function markdown(text) {
    var box = h('div', { class: 'md' });
    if (!text) return box;
    var lines = String(text).split('\n'), i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (!line.trim()) { i++; continue; }
      if (/^\s*\|/.test(line)) {
        var rows = [];
        while (i < lines.length && /^\s*\|/.test(lines[i])) rows.push(lines[i++]);
        var table = h('table');
        var head = splitRow(rows[0]);
        table.appendChild(h('thead', null, h('tr', null, head.map(function (c) { return h('th', { scope: 'col' }, inline(c)); }))));
        var tbody = h('tbody');
        rows.slice(1).forEach(function (r) {
          if (/^\s*\|[\s|:-]+\|?\s*$/.test(r)) return;
          tbody.appendChild(h('tr', null, splitRow(r).map(function (c) { return h('td', null, inline(c)); })));
        });
        table.appendChild(tbody);
        box.appendChild(table);
      } else if (/^\s*[*-]\s+/.test(line)) {
        var ul = h('ul');
        while (i < lines.length && /^\s*[*-]\s+/.test(lines[i])) ul.appendChild(h('li', null, inline(lines[i++].replace(/^\s*[*-]\s+/, ''))));
        box.appendChild(ul);
      } else {
        var para = [];
        while (i < lines.length && lines[i].trim() && !/^\s*\|/.test(lines[i]) && !/^\s*[*-]\s+/.test(lines[i])) para.push(lines[i++]);
        box.appendChild(h('p', null, inline(para.join(' '))));
      }
    }
    return box;
  }

  // ---- $ref resolution and schema flattening
  function resolveRef(ref) {
    if (typeof ref !== 'string' || ref.indexOf('#/') !== 0) return null;
    var node = spec;
    var parts = ref.slice(2).split('/');
    for (var i = 0; i < parts.length; i++) {
      var p = parts[i].replace(/~1/g, '/').replace(/~0/g, '~');
      if (!node || typeof node !== 'object' || !(p in node)) return null;
      node = node[p];
    }
    return node;
  }
  function deref(node) {
    var seen = 0;
    while (node && node.$ref && seen++ < 20) node = resolveRef(node.$ref) || {};
    return node || {};
  }
  function refName(node) { return node && node.$ref ? node.$ref.split('/').pop() : null; }

  // Merges allOf parts into one object schema (properties, required, description).
  function flatten(schema, stack) {
    schema = deref(schema);
    if (!schema.allOf) return schema;
    var out = { type: 'object', properties: {}, required: [] };
    ['description', 'nullable', 'example'].forEach(function (k) { if (schema[k] != null) out[k] = schema[k]; });
    schema.allOf.forEach(function (part) {
      var f = flatten(part, stack);
      if (f.properties) for (var k in f.properties) out.properties[k] = f.properties[k];
      if (f.required) out.required = out.required.concat(f.required);
      if (!out.description && f.description) out.description = f.description;
    });
    if (schema.properties) for (var k in schema.properties) out.properties[k] = schema.properties[k];
    if (schema.required) out.required = out.required.concat(schema.required);
    return out;
  }

  function typeLabel(node) {
    var name = refName(node);
    var s = flatten(node);
    var t;
    if (s.oneOf || s.anyOf) t = (s.oneOf || s.anyOf).map(typeLabel).join(' | ');
    else if (s.type === 'array') t = 'array of ' + typeLabel(s.items || {});
    else t = s.type || (s.properties ? 'object' : 'any');
    if (s.format) t += ' (' + s.format + ')';
    if (name && (s.type === 'object' || s.properties || s.allOf || deref(node).allOf)) t = name;
    return t;
  }

  function constraints(s) {
    var bits = [];
    if (s.minLength != null || s.maxLength != null) bits.push('length ' + (s.minLength != null ? s.minLength : 0) + '–' + (s.maxLength != null ? s.maxLength : '∞'));
    if (s.minimum != null || s.maximum != null) bits.push('range ' + (s.minimum != null ? s.minimum : '−∞') + '–' + (s.maximum != null ? s.maximum : '∞'));
    if (s.minItems != null) bits.push('min items ' + s.minItems);
    if (s.maxItems != null) bits.push('max items ' + s.maxItems);
    if (s.default !== undefined) bits.push('default ' + JSON.stringify(s.default));
    return bits;
  }

  // Renders an object/array schema as an indented field list.
  function fieldList(node, stack, depth) {
    stack = stack || [];
    depth = depth || 0;
    var name = refName(node);
    if (name && stack.indexOf(name) >= 0) return h('p', { class: 'fdesc' }, '(recursive ', h('a', { href: '#schema-' + slug(name) }, name), ')');
    if (name) stack = stack.concat([name]);
    var s = flatten(node, stack);
    if (s.type === 'array' && s.items) {
      var item = flatten(s.items);
      if (item.properties || item.allOf) return h('div', null, h('p', { class: 'fdesc' }, 'Array of ' + typeLabel(s.items) + ':'), fieldList(s.items, stack, depth + 1));
      return h('p', null, h('span', { class: 'ftype mono' }, typeLabel(node)));
    }
    if (!s.properties) {
      var bits = [h('span', { class: 'ftype mono' }, typeLabel(node))];
      if (s.description) bits.push(h('span', { class: 'fdesc' }, inline(s.description)));
      return h('p', null, bits);
    }
    var required = s.required || [];
    var ul = h('ul', { class: 'fields' });
    Object.keys(s.properties).forEach(function (key) {
      var prop = s.properties[key];
      var ps = flatten(prop);
      var li = h('li', null,
        h('code', { class: 'fname' }, key),
        h('span', { class: 'ftype mono' }, typeLabel(prop)),
        required.indexOf(key) >= 0 ? h('span', { class: 'pill req' }, 'required') : null,
        ps.nullable ? h('span', { class: 'pill' }, 'nullable') : null,
        constraints(ps).map(function (c) { return h('span', { class: 'pill' }, c); }));
      var desc = ps.description || deref(prop).description;
      if (desc) li.appendChild(h('span', { class: 'fdesc' }, '— ', inline(desc)));
      var en = ps.enum || (ps.type === 'array' && flatten(ps.items || {}).enum);
      if (en) li.appendChild(h('div', { class: 'fenum' }, 'One of: ', en.map(function (v, i) { return [i ? ', ' : '', h('code', { text: JSON.stringify(v) })]; })));
      if (ps.oneOf || ps.anyOf) {
        li.appendChild(h('div', { class: 'fenum' }, 'One of: ', (ps.oneOf || ps.anyOf).map(function (alt, i) { return [i ? ' | ' : '', h('code', { text: typeLabel(alt) })]; })));
      }
      var nested = ps.type === 'array' ? flatten(ps.items || {}) : ps;
      if ((nested.properties) && depth < 6) {
        li.appendChild(fieldList(ps.type === 'array' ? ps.items : prop, stack, depth + 1));
      }
      ul.appendChild(li);
    });
    return ul;
  }

  // Builds an example value from a schema when the document gives none.
  function sample(node, stack) {
    stack = stack || [];
    var name = refName(node);
    if (name && stack.indexOf(name) >= 0) return {};
    if (name) stack = stack.concat([name]);
    var raw = deref(node);
    if (raw.example !== undefined) return raw.example;
    var s = flatten(node);
    if (s.example !== undefined) return s.example;
    if (s.default !== undefined) return s.default;
    if (s.enum) return s.enum[0];
    if (s.oneOf || s.anyOf) return sample((s.oneOf || s.anyOf)[0], stack);
    if (s.type === 'array') return [sample(s.items || {}, stack)];
    if (s.properties) {
      var o = {};
      Object.keys(s.properties).forEach(function (k) { o[k] = sample(s.properties[k], stack); });
      return o;
    }
    if (s.type === 'integer' || s.type === 'number') return 0;
    if (s.type === 'boolean') return true;
    if (s.type === 'string') return s.format === 'date-time' ? '2026-11-27T19:33:00.123Z' : s.format === 'uuid' ? '00000000-0000-4000-8000-000000000000' : 'string';
    return null;
  }
  function codeBlock(value, label) {
    var text = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
    return h('pre', { tabindex: '0', 'aria-label': label || 'Example' }, h('code', { text: text }));
  }

  // ---- Operations
  function methodBadge(m, inNav) {
    var cls = ['get', 'post', 'put', 'delete'].indexOf(m) >= 0 ? 'm-' + m : 'm-other';
    return h('span', { class: 'badge ' + cls, 'aria-hidden': inNav ? 'true' : null }, m.toUpperCase());
  }
  function opId(method, path, op) { return 'op-' + (op.operationId ? slug(op.operationId) : slug(method + ' ' + path)); }

  function securityLine(op) {
    var reqs = op.security !== undefined ? op.security : (spec.security || []);
    var schemes = (spec.components && spec.components.securitySchemes) || {};
    if (!reqs.length) return h('p', { class: 'auth' }, h('strong', null, 'Authentication: '), 'none (public)');
    var alts = reqs.map(function (req) {
      var names = Object.keys(req);
      if (!names.length) return 'none';
      return names.map(function (n) {
        var sc = schemes[n] || {};
        var what = sc.type === 'http' ? (sc.scheme === 'basic' ? 'HTTP Basic' : 'Bearer' + (sc.bearerFormat ? ' (' + sc.bearerFormat + ')' : ''))
          : sc.type === 'apiKey' ? (sc.in + ' ' + sc.name) : n;
        return n + ': ' + what;
      }).join(' + ');
    });
    return h('p', { class: 'auth' }, h('strong', null, 'Authentication (any one): '),
      alts.map(function (a) { return h('span', { class: 'pill' }, a); }));
  }

  function paramTable(params) {
    var table = h('table', { class: 'grid' },
      h('thead', null, h('tr', null, ['Name', 'In', 'Type', 'Description'].map(function (c) { return h('th', { scope: 'col' }, c); }))));
    var tbody = h('tbody');
    params.forEach(function (p) {
      var s = deref(p.schema || {});
      var desc = [];
      if (p.description) desc.push(inline(p.description));
      if (s.enum) desc.push(h('div', { class: 'fenum' }, 'One of: ', s.enum.map(function (v, i) { return [i ? ', ' : '', h('code', { text: String(v) })]; })));
      var c = constraints(s);
      if (c.length) desc.push(h('div', null, c.map(function (x) { return h('span', { class: 'pill' }, x); })));
      tbody.appendChild(h('tr', null,
        h('td', null, h('code', { text: p.name }), p.required ? h('span', { class: 'pill req' }, 'required') : null),
        h('td', { text: p.in }),
        h('td', { class: 'mono' }, typeLabel(p.schema || {})),
        h('td', null, desc)));
    });
    table.appendChild(tbody);
    return table;
  }

  function isErrorEnvelope(media) { return media && media.schema && refName(media.schema) === 'Error'; }

  function mediaBlock(ctype, media, what) {
    var box = h('div');
    box.appendChild(h('div', { class: 'ctype' }, 'Content-Type: ', h('code', { text: ctype })));
    var schema = media.schema || {};
    var s = flatten(schema);
    var structured = s.properties || (s.type === 'array') || s.allOf;
    if (structured) box.appendChild(fieldList(schema));
    else if (schema && (s.type || schema.$ref)) {
      box.appendChild(h('p', null, h('span', { class: 'ftype mono' }, typeLabel(schema)), s.description ? h('span', { class: 'fdesc' }, inline(s.description)) : null));
    }
    var examples = [];
    if (media.example !== undefined) examples.push(['Example', media.example]);
    if (media.examples) Object.keys(media.examples).forEach(function (k) {
      var ex = deref(media.examples[k]);
      examples.push([ex.summary || k, ex.value]);
    });
    if (!examples.length && structured) examples.push(['Example (generated from the schema)', sample(schema)]);
    examples.forEach(function (ex) {
      box.appendChild(h('details', { class: 'sub' }, h('summary', null, ex[0]), codeBlock(ex[1], what + ' ' + ex[0])));
    });
    return box;
  }

  function responseBlock(code, resp) {
    var r = deref(resp);
    var cls = /^2/.test(code) ? 's-2' : /^4/.test(code) ? 's-4' : /^5/.test(code) ? 's-5' : 's-x';
    var box = h('div', { class: 'resp' },
      h('div', { class: 'resp-head' }, h('span', { class: 'status ' + cls }, code), h('span', null, inline(r.description || ''))));
    if (r.headers) {
      box.appendChild(h('div', { class: 'ctype' }, 'Headers: ', Object.keys(r.headers).map(function (name, i) {
        var hd = deref(r.headers[name]);
        return [i ? '; ' : '', h('code', { text: name }), hd.description ? [' — ', inline(hd.description)] : null];
      })));
    }
    var content = r.content || {};
    Object.keys(content).forEach(function (ctype) {
      var media = content[ctype];
      if (isErrorEnvelope(media)) {
        var items = [];
        if (media.examples) Object.keys(media.examples).forEach(function (k) {
          var v = deref(media.examples[k]).value;
          ((v && v.errors) || []).forEach(function (e) { items.push(e); });
        });
        if (media.example && media.example.errors) items = items.concat(media.example.errors);
        box.appendChild(h('div', { class: 'ctype' }, 'Body: ', h('a', { href: '#schema-error' }, 'Error'), ' envelope ', h('code', { text: '{"errors":[{"id","description"}]}' })));
        if (items.length) box.appendChild(h('ul', { class: 'errs' }, items.map(function (e) {
          return h('li', null, 'id ', h('code', { text: String(e.id) }), ' — ', h('code', { text: e.description }));
        })));
      } else {
        box.appendChild(mediaBlock(ctype, media, 'Response ' + code));
      }
    });
    return box;
  }

  function operationBlock(path, method, op, pathItem) {
    var id = opId(method, path, op);
    var det = h('details', { class: 'op', id: id, 'data-search': (method + ' ' + path + ' ' + (op.summary || '') + ' ' + (op.operationId || '')).toLowerCase() });
    det.appendChild(h('summary', null, methodBadge(method), h('span', { class: 'op-path mono' }, path), op.summary ? h('span', { class: 'op-summary' }, op.summary) : null));
    var body = h('div', { class: 'op-body' });
    if (op.description) body.appendChild(markdown(op.description));
    body.appendChild(securityLine(op));

    var params = [];
    var byKey = {};
    (pathItem.parameters || []).concat(op.parameters || []).forEach(function (p) {
      var d = deref(p);
      byKey[d.in + ':' + d.name] = d;
    });
    for (var k in byKey) params.push(byKey[k]);
    if (params.length) {
      body.appendChild(h('h3', null, 'Parameters'));
      body.appendChild(paramTable(params));
    }
    if (op.requestBody) {
      var rb = deref(op.requestBody);
      body.appendChild(h('h3', null, 'Request body', rb.required ? h('span', { class: 'pill req' }, 'required') : null));
      if (rb.description) body.appendChild(markdown(rb.description));
      Object.keys(rb.content || {}).forEach(function (ctype) { body.appendChild(mediaBlock(ctype, rb.content[ctype], 'Request body')); });
    }
    body.appendChild(h('h3', null, 'Responses'));
    Object.keys(op.responses || {}).sort().forEach(function (code) { body.appendChild(responseBlock(code, op.responses[code])); });
    var link = h('p', { class: 'ctype' }, h('a', { href: '#' + id }, 'Link to this operation'));
    body.appendChild(link);
    det.appendChild(body);
    return det;
  }

  // ---- Page
  function render() {
    var info = spec.info || {};
    document.title = info.title || 'Gatehouse API';
    document.getElementById('title').textContent = info.title || 'Gatehouse API';
    var meta = document.getElementById('meta');
    meta.textContent = '';
    append(meta, ['Version ', h('code', { text: String(info.version || '') }), ' · OpenAPI ', h('code', { text: String(spec.openapi || '') }), ' · ', h('a', { href: 'openapi.json' }, 'openapi.json')]);

    var doc = document.getElementById('doc');
    doc.textContent = '';
    if (info.description) doc.appendChild(h('details', { class: 'sub', open: true }, h('summary', null, 'Overview: conventions, authentication, errors'), markdown(info.description)));
    doc.appendChild(h('div', { class: 'toolbar' },
      h('button', { type: 'button', id: 'expand-all' }, 'Expand all'),
      h('button', { type: 'button', id: 'collapse-all' }, 'Collapse all')));

    // Group operations by their first tag, in the order of the document's tags.
    var groups = {}, order = [];
    (spec.tags || []).forEach(function (t) { groups[t.name] = { tag: t, ops: [] }; order.push(t.name); });
    Object.keys(spec.paths || {}).forEach(function (path) {
      var item = spec.paths[path];
      METHODS.forEach(function (m) {
        if (!item[m]) return;
        var tag = (item[m].tags && item[m].tags[0]) || 'Other';
        if (!groups[tag]) { groups[tag] = { tag: { name: tag }, ops: [] }; order.push(tag); }
        groups[tag].ops.push({ path: path, method: m, op: item[m], item: item });
      });
    });

    var nav = document.getElementById('nav-list');
    nav.textContent = '';
    order.forEach(function (name) {
      var g = groups[name];
      if (!g.ops.length) return;
      var tagId = 'tag-' + slug(name);
      var section = h('section', { class: 'tag', id: tagId, 'aria-labelledby': tagId + '-h' },
        h('h2', { id: tagId + '-h' }, name));
      if (g.tag.description) section.appendChild(h('p', { class: 'tag-desc' }, inline(g.tag.description)));
      var navUl = h('ul');
      g.ops.forEach(function (o) {
        section.appendChild(operationBlock(o.path, o.method, o.op, o.item));
        var id = opId(o.method, o.path, o.op);
        navUl.appendChild(h('li', { 'data-for': id }, h('a', { href: '#' + id, 'aria-label': o.method.toUpperCase() + ' ' + o.path + (o.op.summary ? ' — ' + o.op.summary : '') }, methodBadge(o.method, true), h('span', { class: 'mono' }, breakable(o.path)))));
      });
      doc.appendChild(section);
      nav.appendChild(h('div', { 'data-group': tagId }, h('h2', null, h('a', { class: 'tag-link', href: '#' + tagId }, name)), navUl));
    });

    // Components: schemas and security schemes.
    var comps = spec.components || {};
    var compSection = h('section', { id: 'components', 'aria-labelledby': 'components-h' }, h('h2', { id: 'components-h' }, 'Schemas'));
    Object.keys(comps.schemas || {}).forEach(function (name) {
      var s = comps.schemas[name];
      var d = h('details', { class: 'schema', id: 'schema-' + slug(name) }, h('summary', null, h('span', { class: 'mono' }, name), ' ', h('span', { class: 'ftype mono' }, typeLabel({ $ref: '#/components/schemas/' + name }))));
      var fs = flatten(s);
      if (fs.description) d.appendChild(markdown(fs.description));
      if (fs.properties || fs.type === 'array') d.appendChild(fieldList({ $ref: '#/components/schemas/' + name }));
      if (fs.enum) d.appendChild(h('p', { class: 'fenum' }, 'One of: ', fs.enum.map(function (v, i) { return [i ? ', ' : '', h('code', { text: JSON.stringify(v) })]; })));
      d.appendChild(h('details', { class: 'sub' }, h('summary', null, 'Example'), codeBlock(sample({ $ref: '#/components/schemas/' + name }), name + ' example')));
      compSection.appendChild(d);
    });
    if (comps.securitySchemes) {
      compSection.appendChild(h('h2', { id: 'security-schemes' }, 'Security schemes'));
      var t = h('table', { class: 'grid' }, h('thead', null, h('tr', null, ['Name', 'Type', 'Description'].map(function (c) { return h('th', { scope: 'col' }, c); }))));
      var tb = h('tbody');
      Object.keys(comps.securitySchemes).forEach(function (n) {
        var sc = comps.securitySchemes[n];
        var type = sc.type === 'http' ? 'http ' + sc.scheme + (sc.bearerFormat ? ' (' + sc.bearerFormat + ')' : '') : sc.type === 'apiKey' ? 'apiKey in ' + sc.in + ': ' + sc.name : sc.type;
        tb.appendChild(h('tr', null, h('td', null, h('code', { text: n })), h('td', { class: 'mono', text: type }), h('td', null, inline(sc.description || ''))));
      });
      t.appendChild(tb);
      compSection.appendChild(t);
    }
    doc.appendChild(compSection);
    nav.appendChild(h('div', null, h('h2', null, h('a', { class: 'tag-link', href: '#components' }, 'Schemas'))));

    document.getElementById('expand-all').addEventListener('click', function () { setAll(true); });
    document.getElementById('collapse-all').addEventListener('click', function () { setAll(false); });
    document.getElementById('filter').addEventListener('input', applyFilter);
    window.addEventListener('hashchange', openFromHash);
    openFromHash();
  }

  function setAll(open) {
    document.querySelectorAll('details.op').forEach(function (d) { if (!d.classList.contains('hidden')) d.open = open; });
  }

  function applyFilter() {
    var q = document.getElementById('filter').value.trim().toLowerCase();
    document.querySelectorAll('details.op').forEach(function (d) {
      var match = !q || d.getAttribute('data-search').indexOf(q) >= 0;
      d.classList.toggle('hidden', !match);
      var li = document.querySelector('#nav-list li[data-for="' + d.id + '"]');
      if (li) li.classList.toggle('hidden', !match);
    });
    document.querySelectorAll('section.tag').forEach(function (s) {
      var any = s.querySelector('details.op:not(.hidden)');
      s.classList.toggle('hidden', !any);
      var g = document.querySelector('#nav-list [data-group="' + s.id + '"]');
      if (g) g.classList.toggle('hidden', !any);
    });
  }

  // Opens the operation or schema named by the URL hash and moves focus to it.
  function openFromHash() {
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var el = document.getElementById(id);
    if (!el) return;
    if (el.tagName === 'DETAILS') {
      el.open = true;
      var s = el.querySelector('summary');
      if (s) { s.focus(); }
    } else {
      if (!el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
      el.focus();
    }
    el.scrollIntoView();
  }

  function fail(message) {
    var st = document.getElementById('status');
    st.setAttribute('role', 'alert');
    st.textContent = message;
    document.getElementById('meta').textContent = '';
  }

  // The server answers the page at GET /docs and the description at GET /openapi.json.
  fetch('/openapi.json', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
    .then(function (r) {
      if (!r.ok) throw new Error('GET /openapi.json answered HTTP ' + r.status);
      return r.json();
    })
    .then(function (json) { spec = json; render(); })
    .catch(function (e) { fail('Could not load the API description: ' + e.message); });
})();
