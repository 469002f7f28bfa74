// The Worker's Opus decoder: pkg/opus_decoder.wasm (crate opus-wasm: opus-rs, a pure-Rust port
// of libopus, compiled to wasm), behind four calls. The module has no imports and no glue: its
// exports take and return numbers, its buffers live in its memory, and nothing is allocated
// per packet on either side (the returned views are over wasm memory, valid until the next
// call). One decoder per module instance: the Worker receives one stream at a time.

/** The C ABI's stable error codes (opus-wasm `DecodeError`), and 'trap' for a wasm trap. */
export const OPUS_ERRORS = Object.freeze({
  [-1]: 'not_initialized',
  [-2]: 'bad_channels',
  [-3]: 'packet_too_large',
  [-4]: 'invalid_packet',
  [-5]: 'bad_frame_count',
});

/** Frames per channel of a packet the decoder conceals when not told (20 ms at 48 kHz). */
export const PLC_FRAMES = 960;

/**
 * Loads the decoder module.
 * @param {URL | string | ArrayBuffer | Uint8Array | WebAssembly.Module} source its URL, bytes or module
 * @returns {Promise<OpusDecoder>}
 */
export async function loadOpusDecoder(source) {
  let instance;
  if (source instanceof WebAssembly.Module) {
    instance = await WebAssembly.instantiate(source, {});
  } else if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) {
    ({ instance } = await WebAssembly.instantiate(source, {}));
  } else {
    const res = await fetch(source);
    if (!res.ok) throw new Error(`Opus decoder: ${res.status} ${res.statusText} for ${source}`);
    ({ instance } = await WebAssembly.instantiate(await res.arrayBuffer(), {}));
  }
  return new OpusDecoder(instance.exports);
}

export class OpusDecoder {
  constructor(exports) {
    this.x = exports;
    this.packetMax = exports.od_packet_max();
    this.channels = 0;
    /** The last failure: a name of OPUS_ERRORS or 'trap'; '' after a success. */
    this.error = '';
    this.viewsOf = null;
  }

  // Views over wasm memory, rebuilt only if memory.buffer changed (the module has no allocator,
  // so it never grows; the check is one comparison).
  views() {
    const buf = this.x.memory.buffer;
    if (buf !== this.viewsOf) {
      this.viewsOf = buf;
      this.packetView = new Uint8Array(buf, this.x.od_packet_ptr(), this.packetMax);
      this.outView = new Float32Array(buf, this.x.od_out_ptr(), 5760 * 2);
    }
  }

  /** Starts a stream of `channels` (1 or 2) at 48 kHz. Returns false (and sets `error`) if refused. */
  init(channels) {
    const code = this.call(() => this.x.od_init(channels));
    this.channels = code === 0 ? channels : 0;
    if (code !== 0) this.error = this.error || OPUS_ERRORS[code] || `error_${code}`;
    return code === 0;
  }

  /** Forgets the stream: the next packet decodes as the first of a new one. */
  reset() {
    return this.init(this.channels);
  }

  /**
   * Decodes one packet.
   * @param {Uint8Array} packet
   * @returns {Float32Array | null} the interleaved frames (a view, valid until the next call), or
   *   null with `error` set.
   */
  decode(packet) {
    if (packet.length === 0 || packet.length > this.packetMax) {
      this.error = packet.length ? 'packet_too_large' : 'invalid_packet';
      return null;
    }
    this.views();
    this.packetView.set(packet);
    return this.output(this.call(() => this.x.od_decode(packet.length)));
  }

  /**
   * Conceals a lost packet: `frames` per channel (a multiple of 120, at most 5760), continuing
   * the previous packet's sound.
   * @returns {Float32Array | null} as decode()
   */
  conceal(frames = PLC_FRAMES) {
    return this.output(this.call(() => this.x.od_conceal(frames)));
  }

  output(n) {
    if (n < 0) {
      this.error = this.error || OPUS_ERRORS[n] || `error_${n}`;
      return null;
    }
    this.error = '';
    this.views();
    return this.outView.subarray(0, n * this.channels);
  }

  // A trap (a bug in the decoder, or its stack overflowing) leaves its state undefined: start
  // the stream over, and report the packet as failed.
  call(f) {
    this.error = '';
    try {
      return f();
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
      this.error = 'trap';
      if (this.channels) {
        try { this.x.od_init(this.channels); } catch { this.channels = 0; }
      }
      return -1000;
    }
  }
}
