// Tokenizes Mandate sources with the TextMate grammar, using the engine VS Code uses
// (vscode-textmate with Oniguruma), and checks the scopes against the language's own lexer
// rules, ported from src/syntax/lexer.rs.
//
// Sources: every .mandate file under examples/ and stdlib/, every ```mandate block of the
// Markdown documentation, and the fixtures in fixtures/. For each source:
//   - every line tokenizes, and every character that is not white space gets a scope;
//   - comments, strings, numbers, keywords, names and punctuation get the scopes of their
//     kind (keywords: the exact list of the lexer, `KEYWORDS`, read from the source);
//   - the real sources contain nothing the grammar marks invalid.
// Each fixtures/NAME.mandate has fixtures/NAME.expected.json: [line, text, scope] entries
// (an optional fourth element picks the nth occurrence of text on the line; a scope that
// starts with `!` must be absent). The generated grammar copies and the VS Code
// extension's manifest are checked too.
//
// Prints each failure and ends with `tokenize: N passed, M failed`; exits 1 on a failure.
'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');
const vsctm = require('vscode-textmate');
const oniguruma = require('vscode-oniguruma');

const EDITORS = path.resolve(__dirname, '..');
const ROOT = path.resolve(EDITORS, '..');
const GRAMMAR_PATH = path.join(EDITORS, 'textmate', 'mandate.tmLanguage.json');
const FIXTURES = path.join(__dirname, 'fixtures');

// --- The lexer's vocabulary -------------------------------------------------------------

const LEXER = fs.readFileSync(path.join(ROOT, 'src', 'syntax', 'lexer.rs'), 'utf8');

function lexerKeywords() {
  const list = LEXER.match(/pub const KEYWORDS: &\[&str\] = &\[([\s\S]*?)\];/);
  if (!list) throw new Error('src/syntax/lexer.rs: `KEYWORDS` not found');
  return [...list[1].matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

const KEYWORDS = lexerKeywords();
const KEYWORD_SET = new Set(KEYWORDS);
// Names that are keywords only in one place (the parser's token adapter and grammar).
const CONTEXTUAL = new Set(['open', 'budget', 'narrow', 'within', 'depth', 'per', 'by', 'reason']);
const ROOTS = new Set(['agent', 'resource', 'task', 'action', 'context', 'behavior', 'chain', 'args']);
const EFFECTS = new Set(['permit', 'forbid', 'escalate']);

// --- A port of the lexer's token rules (logos: longest match, first rule on a tie) -------

const NOT_BREAK = '[^\\n\\r\\x0B\\x0C\\u0085\\u2028\\u2029]';
const TOKEN_RULES = [
  ['comment', new RegExp(`//${NOT_BREAK}*`, 'y')],
  ['string', new RegExp(`"(?:[^"\\\\\\n\\r\\x0B\\x0C\\u0085\\u2028\\u2029]|\\\\${NOT_BREAK})*"`, 'y')],
  ['duration', /(?:[0-9]+(?:ms|us|ns|s|m|h|d))+/y],
  ['decimal', /[0-9]+\.[0-9]+/y],
  ['integer', /[0-9]+/y],
  ['word', /[A-Za-z_][A-Za-z0-9_]*/y],
  ['punct', /<=|>=|==|!=|->|::|[{}()[\]<>=:,.?*+-]/y],
];

function lex(text) {
  const tokens = [];
  let pos = text.startsWith('\uFEFF') ? 1 : 0;
  while (pos < text.length) {
    const space = /[ \t\n]+|\r\n/y;
    space.lastIndex = pos;
    const skipped = space.exec(text);
    if (skipped) {
      pos += skipped[0].length;
      continue;
    }
    let best = null;
    for (const [kind, re] of TOKEN_RULES) {
      re.lastIndex = pos;
      const m = re.exec(text);
      if (m && (!best || m[0].length > best.text.length)) best = { kind, text: m[0] };
    }
    if (!best) {
      const last = tokens[tokens.length - 1];
      if (last && last.kind === 'error' && last.end === pos) last.end += 1;
      else tokens.push({ kind: 'error', start: pos, end: pos + 1 });
      pos += 1;
      continue;
    }
    let kind = best.kind;
    if (kind === 'word') kind = KEYWORD_SET.has(best.text) ? 'keyword' : 'ident';
    if (kind === 'comment') {
      tokens.push({ kind, start: pos, end: pos + best.text.length, text: best.text, skip: true });
    } else {
      tokens.push({ kind, start: pos, end: pos + best.text.length, text: best.text });
    }
    pos += best.text.length;
  }
  for (const token of tokens) if (token.kind === 'error') token.text = text.slice(token.start, token.end);
  return tokens;
}

// --- Tokenizing with the grammar ---------------------------------------------------------

async function loadRegistry() {
  const wasm = fs.readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  return new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.mandate') return null;
      return vsctm.parseRawGrammar(fs.readFileSync(GRAMMAR_PATH, 'utf8'), GRAMMAR_PATH);
    },
  });
}

/** The scopes of every character of every line: scopes[line][column], 0-based. */
function tokenize(grammar, text, report) {
  const lines = text.split('\n');
  let stack = vsctm.INITIAL;
  return lines.map((line, index) => {
    const result = grammar.tokenizeLine(line, stack, 0);
    if (result.stoppedEarly) report(index, 0, 'tokenization stopped early');
    const chars = new Array(line.length);
    let covered = 0;
    for (const token of result.tokens) {
      if (token.startIndex !== covered) report(index, covered, 'a gap between tokens');
      const end = Math.min(token.endIndex, line.length);
      for (let i = token.startIndex; i < end; i++) chars[i] = token.scopes;
      covered = Math.max(covered, end);
    }
    if (covered < line.length) report(index, covered, 'the end of the line has no token');
    stack = result.ruleStack;
    return chars;
  });
}

// --- Checks ------------------------------------------------------------------------------

const has = (scopes, re) => (scopes || []).some((s) => re.test(s));
const significant = (scopes) => (scopes || []).filter((s) => s !== 'source.mandate' && !s.startsWith('meta.'));

function keywordScope(word) {
  if (word === 'true' || word === 'false') return /^constant\.language\.boolean\./;
  if (ROOTS.has(word)) return /^(keyword\.|variable\.language\.root\.)/;
  if (EFFECTS.has(word)) return /^(keyword\.control\.effect\.|constant\.language\.decision\.)/;
  return /^keyword\./;
}

const IDENT_SCOPE = /^(variable\.|entity\.name\.|support\.|constant\.other\.|constant\.language\.(decision|history-key|reason)\.)/;
const WRONG_FOR_IDENT = /^(keyword\.|string\.|comment\.|constant\.numeric\.|constant\.language\.(boolean|wildcard)\.)/;
const PUNCT_SCOPE = /^(punctuation\.|keyword\.operator\.|constant\.language\.wildcard\.)/;
const NUMBER_SCOPE = {
  integer: /^constant\.numeric\.integer\./,
  decimal: /^constant\.numeric\.decimal\./,
  duration: /^constant\.numeric\.duration\./,
};
const ESCAPE = /\\(?:["\\nrt]|u\{[0-9A-Fa-f]{1,6}\})/g;

/**
 * Checks one source. `real` sources are valid Mandate: nothing in them may be invalid, and
 * every token is checked against the lexer. Returns the failures; records keyword use.
 */
function checkSource(grammar, source, real, seen) {
  const failures = [];
  const where = (line, col) => `${source.name}:${source.firstLine + line}:${col + 1}`;
  const lineText = source.text.split('\n');
  const fail = (line, col, message, scopes) => {
    const text = lineText[line] === undefined ? '' : lineText[line].trim();
    failures.push(
      `${where(line, col)}: ${message}` +
        (scopes ? `\n    scopes: ${scopes.join(' ')}` : '') +
        `\n    line:   ${text}`,
    );
  };
  const chars = tokenize(grammar, source.text, (line, col, message) => fail(line, col, message));

  lineText.forEach((line, l) => {
    for (let c = 0; c < line.length; c++) {
      if (/\s/.test(line[c])) continue;
      const scopes = chars[l][c];
      if (significant(scopes).length === 0) {
        fail(l, c, `\`${line[c]}\` has no scope`, scopes || []);
        return;
      }
      if (real && has(scopes, /^invalid\./)) {
        fail(l, c, `\`${line[c]}\` is marked invalid`, scopes);
        return;
      }
    }
  });
  if (!real) return failures;

  // Token-level checks, against the lexer.
  const starts = [0];
  for (let i = 0; i < source.text.length; i++) if (source.text[i] === '\n') starts.push(i + 1);
  const locate = (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return [lo, offset - starts[lo]];
  };
  const tokens = lex(source.text);
  const code = tokens.filter((t) => !t.skip);
  code.forEach((token, i) => {
    const [line, col] = locate(token.start);
    const span = [];
    for (let c = col; c < col + (token.end - token.start); c++) span.push(chars[line][c]);
    const every = (re) => span.every((scopes) => has(scopes, re));
    const some = (re) => span.some((scopes) => has(scopes, re));
    const show = span[0] || [];
    switch (token.kind) {
      case 'error':
        fail(line, col, `the lexer does not recognise \`${token.text}\``, show);
        break;
      case 'comment':
        break;
      case 'string':
        if (!every(/^string\.quoted\.double\./)) fail(line, col, `string ${token.text} is not all string`, show);
        for (const m of token.text.matchAll(ESCAPE)) {
          const esc = span.slice(m.index, m.index + m[0].length);
          if (!esc.every((scopes) => has(scopes, /^constant\.character\.escape\./)))
            fail(line, col + m.index, `escape ${m[0]} is not an escape`, esc[0]);
        }
        break;
      case 'integer':
      case 'decimal':
      case 'duration':
        if (!every(NUMBER_SCOPE[token.kind])) fail(line, col, `${token.kind} ${token.text} is not scoped as one`, show);
        break;
      case 'punct':
        if (!every(PUNCT_SCOPE)) fail(line, col, `\`${token.text}\` is not an operator or punctuation`, show);
        break;
      case 'ident': {
        const contextual = CONTEXTUAL.has(token.text) && every(/^keyword\.other\./);
        if (contextual) {
          seen.add(token.text);
        } else if (!every(IDENT_SCOPE) || some(WRONG_FOR_IDENT)) {
          fail(line, col, `name \`${token.text}\` is not scoped as a name`, show);
        }
        break;
      }
      case 'keyword': {
        const prev = code[i - 1];
        const next = code[i + 1];
        const afterNext = code[i + 2];
        const namePosition =
          (prev && (prev.text === '.' || prev.text === '::' || prev.text === 'has')) ||
          (next && next.text === ':') ||
          (next && next.text === '?' && afterNext && afterNext.text === ':');
        // `per task within 1h` in a history counter: the key is a name, of a fixed few.
        const historyKey = prev && prev.text === 'per' && next && next.text === 'within';
        if (historyKey) {
          if (!every(/^constant\.language\.history-key\./))
            fail(line, col, `\`${token.text}\` in \`per … within\` is not scoped as a history key`, show);
        } else if (namePosition) {
          if (!every(/^variable\.(other\.property|parameter)\./) || some(/^keyword\./))
            fail(line, col, `keyword \`${token.text}\` used as a name is not scoped as a name`, show);
        } else {
          if (!every(keywordScope(token.text)) || some(/^(string|comment|variable\.other)\./))
            fail(line, col, `keyword \`${token.text}\` is not scoped as a keyword`, show);
          seen.add(token.text);
        }
        break;
      }
      default:
        throw new Error(token.kind);
    }
  });
  // Comments: the lexer skips them; every character of each must be comment.
  for (const token of tokens.filter((t) => t.kind === 'comment')) {
    const [line, col] = locate(token.start);
    for (let c = col; c < col + token.text.length; c++) {
      if (!has(chars[line][c], /^comment\.line\.double-slash\./)) {
        fail(line, c, 'comment text is not scoped as a comment', chars[line][c]);
        break;
      }
    }
  }
  return failures;
}

/** Checks fixtures/NAME.expected.json against the scopes of fixtures/NAME.mandate. */
function checkExpectations(grammar, file, expectations, seen) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const chars = tokenize(grammar, text, () => {});
  const name = path.relative(ROOT, file);
  return expectations.map(([lineNo, needle, scope, occurrence = 1]) => {
    if (KEYWORD_SET.has(needle) && scope.startsWith('keyword')) seen.add(needle);
    const line = lines[lineNo - 1];
    if (line === undefined) return `${name}:${lineNo}: no such line`;
    // The nth occurrence; a needle that is a word matches whole words only.
    const isWord = /^\w+$/.test(needle);
    const bounded = (at) => !isWord || !/\w/.test((line[at - 1] || '') + (line[at + needle.length] || ''));
    let col = -1;
    for (let n = 0; n < occurrence; n++) {
      do col = line.indexOf(needle, col + 1);
      while (col >= 0 && !bounded(col));
      if (col < 0) return `${name}:${lineNo}: \`${needle}\` (occurrence ${occurrence}) is not on the line: ${line.trim()}`;
    }
    const negated = scope.startsWith('!');
    const wanted = negated ? scope.slice(1) : scope;
    for (let c = col; c < col + needle.length; c++) {
      const scopes = chars[lineNo - 1][c] || [];
      const found = scopes.some((s) => s.includes(wanted));
      if (found === negated) {
        return (
          `${name}:${lineNo}:${c + 1}: \`${needle}\` should ${negated ? 'not ' : ''}have a scope with \`${wanted}\`` +
          `\n    scopes: ${scopes.join(' ')}\n    line:   ${line.trim()}`
        );
      }
    }
    return null;
  });
}

// --- Sources -----------------------------------------------------------------------------

function walk(dir, found = []) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, found);
    else if (entry.name.endsWith('.mandate')) found.push(full);
  }
  return found.sort();
}

function realSources() {
  const sources = [];
  for (const dir of ['examples', 'stdlib']) {
    for (const file of walk(path.join(ROOT, dir))) {
      sources.push({ name: path.relative(ROOT, file), text: fs.readFileSync(file, 'utf8'), firstLine: 1 });
    }
  }
  const markdown = [
    ...fs.readdirSync(ROOT).filter((f) => f.endsWith('.md')),
    ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f)),
  ].sort();
  for (const doc of markdown) {
    const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i].trim() !== '```mandate') continue;
      const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
      if (end < 0) break;
      sources.push({ name: doc, text: lines.slice(i + 1, end).join('\n'), firstLine: i + 2 });
      i = end;
    }
  }
  return sources;
}

// --- Consistency of the packaged files -----------------------------------------------

function consistencyChecks() {
  const checks = [];
  const check = (name, fn) => {
    try {
      const problem = fn();
      checks.push(problem ? `${name}: ${problem}` : null);
    } catch (err) {
      checks.push(`${name}: ${err.message}`);
    }
  };
  const grammar = JSON.parse(fs.readFileSync(GRAMMAR_PATH, 'utf8'));

  check('lexer keywords', () => {
    const tokens = [...LEXER.matchAll(/#\[token\("([A-Za-z_]+)"\)\]/g)].map((m) => m[1]);
    const missing = tokens.filter((t) => !KEYWORD_SET.has(t));
    const extra = KEYWORDS.filter((k) => !tokens.includes(k));
    if (KEYWORDS.length === 0) return 'no keywords read from src/syntax/lexer.rs';
    if (missing.length || extra.length)
      return `KEYWORDS and the lexer's #[token] words differ: ${[...missing, ...extra].join(', ')}`;
    return null;
  });
  check('grammar identity', () =>
    grammar.scopeName !== 'source.mandate' || !(grammar.fileTypes || []).includes('mandate')
      ? 'scopeName must be source.mandate and fileTypes must include mandate'
      : null,
  );
  check('generated grammar copies', () => {
    const out = require(path.join(EDITORS, 'sync-grammar.js')).stale();
    return out.length ? `out of date: ${out.join(', ')}; run \`node editors/sync-grammar.js\`` : null;
  });
  check('property-list grammar', () => {
    const file = path.join(EDITORS, 'textmate', 'mandate.tmLanguage');
    const parsed = vsctm.parseRawGrammar(fs.readFileSync(file, 'utf8'), file);
    return util.isDeepStrictEqual(JSON.parse(JSON.stringify(parsed)), grammar)
      ? null
      : 'textmate/mandate.tmLanguage does not read back as the JSON grammar';
  });
  check('comment preferences', () => {
    const file = path.join(EDITORS, 'textmate', 'Comments.tmPreferences');
    const prefs = vsctm.parseRawGrammar(fs.readFileSync(file, 'utf8'), file);
    const start = prefs.settings.shellVariables.find((v) => v.name === 'TM_COMMENT_START');
    return prefs.scope === 'source.mandate' && start && start.value === '// '
      ? null
      : 'textmate/Comments.tmPreferences does not set `// ` for source.mandate';
  });
  check('VS Code manifest', () => {
    const dir = path.join(EDITORS, 'vscode');
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const language = (manifest.contributes.languages || []).find((l) => l.id === 'mandate');
    if (!language || !(language.extensions || []).includes('.mandate')) return 'no language `mandate` for `.mandate`';
    const config = JSON.parse(fs.readFileSync(path.join(dir, language.configuration), 'utf8'));
    if (config.comments.lineComment !== '//') return 'language-configuration.json: lineComment is not //';
    const contributed = (manifest.contributes.grammars || []).find((g) => g.language === 'mandate');
    if (!contributed || contributed.scopeName !== 'source.mandate') return 'no grammar for source.mandate';
    if (!fs.existsSync(path.join(dir, contributed.path))) return `grammar ${contributed.path} is missing`;
    if (!fs.existsSync(path.join(dir, manifest.main))) return `main ${manifest.main} is missing`;
    return null;
  });
  return checks;
}

// --- Main --------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const registry = await loadRegistry();
  const grammar = await registry.loadGrammar('source.mandate');
  if (!grammar) throw new Error('the grammar did not load');

  let passed = 0;
  let failed = 0;
  const failures = [];
  const record = (problems) => {
    const real = problems.filter(Boolean);
    failures.push(...real);
    if (real.length) failed += 1;
    else passed += 1;
  };

  const seen = new Set();
  const sources = realSources();
  const fixtures = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.mandate')).sort();
  for (const source of sources) record(checkSource(grammar, source, true, seen));
  for (const fixture of fixtures) {
    const file = path.join(FIXTURES, fixture);
    const text = fs.readFileSync(file, 'utf8');
    // A fixture whose name starts with `invalid` holds mistakes on purpose.
    const real = !fixture.startsWith('invalid');
    record(checkSource(grammar, { name: path.relative(ROOT, file), text, firstLine: 1 }, real, seen));
    const expected = file.replace(/\.mandate$/, '.expected.json');
    if (!fs.existsSync(expected)) {
      record([`${path.relative(ROOT, expected)} is missing`]);
      continue;
    }
    for (const problem of checkExpectations(grammar, file, JSON.parse(fs.readFileSync(expected, 'utf8')), seen)) {
      record([problem]);
    }
  }
  for (const keyword of [...KEYWORDS, ...CONTEXTUAL]) {
    record([seen.has(keyword) ? null : `keyword \`${keyword}\` never occurs as a keyword in the sources or fixtures`]);
  }
  for (const problem of consistencyChecks()) record([problem]);

  for (const failure of failures.slice(0, 100)) console.log(`FAIL ${failure}`);
  if (failures.length > 100) console.log(`… and ${failures.length - 100} more`);
  const docs = sources.filter((s) => s.name.endsWith('.md')).length;
  console.log(
    `${sources.length - docs} source files, ${docs} documentation blocks and ${fixtures.length} fixtures ` +
      `tokenized in ${Date.now() - started} ms`,
  );
  console.log(`tokenize: ${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
