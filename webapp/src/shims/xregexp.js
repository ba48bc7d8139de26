// A stand-in for the one XRegExp feature @mattermost/commonmark uses: XRegExp.cache(pattern, flags)
// with the Unicode letter class written as \pL. Browsers have had Unicode property escapes
// (/\p{L}/u) since 2020, so the 60 KiB of XRegExp and core-js are not needed. In u-mode an
// escaped double quote is a syntax error, so it is unescaped, and a
// hyphen after \d in a class (a literal there, a range error in u-mode) is escaped.
// scripts/check-xregexp-shim.mjs checks that this renders a corpus exactly as XRegExp does.
const cache = new Map();

function translate(source) {
  return source
    .replace(/\\pL/g, '\\p{L}')
    .replace(/\\"/g, '"')
    .replace(/\\d-(?!\])/g, '\\d\\-');
}

const XRegExp = {
  cache(source, flags = '') {
    const key = `${flags}/${source}`;
    let re = cache.get(key);
    if (!re) {
      re = new RegExp(translate(source), flags.includes('u') ? flags : `${flags}u`);
      cache.set(key, re);
    }
    return re;
  },
};

export default XRegExp;
