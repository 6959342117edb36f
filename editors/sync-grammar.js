#!/usr/bin/env node
// Writes the copies of the TextMate grammar that other tools need, from the one source,
// textmate/mandate.tmLanguage.json:
//
//   textmate/mandate.tmLanguage             the same grammar as an XML property list,
//                                           the form Sublime Text and TextMate load
//   vscode/syntaxes/mandate.tmLanguage.json the copy packaged with the VS Code extension
//
// `node sync-grammar.js` rewrites both; `node sync-grammar.js --check` only reports
// whether they are current (exit 1 if not). The editors test runs the check.
'use strict';

const fs = require('fs');
const path = require('path');

const SOURCE = path.join(__dirname, 'textmate', 'mandate.tmLanguage.json');

function escapeXml(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function plistValue(value, indent) {
  const pad = '\t'.repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return `${pad}<array/>\n`;
    return `${pad}<array>\n${value.map((item) => plistValue(item, indent + 1)).join('')}${pad}</array>\n`;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return `${pad}<dict/>\n`;
    const body = keys
      .map((key) => `${pad}\t<key>${escapeXml(key)}</key>\n${plistValue(value[key], indent + 1)}`)
      .join('');
    return `${pad}<dict>\n${body}${pad}</dict>\n`;
  }
  if (typeof value === 'string') return `${pad}<string>${escapeXml(value)}</string>\n`;
  if (typeof value === 'boolean') return `${pad}<${value}/>\n`;
  if (Number.isInteger(value)) return `${pad}<integer>${value}</integer>\n`;
  throw new Error(`cannot write ${JSON.stringify(value)} to a property list`);
}

function toPlist(grammar) {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<plist version="1.0">\n' +
    '<!-- Generated from mandate.tmLanguage.json by editors/sync-grammar.js: edit that file instead. -->\n' +
    plistValue(grammar, 0) +
    '</plist>\n'
  );
}

/** Every generated file, as [path, expected content]. */
function outputs() {
  const text = fs.readFileSync(SOURCE, 'utf8');
  const grammar = JSON.parse(text);
  return [
    [path.join(__dirname, 'textmate', 'mandate.tmLanguage'), toPlist(grammar)],
    [path.join(__dirname, 'vscode', 'syntaxes', 'mandate.tmLanguage.json'), text],
  ];
}

/** The generated files that are missing or differ from what the source gives. */
function stale() {
  return outputs()
    .filter(([file, content]) => !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== content)
    .map(([file]) => path.relative(__dirname, file));
}

module.exports = { SOURCE, toPlist, outputs, stale };

if (require.main === module) {
  if (process.argv.includes('--check')) {
    const out = stale();
    if (out.length > 0) {
      console.error(`out of date: ${out.join(', ')}; run \`node editors/sync-grammar.js\``);
      process.exit(1);
    }
  } else {
    for (const [file, content] of outputs()) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
    }
  }
}
