// AudioWorkletGlobalScope has no TextDecoder/TextEncoder, but wasm-bindgen's glue builds a
// TextDecoder when it loads (it needs one only to report Rust panics, which the render path
// never has). Import this module before the glue. UTF-8 only, allocation-free at load.
if (typeof globalThis.TextDecoder === 'undefined') {
  globalThis.TextDecoder = class TextDecoder {
    constructor() {}
    decode(bytes) {
      if (!bytes) return '';
      let out = '';
      for (let i = 0; i < bytes.length; ) {
        const b = bytes[i++];
        let c = b;
        if (b >= 0xf0) c = ((b & 7) << 18) | ((bytes[i++] & 63) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
        else if (b >= 0xe0) c = ((b & 15) << 12) | ((bytes[i++] & 63) << 6) | (bytes[i++] & 63);
        else if (b >= 0xc0) c = ((b & 31) << 6) | (bytes[i++] & 63);
        out += String.fromCodePoint(c);
      }
      return out;
    }
  };
}
if (typeof globalThis.TextEncoder === 'undefined') {
  globalThis.TextEncoder = class TextEncoder {
    encode(s = '') {
      const out = [];
      for (const ch of s) {
        const c = ch.codePointAt(0);
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
      return new Uint8Array(out);
    }
  };
}
