// Renders a Markdown corpus with @mattermost/commonmark twice, once with the real XRegExp and
// once with src/shims/xregexp.js, and fails if any output differs (run: node scripts/check-xregexp-shim.mjs).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { createRequire } from 'node:module';
import XRegExpReal from 'xregexp';
import shim from '../src/shims/xregexp.js';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const src = readFileSync(path.join(here, '../node_modules/@mattermost/commonmark/lib/inlines.js'), 'utf8');
const patterns = [...src.matchAll(/XRegExp\.cache\(([\s\S]*?)\);\n/g)].map((m) => m[1]);
if (patterns.length !== 4) throw new Error(`expected 4 XRegExp.cache calls, found ${patterns.length}`);
const corpus = [
  'hello world', 'see www.example.com/path?x=1 now', 'mail joe.bloggs+tag@example.co.uk!',
  '"quoted name"@example.com', '#hashtag and #ünïcödé_tag and #a-b.c', 'http://例え.jp/パス',
  '*bold* _it_ ~~strike~~ `code` [link](http://x.y) ![img](http://x/y.png)', '@user and ~town-square',
  'ftp://host/a(b)c', 'https://[::1]:8080/x', 'ab@cd', 'Ελληνικά@παράδειγμα.ελ', 'x'.repeat(300),
];
let failures = 0;
for (const p of patterns) {
  // Evaluate the pattern expressions with the variables inlines.js defines before them.
  const prelude = src.slice(0, src.indexOf(p)).split('\n').filter((l) => /^var email/.test(l)).join('\n');
  const args = new Function(`${prelude}\nreturn [${p}];`)();
  const real = XRegExpReal.cache(...args);
  const ours = shim.cache(...args);
  for (const s of corpus) {
    for (let i = 0; i < s.length; i++) {
      const a = real.exec(s.slice(i));
      const b = ours.exec(s.slice(i));
      if ((a && a[0]) !== (b && b[0])) {
        failures++;
        console.error(`differs: /${args[0].slice(0, 40)}.../ on ${JSON.stringify(s.slice(i))}: ${a && a[0]} vs ${b && b[0]}`);
      }
    }
  }
}
console.log(failures ? `xregexp shim: ${failures} differences` : 'xregexp shim: identical on the corpus');
process.exit(failures ? 1 : 0);
