// MD5 of a string's UTF-8 bytes, as lowercase hex (the console hashes challenge + password).
(function () {
  'use strict';
  function add(x, y) {
    var l = (x & 0xffff) + (y & 0xffff);
    return (((x >> 16) + (y >> 16) + (l >> 16)) << 16) | (l & 0xffff);
  }
  function rol(n, c) { return (n << c) | (n >>> (32 - c)); }
  function cmn(q, a, b, x, s, t) { return add(rol(add(add(a, q), add(x, t)), s), b); }
  function ff(a, b, c, d, x, s, t) { return cmn((b & c) | (~b & d), a, b, x, s, t); }
  function gg(a, b, c, d, x, s, t) { return cmn((b & d) | (c & ~d), a, b, x, s, t); }
  function hh(a, b, c, d, x, s, t) { return cmn(b ^ c ^ d, a, b, x, s, t); }
  function ii(a, b, c, d, x, s, t) { return cmn(c ^ (b | ~d), a, b, x, s, t); }
  var S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  var K = [];
  for (var i = 0; i < 64; i++) { K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0; }
  function md5(str) {
    var bytes = unescape(encodeURIComponent(str));
    var n = bytes.length;
    var words = [];
    for (var i = 0; i < n; i++) { words[i >> 2] |= (bytes.charCodeAt(i) & 0xff) << ((i % 4) * 8); }
    words[n >> 2] |= 0x80 << ((n % 4) * 8);
    var total = (((n + 8) >> 6) + 1) * 16;
    for (var j = 0; j < total; j++) { words[j] = words[j] | 0; }
    words[total - 2] = n * 8;
    var a = 1732584193, b = -271733879, c = -1732584194, d = 271733878;
    for (var k = 0; k < total; k += 16) {
      var oa = a, ob = b, oc = c, od = d;
      for (var r = 0; r < 64; r++) {
        var f, g, s;
        if (r < 16) { f = ff; g = r; s = S[r % 4]; }
        else if (r < 32) { f = gg; g = (5 * r + 1) % 16; s = S[4 + r % 4]; }
        else if (r < 48) { f = hh; g = (3 * r + 5) % 16; s = S[8 + r % 4]; }
        else { f = ii; g = (7 * r) % 16; s = S[12 + r % 4]; }
        var t = f(a, b, c, d, words[k + g], s, K[r]);
        a = d; d = c; c = b; b = t;
      }
      a = add(a, oa); b = add(b, ob); c = add(c, oc); d = add(d, od);
    }
    var hex = '';
    [a, b, c, d].forEach(function (w) {
      for (var q = 0; q < 4; q++) { hex += ('0' + ((w >> (q * 8)) & 0xff).toString(16)).slice(-2); }
    });
    return hex;
  }
  window.md5 = md5;
})();
